// Every environment variable the reference app reads, parsed and validated in one place.
// Every one of them may instead come from a file named by <NAME>_FILE (envValue below): swarm
// services get secrets as files at /run/secrets/<NAME> with <NAME>_FILE pointing there, never the
// value in env. Setting both NAME and NAME_FILE is a startup error. Secrets (marked *) are never
// logged nor echoed in a response or an error message.
//
// | variable                  | meaning                                                                 | default                |
// |---------------------------|-------------------------------------------------------------------------|------------------------|
// | APP_ROLE                  | api, worker, web or scheduler                                           | api                    |
// | PORT                      | main HTTP listener                                                      | 8080                   |
// | APP_RELEASE               | release label shown in health and metrics                               | dev                    |
// | SERVICE_NAME              | service name shown in health JSON and app_info                          | APP_ROLE               |
// | HEALTH_PATH               | the one path that answers health JSON (`/` turns web's HTML off)        | /health                |
// | DATABASE_URL *            | postgres://... or sqlite:////abs/path.db                                | unset: no database     |
// | DATABASE_MODE             | postgres or sqlite; must agree with DATABASE_URL's scheme               | from DATABASE_URL      |
// | DB_HOST, DB_USER,         | when DATABASE_URL is unset and all three are set, the Postgres          | unset                  |
// |   DB_PASSWORD *           |   connection is built from them (everywhere: serve, migrate, preflight) |                        |
// | DB_NAME, DB_PORT          | optional parts of that connection                                       | DB_USER, 5432          |
// | REDIS_URL *               | redis://[user:password@]host:port/db                                    | unset: no Redis        |
// | WORKER_NAMES              | worker role: comma list of heartbeat names (worker:<name>:last-ping)    | WORKER_NAME or default |
// | WORKER_NAME               | single heartbeat name, kept for older stacks                            | default                |
// | STATUS_WORKERS            | comma list of worker names that GET /system/status reports              | none                   |
// | MAINTENANCE_MODE          | true: every request except HEALTH_PATH answers 503 maintenance          | false                  |
// | READ_ONLY                 | true: writes (/items, /jobs/eod, /admin/*) answer 503; DB read-only     | false                  |
// | TELEGRAM_WEBHOOK_SECRET * | enables POST /webhook/telegram, checked against                         | unset: webhook 404     |
// |                           |   X-Telegram-Bot-Api-Secret-Token                                       |                        |
// | EOD_CRON_SECRET *         | X-Cron-Secret value that POST /jobs/eod requires                        | unset: always 403      |
// | ADMIN_TOKEN *,            | bearer tokens accepted by POST /admin/*; either may be set              | neither: admin 404     |
// |   ADMIN_API_KEY *         |                                                                         |                        |
// | METRICS_PORT              | second listener serving GET /metrics (Prometheus text)                  | unset: no metrics      |
// | JOBS                      | scheduler role: JSON [{name, schedule, method, url, secretHeader?}]     | required for scheduler |
// | MIGRATE_FAIL              | migrate: 1 fails on purpose (tests of the migration gate)               | unset                  |
// | MIGRATE_WAIT_SECONDS      | migrate: how long to wait for the database to accept connections        | 30                     |
// | PREFLIGHT_REQUIRED        | preflight: comma list of env names that must be set and non-empty       | API_KEY                |
// | PREFLIGHT_AUTH            | preflight: api-key-plus-identity (needs CLIENT_CERT_SUBJECT_HEADER or   | api-key-plus-identity  |
// |                           |   OIDC_ISSUER + OIDC_AUDIENCE) or none                                  |   if API_KEY required  |
import { readFileSync } from "node:fs";
import { parseJobs, type ScheduledJob } from "./jobs";

export type Role = "api" | "worker" | "web" | "scheduler";
const ROLES: readonly Role[] = ["api", "worker", "web", "scheduler"];

export type DatabaseTarget =
  | { kind: "postgres"; url: string }
  | { kind: "sqlite"; path: string };

export interface Config {
  role: Role;
  port: number;
  release: string;
  service: string;
  healthPath: string;
  database?: DatabaseTarget;
  redisUrl?: string;
  workerNames: string[];
  statusWorkers: string[];
  maintenance: boolean;
  readOnly: boolean;
  telegramWebhookSecret?: string;
  eodCronSecret?: string;
  /** Bearer tokens the admin endpoints accept (ADMIN_TOKEN and/or ADMIN_API_KEY). */
  adminTokens: string[];
  metricsPort?: number;
  /** Scheduler role only. */
  jobs: ScheduledJob[];
}

/**
 * The one way the app reads its environment: NAME, or the content of the file named by NAME_FILE
 * (one trailing newline stripped). Both set (non-empty) is an error naming both; a NAME_FILE that
 * cannot be read is an error naming it and its path, never any content. Undefined when neither
 * is set; an empty value stays "" so callers can tell "set to nothing" from "unset".
 */
export function envValue(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) throw new Error(`both ${name} and ${name}_FILE are set; set only one`);
  if (!file) return direct;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new Error(`cannot read ${name}_FILE (${file}): ${code}`);
  }
  return text.replace(/\r?\n$/, "");
}

/** envValue for secrets and optional settings: an empty value counts as unset. */
export function secretEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = envValue(name, env);
  return v === "" ? undefined : v;
}

/** host:port/db of a URL, without user or password, for logs. */
export function describeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

