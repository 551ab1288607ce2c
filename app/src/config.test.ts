import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { envValue, loadConfig, parseBool, parseList, parsePort, resolveDatabase, secretEnv, sqlitePath } from "./config";
import { cronMatches } from "./cron";
import { parseJobs } from "./jobs";

describe("env parsing helpers", () => {
  test("parseBool", () => {
    for (const t of ["true", "TRUE", "1", "yes", "on", " true "]) assert.equal(parseBool("X", t), true);
    for (const f of ["false", "0", "no", "off", "", undefined]) assert.equal(parseBool("X", f), false);
    assert.throws(() => parseBool("MAINTENANCE_MODE", "maybe"), /MAINTENANCE_MODE must be true or false/);
  });
  test("parseList", () => {
    assert.deepEqual(parseList(" a, b,,c ,"), ["a", "b", "c"]);
    assert.deepEqual(parseList(undefined), []);
  });
  test("parsePort", () => {
    assert.equal(parsePort("P", "9100"), 9100);
    assert.equal(parsePort("P", undefined, 8080), 8080);
    assert.equal(parsePort("P", ""), undefined);
    assert.throws(() => parsePort("METRICS_PORT", "70000"), /METRICS_PORT must be 1-65535/);
  });
  test("secretEnv reads NAME or NAME_FILE, not both", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    writeFileSync(join(dir, "s"), "from-file\n");
    assert.equal(secretEnv("S", { S_FILE: join(dir, "s") }), "from-file");
    assert.equal(secretEnv("S", { S: "direct" }), "direct");
    assert.equal(secretEnv("S", { S: "" }), undefined);
    assert.throws(() => secretEnv("S", { S: "a", S_FILE: "/x" }), /both S and S_FILE/);
  });
});

describe("envValue: NAME or the file named by NAME_FILE (swarm secrets at /run/secrets/NAME)", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-file-"));
  const file = (name: string, content: string): string => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  test("reads the file, stripping exactly one trailing newline (LF or CRLF)", () => {
    assert.equal(envValue("A", { A_FILE: file("a", "value\n") }), "value");
    assert.equal(envValue("A", { A_FILE: file("a2", "value\r\n") }), "value");
    assert.equal(envValue("A", { A_FILE: file("a3", "value\n\n") }), "value\n");
    assert.equal(envValue("A", { A_FILE: file("a4", "no newline") }), "no newline");
    assert.equal(envValue("A", { A_FILE: file("a5", " spaced \n") }), " spaced ");
  });
  test("unset stays undefined, empty stays empty (secretEnv treats empty as unset)", () => {
    assert.equal(envValue("A", {}), undefined);
    assert.equal(envValue("A", { A: "" }), "");
    assert.equal(envValue("A", { A_FILE: file("empty", "\n") }), "");
    assert.equal(secretEnv("A", { A_FILE: file("empty2", "") }), undefined);
    // An empty NAME next to NAME_FILE is "not set": the file wins.
    assert.equal(envValue("A", { A: "", A_FILE: file("a6", "f\n") }), "f");
  });
  test("both set is an error naming both, never the values", () => {
    assert.throws(
      () => envValue("DATABASE_URL", { DATABASE_URL: "postgres://u:hunter2@db/app", DATABASE_URL_FILE: file("db", "postgres://u:hunter3@db/app\n") }),
      (e: Error) => /both DATABASE_URL and DATABASE_URL_FILE are set/.test(e.message) && !/hunter/.test(e.message),
    );
  });
  test("an unreadable file names the variable and the path", () => {
    assert.throws(() => envValue("TOKEN", { TOKEN_FILE: join(dir, "missing") }), /cannot read TOKEN_FILE \(.*missing\): ENOENT/);
  });
  test("loadConfig takes every variable from files: secrets and plain settings alike", () => {
    const c = loadConfig({
      APP_ROLE_FILE: file("role", "worker\n"),
      PORT_FILE: file("port", "9090\n"),
      DATABASE_URL_FILE: file("dburl", "postgres://app:s3cr3t@db:5432/app\n"),
      REDIS_URL_FILE: file("redis", "redis://:pw@redis:6379/0\n"),
      ADMIN_TOKEN_FILE: file("admin", "tok\n"),
      EOD_CRON_SECRET_FILE: file("eod", "cron\n"),
      WORKER_NAMES_FILE: file("workers", "a,b\n"),
      MAINTENANCE_MODE_FILE: file("maint", "true\n"),
    });
    assert.equal(c.role, "worker");
    assert.equal(c.port, 9090);
    assert.deepEqual(c.database, { kind: "postgres", url: "postgres://app:s3cr3t@db:5432/app" });
    assert.equal(c.redisUrl, "redis://:pw@redis:6379/0");
    assert.deepEqual(c.adminTokens, ["tok"]);
    assert.equal(c.eodCronSecret, "cron");
    assert.deepEqual(c.workerNames, ["a", "b"]);
    assert.equal(c.maintenance, true);
  });
  test("the DB_* trio from files", () => {
    const t = resolveDatabase({ DB_HOST: "db", DB_USER_FILE: file("u", "app\n"), DB_PASSWORD_FILE: file("p", "p@ss\n"), DB_NAME_FILE: file("n", "flash\n") });
    const u = new URL((t as { url: string }).url);
    assert.equal(decodeURIComponent(u.password), "p@ss");
    assert.equal(u.username, "app");
    assert.equal(u.pathname, "/flash");
  });
  test("loadConfig refuses NAME with NAME_FILE at startup", () => {
    assert.throws(() => loadConfig({ PORT: "8080", PORT_FILE: file("port2", "9090") }), /both PORT and PORT_FILE are set/);
    assert.throws(() => loadConfig({ ADMIN_TOKEN: "x", ADMIN_TOKEN_FILE: file("adm2", "y") }), /both ADMIN_TOKEN and ADMIN_TOKEN_FILE are set/);
  });
});

