// SQLite mode (seed 003: one database file on a volume, shared by web and worker).
//
// Why the sqlite3 CLI: Node 18 (Debian bookworm's) has no built-in SQLite; the npm drivers are
// native addons that need a compiler and node-gyp at build time (or a prebuilt binary download,
// which our offline build cannot do); a WASM build (sql.js) holds the database in memory and
// rewrites the whole file, so two processes sharing it would lose each other's writes. Debian's
// `sqlite3` package is small, real SQLite (WAL, busy timeout, online .backup) and takes no build
// step. The cost is one short-lived process per query, which is fine for a reference app.
//
// Safety: parameters never reach SQL as text. bindParams() turns every string into a hex blob
// literal (X'...', only [0-9a-f]) cast to TEXT and every number into a validated numeric
// literal, so no value can change the statement. SQL goes in on stdin, not argv (ps shows argv),
// and the child gets a minimal env: the app's secrets are not passed on.
import { spawn } from "node:child_process";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { errMsg } from "./log";
import { ReadOnlyError, SchemaMissingError, type HeartbeatStore, type Item, type JobRun, type Store } from "./store";

export type Param = string | number | null;
type Row = Record<string, unknown>;

const BUSY_TIMEOUT_MS = 5000;
const QUERY_DEADLINE_MS = 15_000;
const PING_DEADLINE_MS = 2000;
const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

/** Replaces each `?` of `sql` (our own constant SQL: no `?` inside its literals) with a safe literal. */
export function bindParams(sql: string, params: readonly Param[]): string {
  let i = 0;
  const out = sql.replace(/\?/g, () => {
    if (i >= params.length) throw new Error(`bindParams: more placeholders than the ${params.length} params`);
    const p = params[i++];
    if (p === null) return "NULL";
    if (typeof p === "number") {
      if (!Number.isFinite(p)) throw new Error("bindParams: numbers must be finite");
      return String(p);
    }
    return `CAST(X'${Buffer.from(p, "utf8").toString("hex")}' AS TEXT)`;
  });
  if (i !== params.length) throw new Error(`bindParams: ${params.length} params for ${i} placeholders`);
  return out;
}

/** Rows of the last result set of `sqlite3 -json` output ("" when the statement returned none). */
export function parseJsonOutput(stdout: string): Row[] {
  const text = stdout.trim();
  if (text === "") return [];
  // Each result set is one JSON array; sets are separated by a newline, which JSON strings
  // cannot contain unescaped, so "]\n[" only ever occurs between sets.
  const sets = text.split(/\]\s*\n\s*\[/);
  const last = sets.length === 1 ? sets[0] : `[${sets[sets.length - 1]}`;
  return JSON.parse(last) as Row[];
}

interface RunResult { stdout: string; stderr: string; code: number | null }

function runSqlite(dbPath: string, script: string, deadlineMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("sqlite3", ["-bail", "-batch", "-json", dbPath], {
      stdio: ["pipe", "pipe", "pipe"],
      // Temp files (sorts, large results) go to the /tmp tmpfs: the root filesystem is read-only.
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", SQLITE_TMPDIR: "/tmp" },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), deadlineMs);
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => { if (err.length < 64) err.push(d); });
    child.on("error", (e) => {
      clearTimeout(timer);
      const code = (e as NodeJS.ErrnoException).code;
      reject(code === "ENOENT" ? new Error("the sqlite3 CLI is not installed (apt-get install sqlite3)") : e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL") return reject(new Error(`sqlite3 did not finish within ${deadlineMs} ms`));
      resolve({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), code });
    });
    // A child that died before reading stdin raises EPIPE here; its exit code tells the story.
    child.stdin.on("error", () => undefined);
    child.stdin.end(script);
  });
}

/** `readOnly`: the session ran with query_only, so a refused write is READ_ONLY doing its job. */
function sqliteError(stderr: string, dbPath: string, readOnly = false): Error {
  const msg = stderr.trim().split("\n")[0].replace(/^(Parse|Runtime) error near line \d+: /, "") || "sqlite3 failed";
  if (/no such table/i.test(msg)) return new SchemaMissingError(`schema missing in ${dbPath}: ${msg}`);
  if (readOnly && /readonly database/i.test(msg)) return new ReadOnlyError("database session is read-only");
  return new Error(`sqlite ${dbPath}: ${msg}`);
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (${NOW}));
CREATE TABLE IF NOT EXISTS job_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  run_date TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (${NOW}));
CREATE TABLE IF NOT EXISTS heartbeats (
  name TEXT PRIMARY KEY,
  last_ping INTEGER NOT NULL,
  updated_at TEXT NOT NULL DEFAULT (${NOW}));