export function describeDatabase(db: DatabaseTarget | undefined): string {
  if (!db) return "not_configured";
  return db.kind === "sqlite" ? `sqlite:${db.path}` : describeUrl(db.url);
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off", ""]);

export function parseBool(name: string, raw: string | undefined): boolean {
  const v = (raw ?? "").trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new Error(`${name} must be true or false (got "${raw}")`);
}

/** "a, b,,c" -> ["a","b","c"] */
export function parseList(raw: string | undefined): string[] {
  return (raw ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}

export function parsePort(name: string, raw: string | undefined, fallback?: number): number | undefined {
  if (raw === undefined || raw.trim() === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be 1-65535 (got "${raw}")`);
  return port;
}

// Worker names become Redis key segments (worker:<name>:last-ping): no colons, no spaces.
const WORKER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function workerList(name: string, names: string[]): string[] {
  for (const n of names) if (!WORKER_NAME.test(n)) throw new Error(`${name}: "${n}" is not a valid worker name (letters, digits, _ . - only)`);
  return names;
}

function checkUrl(name: string, raw: string, protocols: string[]): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    // Never echo the value: it may hold a password.
    throw new Error(`${name} is not a valid URL`);
  }
  if (!protocols.includes(u.protocol)) {
    throw new Error(`${name} must use ${protocols.join(" or ")} (got ${u.protocol})`);
  }
  return raw;
}

/** sqlite:////data/app.db -> /data/app.db (SQLAlchemy's form: three slashes, then the path). */
export function sqlitePath(url: string): string {
  const m = /^sqlite:\/\/\/(.+)$/.exec(url);
  if (!m) throw new Error("DATABASE_URL for SQLite must look like sqlite:////data/app.db (sqlite:/// then the file path)");
  return m[1];
}

/**
 * Where the database is: DATABASE_URL (postgres or sqlite), else the DB_* trio, else none.
 * A partial DB_* trio is an error rather than "no database", since it is almost surely a typo.
 */
export function resolveDatabase(env: NodeJS.ProcessEnv = process.env): DatabaseTarget | undefined {
  const rawMode = envValue("DATABASE_MODE", env);
  const mode = rawMode?.trim().toLowerCase() || undefined;
  if (mode !== undefined && mode !== "postgres" && mode !== "sqlite") {
    throw new Error(`DATABASE_MODE must be postgres or sqlite (got "${rawMode}")`);
  }
  const url = secretEnv("DATABASE_URL", env);
  if (url?.startsWith("sqlite:")) {
    if (mode === "postgres") throw new Error("DATABASE_MODE is postgres but DATABASE_URL is a sqlite: URL");
    return { kind: "sqlite", path: sqlitePath(url) };
  }
  if (mode === "sqlite") {
    throw new Error(url ? "DATABASE_MODE is sqlite but DATABASE_URL is not a sqlite: URL" : "DATABASE_MODE is sqlite: set DATABASE_URL=sqlite:////data/<file>.db");
  }
  if (url) return { kind: "postgres", url: checkUrl("DATABASE_URL", url, ["postgres:", "postgresql:"]) };

  const host = secretEnv("DB_HOST", env);
  const user = secretEnv("DB_USER", env);
  const password = secretEnv("DB_PASSWORD", env);
  if (!host && !user && !password) return undefined;
  const missing = [["DB_HOST", host], ["DB_USER", user], ["DB_PASSWORD", password]].filter(([, v]) => !v).map(([n]) => n);
  if (missing.length) throw new Error(`DATABASE_URL is unset and the DB_* trio is incomplete: set ${missing.join(", ")}`);
  const port = parsePort("DB_PORT", envValue("DB_PORT", env), 5432);
  const dbName = secretEnv("DB_NAME", env);
  const db = dbName ? `/${encodeURIComponent(dbName)}` : "";
  const u = `postgresql://${encodeURIComponent(user!)}:${encodeURIComponent(password!)}@${host}:${port}${db}`;
  return { kind: "postgres", url: checkUrl("DB_HOST", u, ["postgresql:"]) };
}

export function healthPath(raw: string | undefined): string {
  const p = raw?.trim() || "/health";
  if (!/^\/[A-Za-z0-9_./-]*$/.test(p)) throw new Error(`HEALTH_PATH must be a path starting with / (got "${raw}")`);
  return p;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const get = (name: string): string | undefined => envValue(name, env);
  const rawRole = get("APP_ROLE");
  const role = (rawRole || "api") as Role;
  if (!ROLES.includes(role)) throw new Error(`APP_ROLE must be one of ${ROLES.join(", ")} (got "${rawRole}")`);
  const workerNames = parseList(get("WORKER_NAMES"));
  const adminTokens = [secretEnv("ADMIN_TOKEN", env), secretEnv("ADMIN_API_KEY", env)].filter((t): t is string => t !== undefined);
  const redisUrl = secretEnv("REDIS_URL", env);
  return {
    role,
    port: parsePort("PORT", get("PORT"), 8080)!,
    release: get("APP_RELEASE") || "dev",
    service: get("SERVICE_NAME") || role,
    healthPath: healthPath(get("HEALTH_PATH")),
    database: resolveDatabase(env),
    redisUrl: redisUrl === undefined ? undefined : checkUrl("REDIS_URL", redisUrl, ["redis:"]),
    workerNames: workerList("WORKER_NAMES", workerNames.length ? workerNames : [get("WORKER_NAME") || "default"]),
    statusWorkers: workerList("STATUS_WORKERS", parseList(get("STATUS_WORKERS"))),
    maintenance: parseBool("MAINTENANCE_MODE", get("MAINTENANCE_MODE")),
    readOnly: parseBool("READ_ONLY", get("READ_ONLY")),
    telegramWebhookSecret: secretEnv("TELEGRAM_WEBHOOK_SECRET", env),
    eodCronSecret: secretEnv("EOD_CRON_SECRET", env),
    adminTokens,
    metricsPort: parsePort("METRICS_PORT", get("METRICS_PORT")),
    jobs: role === "scheduler" ? parseJobs(get("JOBS")) : [],
  };
}
