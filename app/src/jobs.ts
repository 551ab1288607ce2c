// The scheduler's JOBS env: a JSON array of HTTP calls to make on a cron schedule.
// A job names the env var that holds its secret, never the secret itself, so JOBS can be shown
// in `docker inspect` and logs without leaking anything.
import { parseCron, type Cron } from "./cron";

export type JobMethod = "GET" | "POST" | "PUT" | "DELETE";
const METHODS: readonly JobMethod[] = ["GET", "POST", "PUT", "DELETE"];

export interface ScheduledJob {
  name: string;
  schedule: string;
  cron: Cron;
  method: JobMethod;
  url: string;
  /** Send header `header` with the value of env var `secret` (read at each run). */
  secretHeader?: { header: string; secret: string };
}

const JOB_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function parseJob(v: unknown, i: number): ScheduledJob {
  const at = `JOBS[${i}]`;
  if (!isObject(v)) throw new Error(`${at} must be an object`);
  const { name, schedule, method, url, secretHeader } = v;
  if (typeof name !== "string" || !JOB_NAME.test(name)) throw new Error(`${at}.name must be 1-64 letters, digits, _ . -`);
  if (typeof schedule !== "string") throw new Error(`${at}.schedule must be a 5-field cron string`);
  const m = typeof method === "string" ? method.toUpperCase() : "";
  if (!METHODS.includes(m as JobMethod)) throw new Error(`${at}.method must be one of ${METHODS.join(", ")}`);
  if (typeof url !== "string") throw new Error(`${at}.url must be an http(s) URL`);
  let u: URL;
  try { u = new URL(url); } catch { throw new Error(`${at}.url is not a valid URL`); }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`${at}.url must be http or https`);
  if (u.username || u.password) throw new Error(`${at}.url must not carry credentials; use secretHeader`);
  const job: ScheduledJob = { name, schedule, cron: parseCron(schedule), method: m as JobMethod, url };
  if (secretHeader !== undefined) {
    if (!isObject(secretHeader)) throw new Error(`${at}.secretHeader must be {"header": ..., "secret": <env var name>}`);
    const { header, secret } = secretHeader;
    if (typeof header !== "string" || !HEADER_NAME.test(header)) throw new Error(`${at}.secretHeader.header must be an HTTP header name`);
    if (typeof secret !== "string" || !ENV_NAME.test(secret)) throw new Error(`${at}.secretHeader.secret must be the NAME of an env var`);
    job.secretHeader = { header, secret };
  }
  return job;
}

export function parseJobs(raw: string | undefined): ScheduledJob[] {
  if (raw === undefined || raw.trim() === "") throw new Error("JOBS must be set for APP_ROLE=scheduler (a JSON array; [] for none)");
  let data: unknown;
  try { data = JSON.parse(raw); } catch { throw new Error("JOBS is not valid JSON"); }
  if (!Array.isArray(data)) throw new Error("JOBS must be a JSON array");
  const jobs = data.map(parseJob);
  const seen = new Set<string>();
  for (const j of jobs) {
    if (seen.has(j.name)) throw new Error(`JOBS: job name "${j.name}" appears twice`);
    seen.add(j.name);
  }
  return jobs;
}
