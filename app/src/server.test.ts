// The HTTP contract of the api/web roles, in process, with an in-memory store.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, describe, test } from "node:test";
import { loadConfig } from "./config";
import { startHttp, type RunningServer } from "./http";
import { Metrics } from "./metrics";
import { appHandler, parseRunDate, type Deps } from "./server";
import type { HeartbeatStore, Item, JobRun, Store } from "./store";

class MemoryStore implements Store, HeartbeatStore {
  readonly kind = "sqlite";
  items: Item[] = [];
  runs: JobRun[] = [];
  beats = new Map<string, number>();
  async ping(): Promise<boolean> { return true; }
  async listItems(): Promise<Item[]> { return this.items; }
  async addItem(name: string): Promise<Item> { const i = { id: this.items.length + 1, name, created_at: "now" }; this.items.push(i); return i; }
  async recordJobRun(job: string, run_date: string, source: string): Promise<JobRun> {
    const r = { id: this.runs.length + 1, job, run_date, source, created_at: "now" }; this.runs.push(r); return r;
  }
  async listJobRuns(): Promise<JobRun[]> { return this.runs; }
  async close(): Promise<void> {}
  async writeHeartbeats(names: readonly string[], at: number): Promise<void> { for (const n of names) this.beats.set(n, at); }
  async readHeartbeats(names: readonly string[]): Promise<Map<string, number>> {
    return new Map(names.filter((n) => this.beats.has(n)).map((n) => [n, this.beats.get(n)!]));
  }
}

interface Res { status: number; body: any; headers: http.IncomingHttpHeaders }
function req(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: "127.0.0.1", port, method, path, headers: { "content-type": "application/json", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* html or metrics */ }
        resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    r.on("error", reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const servers: RunningServer[] = [];
after(async () => { await Promise.all(servers.map((s) => s.shutdown(100))); });

async function app(env: NodeJS.ProcessEnv, store?: MemoryStore): Promise<{ port: number; deps: Deps }> {
  const config = loadConfig({ PORT: "1", ...env });
  const deps: Deps = { config, store, heartbeats: store, metrics: new Metrics(config), telegram: { updates: 0, lastUpdateId: null } };
  const s = await startHttp(0, appHandler(deps), deps.metrics);
  servers.push(s);
  return { port: s.port, deps };
}

describe("health", () => {
  test("JSON with service on HEALTH_PATH only", async () => {
    const { port } = await app({ SERVICE_NAME: "signal-sentinel-web", HEALTH_PATH: "/api/health" }, new MemoryStore());
    const h = await req(port, "GET", "/api/health");
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { status: "ok", database: "connected", redis: "not_configured", role: "api", release: "dev", service: "signal-sentinel-web" });
    assert.equal((await req(port, "GET", "/health")).status, 404);
  });
  test("web answers HTML on / unless HEALTH_PATH is /", async () => {
    const web = await app({ APP_ROLE: "web" });
    const html = await req(web.port, "GET", "/");
    assert.match(String(html.headers["content-type"]), /text\/html/);
    const front = await app({ APP_ROLE: "web", HEALTH_PATH: "/", SERVICE_NAME: "frontend" });
    assert.equal((await req(front.port, "GET", "/")).body.service, "frontend");
  });
});

test("maintenance: 503 everywhere but health", async () => {
  const { port } = await app({ MAINTENANCE_MODE: "true" });
  assert.equal((await req(port, "GET", "/health")).status, 200);
  const r = await req(port, "GET", "/items");
  assert.equal(r.status, 503);
  assert.deepEqual(r.body, { error: "maintenance" });
  assert.equal((await req(port, "POST", "/webhook/telegram")).status, 503);
});

describe("telegram webhook", () => {
  test("404 when no secret is configured", async () => {
    const { port } = await app({});
    assert.equal((await req(port, "POST", "/webhook/telegram", {}, { update_id: 1 })).status, 404);
  });
  test("401 on a wrong or missing token, 200 and counted on the right one", async () => {
    const { port } = await app({ TELEGRAM_WEBHOOK_SECRET: "tg_secret-1" });
    assert.equal((await req(port, "POST", "/webhook/telegram", {}, { update_id: 1 })).status, 401);
    assert.equal((await req(port, "POST", "/webhook/telegram", { "X-Telegram-Bot-Api-Secret-Token": "nope" }, { update_id: 1 })).status, 401);
    const ok = await req(port, "POST", "/webhook/telegram", { "X-Telegram-Bot-Api-Secret-Token": "tg_secret-1" }, { update_id: 77 });
    assert.deepEqual([ok.status, ok.body], [200, { ok: true }]);
    assert.deepEqual((await req(port, "GET", "/webhook/telegram/stats")).body, { updates: 1, lastUpdateId: 77 });
  });
});

describe("EOD job", () => {
  test("403 when EOD_CRON_SECRET is unset, even with a header", async () => {
    const { port } = await app({}, new MemoryStore());
    assert.equal((await req(port, "POST", "/jobs/eod", { "X-Cron-Secret": "anything" })).status, 403);
  });
  test("403 wrong, 200 right with a job_runs row; replay of a date", async () => {
    const store = new MemoryStore();
    const { port } = await app({ EOD_CRON_SECRET: "cron-s" }, store);
    assert.equal((await req(port, "POST", "/jobs/eod", { "X-Cron-Secret": "cron-x" })).status, 403);
    const r = await req(port, "POST", "/jobs/eod", { "X-Cron-Secret": "cron-s" });
    assert.equal(r.status, 200);
    assert.equal(r.body.source, "schedule");
    const replay = await req(port, "POST", "/jobs/eod?source=manual_replay&date=2025-01-31", { "X-Cron-Secret": "cron-s" });
    assert.deepEqual(replay.body, { job: "eod", date: "2025-01-31", source: "manual_replay", recorded: true });
    assert.equal((await req(port, "POST", "/jobs/eod?date=2025-02-30", { "X-Cron-Secret": "cron-s" })).status, 400);
    assert.deepEqual((await req(port, "GET", "/jobs/runs")).body.runs.map((x: JobRun) => x.source), ["schedule", "manual_replay"]);
  });
  test("parseRunDate", () => {
    assert.equal(parseRunDate(null, new Date("2025-03-04T23:59:00Z")), "2025-03-04");
    assert.throws(() => parseRunDate("2025-2-1"), /YYYY-MM-DD/);
  });
});

test("admin: 404 without tokens, 401 wrong, 200 with either token", async () => {
  assert.equal((await req((await app({})).port, "POST", "/admin/reconcile")).status, 404);
  const { port } = await app({ ADMIN_TOKEN: "t1", ADMIN_API_KEY: "t2" });
  const denied = await req(port, "POST", "/admin/reconcile", { Authorization: "Bearer t3" });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers["www-authenticate"], "Bearer");
  assert.deepEqual((await req(port, "POST", "/admin/reconcile", { Authorization: "Bearer t1" })).body, { ok: true, action: "reconcile" });
  assert.deepEqual((await req(port, "POST", "/admin/retry-relayer", { Authorization: "Bearer t2" }, { txId: "0xabc" })).body, { ok: true, action: "retry-relayer", txId: "0xabc" });
});

