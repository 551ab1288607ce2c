import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { envChecks } from "./preflight";

const DB = { DATABASE_URL: "postgres://u:pw@db/app" };
const firstFailure = (env: NodeJS.ProcessEnv): string | undefined => envChecks(env).checks.find((c) => !c.ok)?.message;

test("default: API_KEY plus an identity source plus a database", () => {
  const { checks } = envChecks({ API_KEY: "k", CLIENT_CERT_SUBJECT_HEADER: "X-Client-Subject", ...DB });
  assert.ok(checks.every((c) => c.ok), JSON.stringify(checks));
  assert.deepEqual(checks.map((c) => c.check), ["required", "identity", "database"]);
});
test("missing API_KEY is named first", () => {
  assert.equal(firstFailure({ CLIENT_CERT_SUBJECT_HEADER: "h", ...DB }), "API_KEY is missing or empty");
  assert.equal(firstFailure({ API_KEY: "", CLIENT_CERT_SUBJECT_HEADER: "h", ...DB }), "API_KEY is missing or empty");
});
test("OIDC pair works, half a pair names the missing half", () => {
  assert.equal(firstFailure({ API_KEY: "k", OIDC_ISSUER: "https://idp", OIDC_AUDIENCE: "flash", ...DB }), undefined);
  assert.match(firstFailure({ API_KEY: "k", OIDC_ISSUER: "https://idp", ...DB })!, /^OIDC_AUDIENCE is missing/);
  assert.match(firstFailure({ API_KEY: "k", ...DB })!, /CLIENT_CERT_SUBJECT_HEADER is missing, and so is the OIDC_ISSUER\/OIDC_AUDIENCE pair/);
});
test("PREFLIGHT_REQUIRED replaces the list; identity only when asked or API_KEY is required", () => {
  assert.equal(firstFailure({ PREFLIGHT_REQUIRED: "SECRET_KEY", SECRET_KEY: "s", ...DB }), undefined);
  assert.equal(firstFailure({ PREFLIGHT_REQUIRED: "SECRET_KEY, JWT_SECRET", SECRET_KEY: "s", ...DB }), "JWT_SECRET is missing or empty");
  assert.equal(firstFailure({ PREFLIGHT_REQUIRED: "SECRET_KEY", SECRET_KEY: "s", PREFLIGHT_AUTH: "api-key-plus-identity", ...DB }), "API_KEY is missing or empty");
  assert.equal(firstFailure({ API_KEY: "k", PREFLIGHT_AUTH: "none", ...DB }), undefined);
  assert.match(firstFailure({ API_KEY: "k", PREFLIGHT_AUTH: "mtls", ...DB })!, /PREFLIGHT_AUTH must be one of/);
});
test("database coordinates: URL or the whole DB_* trio", () => {
  const base = { API_KEY: "k", CLIENT_CERT_SUBJECT_HEADER: "h" };
  assert.match(firstFailure(base)!, /DATABASE_URL is missing, and so is the DB_HOST\/DB_USER\/DB_PASSWORD trio/);
  assert.match(firstFailure({ ...base, DB_HOST: "db", DB_USER: "u" })!, /DB_PASSWORD/);
  const ok = envChecks({ ...base, DB_HOST: "db", DB_USER: "u", DB_PASSWORD: "p" });
  assert.equal(ok.database?.kind, "postgres");
  assert.match(ok.checks[ok.checks.length - 1].message, /DB_HOST, DB_USER and DB_PASSWORD set/);
});
test("no check message ever holds a value", () => {
  const env = { API_KEY: "VALUE-1", OIDC_ISSUER: "VALUE-2", DB_HOST: "VALUE-3", DB_USER: "VALUE-4", DB_PASSWORD: "VALUE-5" };
  for (const c of envChecks(env).checks) assert.doesNotMatch(c.message, /VALUE-/);
  for (const c of envChecks({ ...env, DATABASE_URL: "mysql://u:VALUE-6@h/d" }).checks) assert.doesNotMatch(c.message, /VALUE-/);
});
test("required values and PREFLIGHT_* themselves may come from NAME_FILE; NAME with NAME_FILE fails, naming both", () => {
  const dir = mkdtempSync(join(tmpdir(), "preflight-"));
  const f = (name: string, content: string): string => { writeFileSync(join(dir, name), content); return join(dir, name); };
  assert.equal(firstFailure({ API_KEY_FILE: f("k", "key\n"), CLIENT_CERT_SUBJECT_HEADER: "h", DATABASE_URL_FILE: f("db", "postgres://u:pw@db/app\n") }), undefined);
  assert.equal(firstFailure({ PREFLIGHT_REQUIRED_FILE: f("req", "SECRET_KEY\n"), SECRET_KEY: "s", ...DB }), undefined);
  assert.equal(firstFailure({ API_KEY_FILE: f("empty", "\n"), CLIENT_CERT_SUBJECT_HEADER: "h", ...DB }), "API_KEY is missing or empty");
  assert.equal(firstFailure({ API_KEY: "k", API_KEY_FILE: f("k2", "k"), CLIENT_CERT_SUBJECT_HEADER: "h", ...DB }), "both API_KEY and API_KEY_FILE are set; set only one");
});