describe("resolveDatabase", () => {
  test("none", () => assert.equal(resolveDatabase({}), undefined));
  test("postgres URL", () => {
    assert.deepEqual(resolveDatabase({ DATABASE_URL: "postgres://u:p@db:5432/app" }), { kind: "postgres", url: "postgres://u:p@db:5432/app" });
  });
  test("DB_* trio builds a URL with escaped parts", () => {
    const t = resolveDatabase({ DB_HOST: "db", DB_USER: "app", DB_PASSWORD: "p@ss/w:rd", DB_NAME: "flash" });
    assert.equal(t?.kind, "postgres");
    const u = new URL((t as { url: string }).url);
    assert.equal(decodeURIComponent(u.password), "p@ss/w:rd");
    assert.equal(u.hostname, "db");
    assert.equal(u.port, "5432");
    assert.equal(u.pathname, "/flash");
  });
  test("DATABASE_URL wins over the trio", () => {
    const t = resolveDatabase({ DATABASE_URL: "postgres://a@x/y", DB_HOST: "db", DB_USER: "u", DB_PASSWORD: "p" });
    assert.equal((t as { url: string }).url, "postgres://a@x/y");
  });
  test("an incomplete trio names what is missing, never the password", () => {
    assert.throws(() => resolveDatabase({ DB_HOST: "db", DB_PASSWORD: "hunter2" }), (e: Error) => /DB_USER/.test(e.message) && !/hunter2/.test(e.message));
  });
  test("sqlite", () => {
    assert.deepEqual(resolveDatabase({ DATABASE_URL: "sqlite:////data/s.db", DATABASE_MODE: "sqlite" }), { kind: "sqlite", path: "/data/s.db" });
    assert.deepEqual(resolveDatabase({ DATABASE_URL: "sqlite:////data/s.db" }), { kind: "sqlite", path: "/data/s.db" });
    assert.equal(sqlitePath("sqlite:///./data/s.db"), "./data/s.db");
    assert.throws(() => resolveDatabase({ DATABASE_MODE: "sqlite" }), /DATABASE_URL=sqlite/);
    assert.throws(() => resolveDatabase({ DATABASE_MODE: "sqlite", DATABASE_URL: "postgres://x/y" }), /not a sqlite: URL/);
    assert.throws(() => resolveDatabase({ DATABASE_MODE: "postgres", DATABASE_URL: "sqlite:////d.db" }), /DATABASE_MODE is postgres/);
    assert.throws(() => resolveDatabase({ DATABASE_MODE: "mysql" }), /DATABASE_MODE must be/);
  });
  test("a bad URL is reported without its value", () => {
    assert.throws(() => resolveDatabase({ DATABASE_URL: "mysql://u:topsecret@h/d" }), (e: Error) => !/topsecret/.test(e.message));
  });
});

