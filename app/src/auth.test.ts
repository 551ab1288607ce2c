import assert from "node:assert/strict";
import { test } from "node:test";
import { bearerToken, safeEqual, safeEqualAny } from "./auth";

test("safeEqual: equal strings only", () => {
  assert.equal(safeEqual("s3cret-token", "s3cret-token"), true);
  assert.equal(safeEqual("s3cret-tokeN", "s3cret-token"), false);
  assert.equal(safeEqual("s3cret", "s3cret-token"), false); // different lengths: no throw
  assert.equal(safeEqual("ünïcode", "ünïcode"), true);
});
test("safeEqual: missing or empty never matches", () => {
  assert.equal(safeEqual(undefined, "x"), false);
  assert.equal(safeEqual("", ""), false);
  assert.equal(safeEqual("x", ""), false);
});
test("safeEqualAny: any of the secrets", () => {
  assert.equal(safeEqualAny("b", ["a", "b"]), true);
  assert.equal(safeEqualAny("c", ["a", "b"]), false);
  assert.equal(safeEqualAny("a", []), false);
});
test("bearerToken", () => {
  assert.equal(bearerToken("Bearer abc.def"), "abc.def");
  assert.equal(bearerToken("bearer   abc "), "abc");
  assert.equal(bearerToken("Basic abc"), undefined);
  assert.equal(bearerToken("Bearer"), undefined);
  assert.equal(bearerToken("Bearer a b"), undefined);
  assert.equal(bearerToken(undefined), undefined);
});
