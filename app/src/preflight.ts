// `node dist/main.js preflight` (seed 004): fail fast, before migrations and before any service
// starts, when a required variable is empty, the auth setup is incomplete or the database does
// not answer. Every line names variables, never their values.
import { envValue, parseList, resolveDatabase, secretEnv, type DatabaseTarget } from "./config";
import { selectOneWithin } from "./db";
import { errMsg, log } from "./log";
import { SqliteStore } from "./sqlite";

export interface Check { check: string; ok: boolean; message: string }

export const DB_ANSWER_SECONDS = 10;
const AUTH_MODES = ["api-key-plus-identity", "none"] as const;

function isSet(name: string, env: NodeJS.ProcessEnv): boolean {
  return secretEnv(name, env) !== undefined;
}

function requiredCheck(name: string, env: NodeJS.ProcessEnv): Check {
  try {
    return isSet(name, env)
      ? { check: "required", ok: true, message: `${name} is set` }
      : { check: "required", ok: false, message: `${name} is missing or empty` };
  } catch (err) {
    return { check: "required", ok: false, message: errMsg(err) };
  }
}

/** Seed 004: API_KEY plus an identity source, either a client-cert header or an OIDC pair. */
function identityCheck(env: NodeJS.ProcessEnv): Check {
  const check = "identity";
  if (isSet("CLIENT_CERT_SUBJECT_HEADER", env)) return { check, ok: true, message: "CLIENT_CERT_SUBJECT_HEADER is set" };
  const issuer = isSet("OIDC_ISSUER", env);
  const audience = isSet("OIDC_AUDIENCE", env);
  if (issuer && audience) return { check, ok: true, message: "OIDC_ISSUER and OIDC_AUDIENCE are set" };
  if (issuer !== audience) {
    const [have, missing] = issuer ? ["OIDC_ISSUER", "OIDC_AUDIENCE"] : ["OIDC_AUDIENCE", "OIDC_ISSUER"];
    return { check, ok: false, message: `${missing} is missing or empty (${have} is set; OIDC needs both)` };
  }
  return { check, ok: false, message: "CLIENT_CERT_SUBJECT_HEADER is missing, and so is the OIDC_ISSUER/OIDC_AUDIENCE pair: set one of them" };
}

function databaseCheck(env: NodeJS.ProcessEnv): { result: Check; target?: DatabaseTarget } {
  const check = "database";
  try {
    const target = resolveDatabase(env);
    if (!target) return { result: { check, ok: false, message: "DATABASE_URL is missing, and so is the DB_HOST/DB_USER/DB_PASSWORD trio: set one of them" } };
    const via = isSet("DATABASE_URL", env) ? "DATABASE_URL" : "DB_HOST, DB_USER and DB_PASSWORD";
    return { result: { check, ok: true, message: `${via} set (${target.kind})` }, target };
  } catch (err) {
    return { result: { check, ok: false, message: errMsg(err) } };
  }
}

/**
 * The checks that need only the environment, in order. The runner stops at the first failure,
 * so later checks may assume earlier ones passed.
 */
export function envChecks(env: NodeJS.ProcessEnv): { checks: Check[]; database?: DatabaseTarget } {
  let rawRequired: string | undefined;
  let mode: string;
  try {
    rawRequired = envValue("PREFLIGHT_REQUIRED", env);
    mode = envValue("PREFLIGHT_AUTH", env)?.trim() ?? "";
  } catch (err) {
    return { checks: [{ check: "required", ok: false, message: errMsg(err) }] };
  }
  const required = rawRequired === undefined ? ["API_KEY"] : parseList(rawRequired);
  const checks = required.map((n) => requiredCheck(n, env));

  mode ||= required.includes("API_KEY") ? "api-key-plus-identity" : "none";
  if (!AUTH_MODES.some((m) => m === mode)) {
    checks.push({ check: "identity", ok: false, message: `PREFLIGHT_AUTH must be one of ${AUTH_MODES.join(", ")}` });
  } else if (mode === "api-key-plus-identity") {
    if (!required.includes("API_KEY")) checks.push(requiredCheck("API_KEY", env));
    checks.push(identityCheck(env));
  }

  const db = databaseCheck(env);
  checks.push(db.result);
  return { checks, database: db.target };
}

async function databaseAnswers(target: DatabaseTarget): Promise<void> {
  if (target.kind === "postgres") return selectOneWithin(target.url, DB_ANSWER_SECONDS);
  await new SqliteStore(target.path).query("SELECT 1 AS ok FROM sqlite_master LIMIT 1;", [], DB_ANSWER_SECONDS * 1000);
}

/** Prints one line per check; returns false at the first failure. */
export async function runPreflight(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const { checks, database } = envChecks(env);
  for (const c of checks) {
    if (!c.ok) {
      log.error(`preflight failed: ${c.message}`, { check: c.check });
      return false;
    }
    log.info(`preflight ok: ${c.message}`, { check: c.check });
  }
  const started = Date.now();
  try {
    await databaseAnswers(database!);
  } catch (err) {
    log.error(`preflight failed: the database did not answer SELECT 1 within ${DB_ANSWER_SECONDS} s: ${errMsg(err)}`, { check: "database-answers" });
    return false;
  }
  log.info("preflight ok: the database answers SELECT 1", { check: "database-answers", ms: Date.now() - started });
  log.info("preflight passed", { checks: checks.length + 1 });
  return true;
}
