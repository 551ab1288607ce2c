// The scheduler role: the stack's cron. Makes each job's HTTP call when its schedule matches
// (UTC), logs one line per run, and keeps the last result for /health. POST /run/<name> runs a
// job now: that is how an operator replays a missed one (query parameters are passed on, e.g.
// /run/eod?source=manual_replay&date=2025-01-31). It has no auth because it is only reachable on
// the stack's private network, and it only runs jobs named in JOBS.
import * as http from "node:http";
import * as https from "node:https";
import { secretEnv, type Config } from "./config";
import { cronMatches, nextRun } from "./cron";
import { HttpError, send, type Handler } from "./http";
import type { ScheduledJob } from "./jobs";
import { errMsg, log } from "./log";
import type { Metrics } from "./metrics";
import { frontDoor } from "./server";

/** Long enough for an end-of-day job; a call still running after this is abandoned. */
const CALL_TIMEOUT_MS = 120_000;

export interface RunResult { name: string; trigger: "schedule" | "manual"; status: number | null; ms: number; error?: string }

interface JobState { lastRun: string | null; lastStatus: number | null; lastError?: string; running: boolean }

/** One HTTP call; resolves with the status code, rejects on network errors and timeouts. */
function call(method: string, url: URL, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === "https:" ? https : http;
    const req = mod.request(url, { method, headers: { ...headers, "content-length": "0", "user-agent": "opsbook-scheduler" }, timeout: CALL_TIMEOUT_MS }, (res) => {
      res.resume(); // the body is not needed, only the status
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS / 1000} s`)));
    req.on("error", reject);
    req.end();
  });
}

export class Scheduler {
  private readonly state = new Map<string, JobState>();
  private timer?: NodeJS.Timeout;
  private lastMinute = -1;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly jobs: readonly ScheduledJob[], private readonly env: NodeJS.ProcessEnv = process.env) {
    for (const j of jobs) {
      this.state.set(j.name, { lastRun: null, lastStatus: null, running: false });
      // Warn rather than refuse to start: the other jobs must still run, and the target's own
      // answer (403 for a missing cron secret) then shows in /health and in the run log.
      if (j.secretHeader && this.secretOf(j) === undefined) {
        log.warn("job secret is not set; the job will run without its header", { job: j.name, secret: j.secretHeader.secret });
      }
    }
  }

  job(name: string): ScheduledJob | undefined { return this.jobs.find((j) => j.name === name); }

  /** Fires the jobs whose cron matches the current minute, once per minute, until stop(). */
  start(): void {
    const tick = (): void => {
      const now = new Date();
      const minute = Math.floor(now.getTime() / 60_000);
      // Guard against a timer that fires twice in one minute (clock steps, slow event loop).
      if (minute !== this.lastMinute) {
        this.lastMinute = minute;
        for (const j of this.jobs) if (cronMatches(j.cron, now)) void this.run(j, "schedule");
      }
      // Aim just past the next minute boundary, so a match is evaluated inside its minute.
      this.timer = setTimeout(tick, 60_000 - (Date.now() % 60_000) + 50);
    };
    // The minute we start in is not ours: the container we replace may already have run its
    // jobs, and a redeploy at 00:05:30 must not run the 00:05 end-of-day job twice.
    this.lastMinute = Math.floor(Date.now() / 60_000);
    this.timer = setTimeout(tick, 60_000 - (Date.now() % 60_000) + 50);
  }

  /** Stops scheduling and waits (up to graceMs) for calls in flight. */
  async stop(graceMs: number): Promise<void> {
    clearTimeout(this.timer);
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, graceMs))]);
  }

  async run(job: ScheduledJob, trigger: RunResult["trigger"], extraQuery?: URLSearchParams): Promise<RunResult> {
    const st = this.state.get(job.name)!;
    if (st.running) {
      log.warn("job still running; skipped", { job: job.name, trigger });
      return { name: job.name, trigger, status: null, ms: 0, error: "still running" };
    }
    st.running = true;
    const started = Date.now();
    const url = new URL(job.url);
    extraQuery?.forEach((v, k) => url.searchParams.set(k, v));
    const headers: Record<string, string> = {};
    const secret = this.secretOf(job);
    if (job.secretHeader && secret !== undefined) headers[job.secretHeader.header] = secret;
    const p = call(job.method, url, headers).then(
      (status): RunResult => ({ name: job.name, trigger, status, ms: Date.now() - started }),
      (err: unknown): RunResult => ({ name: job.name, trigger, status: null, ms: Date.now() - started, error: errMsg(err) }),
    );
    this.inFlight.add(p);
    const result = await p;
    this.inFlight.delete(p);
    Object.assign(st, { running: false, lastRun: new Date(started).toISOString(), lastStatus: result.status, lastError: result.error });
    const ok = result.status !== null && result.status < 400;
    // Logs the job, never its headers: they carry the secret.
    (ok ? log.info : log.warn)("job run", { name: job.name, trigger, method: job.method, path: url.pathname, status: result.status, ms: result.ms, ...(result.error ? { error: result.error } : {}) });
    return result;
  }

  summary(now = new Date()): Record<string, { lastRun: string | null; lastStatus: number | null; lastError?: string; nextRun: string | null }> {
    const out: ReturnType<Scheduler["summary"]> = {};
    for (const j of this.jobs) {
      const st = this.state.get(j.name)!;
      out[j.name] = { lastRun: st.lastRun, lastStatus: st.lastStatus, ...(st.lastError ? { lastError: st.lastError } : {}), nextRun: nextRun(j.cron, now)?.toISOString() ?? null };
    }
    return out;
  }

  /** Read at each run, so a secret mounted as a file can rotate without a restart. */
  private secretOf(job: ScheduledJob): string | undefined {
    if (!job.secretHeader) return undefined;
    try {
      return secretEnv(job.secretHeader.secret, this.env);
    } catch (err) {
      log.warn("cannot read job secret", { job: job.name, secret: job.secretHeader.secret, error: errMsg(err) });
      return undefined;
    }
  }
}

export function schedulerHandler(config: Config, scheduler: Scheduler, metrics: Metrics): Handler {
  const healthHandler: Handler = async ({ res }) =>
    send(res, 200, { status: "ok", role: config.role, release: config.release, service: config.service, jobs: scheduler.summary() });
  const inner: Handler = async ({ method, path, res, query }) => {
    const m = /^\/run\/([^/]+)$/.exec(path);
    // Job names are [A-Za-z0-9_.-]: no decoding needed, and nothing else can name a job.
    const job = m ? scheduler.job(m[1]) : undefined;
    if (!job) throw new HttpError(404, "not found");
    if (method !== "POST") throw new HttpError(405, "method not allowed", { allow: "POST" });
    const result = await scheduler.run(job, "manual", query);
    if (result.error === "still running") throw new HttpError(409, `job ${job.name} is still running`);
    // 502 when the target failed, so `curl -f` in a runbook notices.
    send(res, result.status !== null && result.status < 400 ? 200 : 502, result);
  };
  return frontDoor(config, metrics, healthHandler, inner);
}
