import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cronMatches, nextRun, parseCron } from "./cron";

const at = (iso: string): Date => new Date(iso);

describe("parseCron (croner)", () => {
  test("accepts stars, lists, ranges and steps", () => {
    for (const ok of ["*/15 9-17 1,15 * 1-5", "0-30/10 * * * *", "0 0 * * 7", "5 0 * * *"]) assert.equal(parseCron(ok).source, ok);
  });
  test("7 means Sunday, like 0", () => {
    assert.equal(nextRun(parseCron("0 0 * * 7"), at("2025-01-01T00:00:00Z"))?.toISOString(), "2025-01-05T00:00:00.000Z");
  });
  for (const bad of ["* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
    "*/0 * * * *", "5-1 * * * *", "a * * * *", "1-2-3 * * * *", ", * * * *", "1/2/3 * * * *", "99 99 99 99 99"]) {
    test(`rejects "${bad}"`, () => assert.throws(() => parseCron(bad), /cron/));
  }
  test("names croner's reason", () => {
    assert.throws(() => parseCron("99 99 99 99 99"), /cron "99 99 99 99 99": Invalid value for minute: 99/);
  });
});

describe("cronMatches (UTC)", () => {
  test("every minute", () => assert.ok(cronMatches(parseCron("* * * * *"), at("2025-03-04T05:06:59Z"))));
  test("5 0 * * * fires at 00:05 UTC only", () => {
    const c = parseCron("5 0 * * *");
    assert.ok(cronMatches(c, at("2025-01-31T00:05:30Z")));
    assert.ok(!cronMatches(c, at("2025-01-31T00:06:00Z")));
    assert.ok(!cronMatches(c, at("2025-01-31T01:05:00Z")));
  });
  test("day-of-month OR day-of-week when both are restricted", () => {
    const c = parseCron("0 0 1 * 1");
    assert.ok(cronMatches(c, at("2025-02-01T00:00:00Z"))); // the 1st, a Saturday
    assert.ok(cronMatches(c, at("2025-02-03T00:00:00Z"))); // a Monday
    assert.ok(!cronMatches(c, at("2025-02-04T00:00:00Z")));
  });
  test("a step in day-of-month restricts it: odd days OR Mondays (croner, as the spec and the backup agent read it)", () => {
    const c = parseCron("0 3 */2 * 1");
    assert.equal(nextRun(c, at("2025-01-02T00:00:00Z"))?.toISOString(), "2025-01-03T03:00:00.000Z");
    assert.ok(cronMatches(c, at("2025-01-06T03:00:00Z"))); // an even day, but a Monday
    assert.ok(!cronMatches(c, at("2025-01-04T03:00:00Z"))); // an even Saturday
  });
  test("only day-of-week restricted", () => {
    const c = parseCron("0 3 * * 0");
    assert.ok(cronMatches(c, at("2025-02-02T03:00:00Z"))); // Sunday
    assert.ok(!cronMatches(c, at("2025-02-03T03:00:00Z")));
  });
});

describe("nextRun", () => {
  test("next minute for * * * * *", () => {
    assert.equal(nextRun(parseCron("* * * * *"), at("2025-01-01T10:00:30Z"))?.toISOString(), "2025-01-01T10:01:00.000Z");
  });
  test("strictly after the given time", () => {
    assert.equal(nextRun(parseCron("5 0 * * *"), at("2025-01-31T00:05:00Z"))?.toISOString(), "2025-02-01T00:05:00.000Z");
  });
  test("crosses a year", () => {
    assert.equal(nextRun(parseCron("0 0 1 1 *"), at("2025-06-01T00:00:00Z"))?.toISOString(), "2026-01-01T00:00:00.000Z");
  });
  test("leap day", () => {
    assert.equal(nextRun(parseCron("0 12 29 2 *"), at("2025-03-01T00:00:00Z"))?.toISOString(), "2028-02-29T12:00:00.000Z");
  });
  test("never (Feb 30) is undefined, quickly", () => {
    const t0 = Date.now();
    assert.equal(nextRun(parseCron("0 0 30 2 *"), at("2025-01-01T00:00:00Z")), undefined);
    assert.ok(Date.now() - t0 < 500);
  });
  test("agrees with cronMatches minute by minute over two days", () => {
    const c = parseCron("*/7 */5 * * 1,3");
    let t = at("2025-02-02T23:00:00Z");
    for (let i = 0; i < 30; i++) {
      const n = nextRun(c, t)!;
      assert.ok(cronMatches(c, n));
      for (let m = t.getTime() + 60_000; m < n.getTime(); m += 60_000) assert.ok(!cronMatches(c, new Date(m)), new Date(m).toISOString());
      t = n;
    }
  });
});