test("admin: an action is recorded in the audit log first, and refused read-only", async () => {
  class AuditedStore extends MemoryStore {
    audit: string[] = [];
    async recordAudit(action: string): Promise<void> { this.audit.push(action); }
  }
  const store = new AuditedStore();
  const { port } = await app({ ADMIN_TOKEN: "t1" }, store);
  assert.equal((await req(port, "POST", "/admin/reconcile", { Authorization: "Bearer t1" })).status, 200);
  assert.equal((await req(port, "POST", "/admin/retry-relayer", { Authorization: "Bearer t1" }, { txId: "tx-123" })).status, 200);
  assert.deepEqual(store.audit, ["reconcile", "retry-relayer tx-123"]);
  // Unauthenticated calls leave no entry.
  assert.equal((await req(port, "POST", "/admin/reconcile", { Authorization: "Bearer nope" })).status, 401);
  assert.equal(store.audit.length, 2);

  const readOnly = new AuditedStore();
  const ro = await app({ ADMIN_TOKEN: "t1", READ_ONLY: "true" }, readOnly);
  assert.equal((await req(ro.port, "POST", "/admin/reconcile", { Authorization: "Bearer t1" })).status, 503);
  assert.deepEqual(readOnly.audit, []);
});

test("system status: fresh vs stale workers, 200 either way", async () => {
  const store = new MemoryStore();
  const { port } = await app({ STATUS_WORKERS: "copy-trading,auto-claim" }, store);
  store.beats.set("copy-trading", Date.now() - 5000);
  let r = await req(port, "GET", "/system/status");
  assert.equal(r.status, 200);
  assert.equal(r.body.status, "degraded");
  assert.equal(r.body.workers["copy-trading"].stale, false);
  assert.deepEqual(r.body.workers["auto-claim"], { lastPing: null, ageSeconds: null, stale: true });
  store.beats.set("auto-claim", Date.now());
  r = await req(port, "GET", "/system/status");
  assert.equal(r.body.status, "ok");
});

test("read-only: writes 503, reads work", async () => {
  const store = new MemoryStore();
  const { port } = await app({ READ_ONLY: "true", EOD_CRON_SECRET: "c" }, store);
  assert.deepEqual((await req(port, "POST", "/items", {}, { name: "x" })).body, { error: "read-only" });
  assert.equal((await req(port, "POST", "/jobs/eod", { "X-Cron-Secret": "c" })).status, 503);
  assert.equal((await req(port, "GET", "/items")).status, 200);
  assert.equal(store.items.length, 0);
});

test("metrics on the main port when METRICS_PORT equals PORT", async () => {
  const config = loadConfig({ PORT: "1", METRICS_PORT: "1" });
  const deps: Deps = { config, metrics: new Metrics(config), telegram: { updates: 0, lastUpdateId: null } };
  const s = await startHttp(0, appHandler(deps), deps.metrics);
  servers.push(s);
  await req(s.port, "GET", "/health");
  const m = await req(s.port, "GET", "/metrics");
  assert.match(m.body, /http_requests_total\{method="GET",path="\/health",status="200"\} 1/);
});
