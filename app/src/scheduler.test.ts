import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseJobs } from "./jobs";
import { Scheduler } from "./scheduler";

test("a run sends the secret header from the named env var and records the result", async () => {
  const seen: Array<{ url?: string; secret?: string | string[] }> = [];
  const target = http.createServer((req, res) => { seen.push({ url: req.url, secret: req.headers["x-cron-secret"] }); res.statusCode = 200; res.end("{}"); });
  await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
  const port = (target.address() as AddressInfo).port;
  try {
    const jobs = parseJobs(JSON.stringify([{ name: "eod", schedule: "5 0 * * *", method: "POST", url: `http://127.0.0.1:${port}/jobs/eod`, secretHeader: { header: "X-Cron-Secret", secret: "EOD_CRON_SECRET" } }]));
    const s = new Scheduler(jobs, { EOD_CRON_SECRET: "cron-s" });
    const r = await s.run(jobs[0], "manual", new URLSearchParams("source=manual_replay&date=2025-01-31"));
    assert.equal(r.status, 200);
    assert.deepEqual(seen, [{ url: "/jobs/eod?source=manual_replay&date=2025-01-31", secret: "cron-s" }]);
    const sum = s.summary(new Date("2025-01-31T12:00:00Z")).eod;
    assert.equal(sum.lastStatus, 200);
    assert.equal(sum.nextRun, "2025-02-01T00:05:00.000Z");
  } finally {
    target.close();
  }
});

test("a network failure is recorded, not thrown", async () => {
  const jobs = parseJobs(JSON.stringify([{ name: "x", schedule: "* * * * *", method: "GET", url: "http://127.0.0.1:1/" }]));
  const s = new Scheduler(jobs, {});
  const r = await s.run(jobs[0], "schedule");
  assert.equal(r.status, null);
  assert.match(r.error ?? "", /ECONNREFUSED/);
});

test("the secret header may come from NAME_FILE, read at each run so a rotated file takes effect", async () => {
  const seen: Array<string | string[] | undefined> = [];
  const target = http.createServer((req, res) => { seen.push(req.headers["x-cron-secret"]); res.statusCode = 200; res.end("{}"); });
  await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
  const port = (target.address() as AddressInfo).port;
  const secretFile = join(mkdtempSync(join(tmpdir(), "sched-")), "EOD_CRON_SECRET");
  try {
    writeFileSync(secretFile, "from-file\n");
    const jobs = parseJobs(JSON.stringify([{ name: "eod", schedule: "5 0 * * *", method: "POST", url: `http://127.0.0.1:${port}/jobs/eod`, secretHeader: { header: "X-Cron-Secret", secret: "EOD_CRON_SECRET" } }]));
    const s = new Scheduler(jobs, { EOD_CRON_SECRET_FILE: secretFile });
    assert.equal((await s.run(jobs[0], "manual")).status, 200);
    writeFileSync(secretFile, "rotated\n");
    assert.equal((await s.run(jobs[0], "manual")).status, 200);
    assert.deepEqual(seen, ["from-file", "rotated"]);
  } finally {
    target.close();
  }
});