`;

export class SqliteStore implements Store, HeartbeatStore {
  readonly kind = "sqlite";
  constructor(readonly path: string, private readonly readOnly = false) {}

  /**
   * Seed 003's app creates its tables on startup. WAL lets the web and the worker (and a backup)
   * read while one writes; it is a property of the file, so setting it once is enough.
   * Skipped in read-only mode, which must not change the file.
   */
  async init(): Promise<void> {
    if (this.readOnly) return;
    const rows = await this.query(`PRAGMA journal_mode=WAL;\n${SCHEMA}`);
    const mode = rows[0]?.journal_mode;
    if (mode !== "wal") throw new Error(`sqlite ${this.path}: could not switch to WAL (journal_mode=${String(mode)})`);
  }

  /** Runs SQL with `?` parameters. At most one statement may return rows. */
  async query(sql: string, params: readonly Param[] = [], deadlineMs = QUERY_DEADLINE_MS): Promise<Row[]> {
    const guard = this.readOnly ? "PRAGMA query_only=1;\n" : "";
    const script = `.timeout ${BUSY_TIMEOUT_MS}\n${guard}${bindParams(sql, params)}\n`;
    const r = await runSqlite(this.path, script, deadlineMs);
    if (r.code !== 0) throw sqliteError(r.stderr, this.path, this.readOnly);
    return parseJsonOutput(r.stdout);
  }

  async ping(): Promise<boolean> {
    try {
      // Reading sqlite_master opens the file for real; a bare SELECT 1 would not touch it.
      const rows = await this.query("SELECT 1 AS ok, count(*) AS tables FROM sqlite_master;", [], PING_DEADLINE_MS);
      return rows[0]?.ok === 1;
    } catch {
      return false;
    }
  }

  async listItems(): Promise<Item[]> {
    return (await this.query("SELECT id, name, created_at FROM items ORDER BY id;")) as unknown as Item[];
  }
  async addItem(name: string): Promise<Item> {
    const rows = await this.query("INSERT INTO items(name) VALUES (?) RETURNING id, name, created_at;", [name]);
    return rows[0] as unknown as Item;
  }
  async recordJobRun(job: string, runDate: string, source: string): Promise<JobRun> {
    const sql = "INSERT INTO job_runs(job, run_date, source) VALUES (?, ?, ?) RETURNING id, job, run_date, source, created_at;";
    return (await this.query(sql, [job, runDate, source]))[0] as unknown as JobRun;
  }
  async listJobRuns(): Promise<JobRun[]> {
    return (await this.query("SELECT id, job, run_date, source, created_at FROM job_runs ORDER BY id;")) as unknown as JobRun[];
  }

  async writeHeartbeats(names: readonly string[], atMs: number): Promise<void> {
    if (names.length === 0) return;
    const values = names.map(() => "(?, ?)").join(", ");
    await this.query(
      `INSERT INTO heartbeats(name, last_ping) VALUES ${values}
       ON CONFLICT(name) DO UPDATE SET last_ping = excluded.last_ping, updated_at = ${NOW};`,
      names.flatMap((n) => [n, atMs]),
    );
  }
  async readHeartbeats(names: readonly string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (names.length === 0) return found;
    const rows = await this.query(`SELECT name, last_ping FROM heartbeats WHERE name IN (${names.map(() => "?").join(", ")});`, names);
    for (const r of rows) found.set(String(r.name), Number(r.last_ping));
    return found;
  }

  async close(): Promise<void> { /* nothing held open between queries */ }
}

/**
 * Online backup with SQLite's backup API (the CLI's .backup): a consistent copy taken while the
 * app keeps writing, with no writer blocked in WAL mode. It is written to <target>.partial,
 * checked with PRAGMA integrity_check, then renamed, so a file at `target` is always complete.
 */
export async function sqliteBackup(dbPath: string, target: string): Promise<{ bytes: number; ms: number }> {
  if (!target.startsWith("/")) throw new Error("sqlite-backup: the target must be an absolute path, e.g. /data/backups/app-20250101.db");
  // The path goes into a quoted dot-command argument: refuse what could end the quoting.
  if (/['"\\\n\r]/.test(target)) throw new Error("sqlite-backup: the target path must not contain quotes, backslashes or newlines");
  const started = Date.now();
  const partial = `${target}.partial`;
  await mkdir(dirname(target), { recursive: true, mode: 0o750 });
  await rm(partial, { force: true });
  try {
    const r = await runSqlite(dbPath, `.timeout ${BUSY_TIMEOUT_MS}\n.backup '${partial}'\n`, 10 * 60_000);
    if (r.code !== 0) throw sqliteError(r.stderr, dbPath);
    const check = await runSqlite(partial, "PRAGMA integrity_check;\n", 10 * 60_000);
    const rows = check.code === 0 ? parseJsonOutput(check.stdout) : [];
    if (rows[0]?.integrity_check !== "ok") throw new Error(`sqlite-backup: the copy failed integrity_check: ${errMsg(check.stderr || JSON.stringify(rows))}`);
    await rename(partial, target);
  } catch (err) {
    await rm(partial, { force: true }).catch(() => undefined);
    throw err;
  }
  return { bytes: (await stat(target)).size, ms: Date.now() - started };
}
