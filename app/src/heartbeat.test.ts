import assert from "node:assert/strict";
import { test } from "node:test";
import { heartbeatKey, workerStatus } from "./heartbeat";

test("heartbeat key matches seed 001", () => assert.equal(heartbeatKey("copy-trading"), "worker:copy-trading:last-ping"));

test("workerStatus: fresh, stale at > 120 s, missing", () => {
  const now = Date.parse("2025-01-01T00:10:00Z");
  assert.deepEqual(workerStatus(now - 10_000, now), { lastPing: "2025-01-01T00:09:50.000Z", ageSeconds: 10, stale: false });
  assert.equal(workerStatus(now - 120_000, now).stale, false);
  assert.equal(workerStatus(now - 121_000, now).stale, true);
  assert.deepEqual(workerStatus(undefined, now), { lastPing: null, ageSeconds: null, stale: true });
});