describe("loadConfig", () => {
  test("defaults", () => {
    const c = loadConfig({});
    assert.equal(c.role, "api");
    assert.equal(c.service, "api");
    assert.equal(c.healthPath, "/health");
    assert.equal(c.port, 8080);
    assert.deepEqual(c.workerNames, ["default"]);
    assert.equal(c.maintenance, false);
    assert.equal(c.readOnly, false);
    assert.deepEqual(c.adminTokens, []);
    assert.equal(c.metricsPort, undefined);
  });
  test("service, health path, flags, tokens", () => {
    const c = loadConfig({ APP_ROLE: "web", SERVICE_NAME: "front", HEALTH_PATH: "/api/health", MAINTENANCE_MODE: "true", READ_ONLY: "1", ADMIN_API_KEY: "k", METRICS_PORT: "9100" });
    assert.equal(c.service, "front");
    assert.equal(c.healthPath, "/api/health");
    assert.equal(c.maintenance, true);
    assert.equal(c.readOnly, true);
    assert.deepEqual(c.adminTokens, ["k"]);
    assert.equal(c.metricsPort, 9100);
  });
  test("WORKER_NAMES, else WORKER_NAME", () => {
    assert.deepEqual(loadConfig({ WORKER_NAME: "solo" }).workerNames, ["solo"]);
    assert.deepEqual(loadConfig({ WORKER_NAME: "solo", WORKER_NAMES: "a,b" }).workerNames, ["a", "b"]);
    assert.throws(() => loadConfig({ WORKER_NAMES: "a:b" }), /not a valid worker name/);
  });
  test("rejects an unknown role and a bad health path", () => {
    assert.throws(() => loadConfig({ APP_ROLE: "cron" }), /APP_ROLE must be one of/);
    assert.throws(() => loadConfig({ HEALTH_PATH: "health" }), /HEALTH_PATH/);
  });
  test("scheduler needs JOBS", () => {
    assert.throws(() => loadConfig({ APP_ROLE: "scheduler" }), /JOBS must be set/);
    assert.equal(loadConfig({ APP_ROLE: "scheduler", JOBS: "[]" }).jobs.length, 0);
  });
});

describe("parseJobs", () => {
  const eod = { name: "eod", schedule: "5 0 * * *", method: "POST", url: "http://app:8080/jobs/eod", secretHeader: { header: "X-Cron-Secret", secret: "EOD_CRON_SECRET" } };
  test("a valid job", () => {
    const [j] = parseJobs(JSON.stringify([eod]));
    assert.equal(j.name, "eod");
    assert.equal(j.method, "POST");
    assert.deepEqual(j.secretHeader, { header: "X-Cron-Secret", secret: "EOD_CRON_SECRET" });
    assert.ok(cronMatches(j.cron, new Date("2025-01-31T00:05:00Z")));
  });
  const cases: Array<[string, unknown, RegExp]> = [
    ["not JSON", "{", /not valid JSON/],
    ["not an array", {}, /JSON array/],
    ["bad name", [{ ...eod, name: "a b" }], /JOBS\[0\]\.name/],
    ["bad cron", [{ ...eod, schedule: "daily" }], /cron/],
    ["bad method", [{ ...eod, method: "FETCH" }], /method/],
    ["credentials in url", [{ ...eod, url: "http://u:p@app/x" }], /credentials/],
    ["ftp url", [{ ...eod, url: "ftp://app/x" }], /http or https/],
    ["secret value instead of a name", [{ ...eod, secretHeader: { header: "X-Cron-Secret", secret: "abc def!" } }], /NAME of an env var/],
    ["duplicate", [eod, eod], /appears twice/],
  ];
  for (const [what, v, re] of cases) test(`rejects ${what}`, () => assert.throws(() => parseJobs(typeof v === "string" ? v : JSON.stringify(v)), re));
});
