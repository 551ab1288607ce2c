// Postgres: the connection pool behind PgStore, the migrations, and the preflight's reachability check.
import { Client, Pool, type QueryConfig } from "pg";
import { errMsg, log } from "./log";
import { ReadOnlyError, SchemaMissingError, type Item, type JobRun, type Store } from "./store";

const TIMEOUT_MS = 1000;

export function createPool(url: string, readOnly = false): Pool {
  const pool = new Pool({
    connectionString: url,
    max: 5,
    connectionTimeoutMillis: TIMEOUT_MS,
    idleTimeoutMillis: 10_000,
    query_timeout: 5000,
    // READ_ONLY is enforced by the server too, not only by the routes: a restored database is
    // inspected with sessions that cannot write, whatever code path runs.
    options: readOnly ? "-c default_transaction_read_only=on" : undefined,
  });
  // An idle client losing its server (Postgres restarted) must not crash the process.
  pool.on("error", (err) => log.warn("postgres idle client error", { error: errMsg(err) }));
  return pool;
}

/** Translates the Postgres errors a route can act on; anything else passes through. */
function mapError(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  if (code === "42P01") return new SchemaMissingError("schema missing: run `node /app/dist/main.js migrate`");
  if (code === "25006") return new ReadOnlyError("database session is read-only");
  return err;
}

// run_date is selected as text: pg would turn a `date` into a JS Date at local midnight.
const JOB_RUN_COLUMNS = "id, job, run_date::text AS run_date, source, created_at";

export class PgStore implements Store {
  readonly kind = "postgres";
  constructor(private readonly pool: Pool) {}

  ping(): Promise<boolean> { return pingDb(this.pool); }

  async listItems(): Promise<Item[]> {
    return (await this.query<Item>("SELECT id, name, created_at FROM items ORDER BY id")).rows;
  }
  async addItem(name: string): Promise<Item> {
    return (await this.query<Item>("INSERT INTO items(name) VALUES ($1) RETURNING id, name, created_at", [name])).rows[0];
  }
  async recordJobRun(job: string, runDate: string, source: string): Promise<JobRun> {
    const sql = `INSERT INTO job_runs(job, run_date, source) VALUES ($1, $2, $3) RETURNING ${JOB_RUN_COLUMNS}`;
    return (await this.query<JobRun>(sql, [job, runDate, source])).rows[0];
  }
  async listJobRuns(): Promise<JobRun[]> {
    return (await this.query<JobRun>(`SELECT ${JOB_RUN_COLUMNS} FROM job_runs ORDER BY id`)).rows;
  }
  async recordAudit(action: string): Promise<void> {
    await this.query("INSERT INTO audit_logs(action) VALUES ($1)", [action]);
  }
  async close(): Promise<void> {
    // A query stuck on an unreachable server must not hold the exit.
    await withTimeout(this.pool.end(), 1000).catch(() => undefined);
  }

  private async query<R extends object>(text: string, values?: unknown[]): Promise<{ rows: R[] }> {
    try {
      return await this.pool.query<R & Record<string, unknown>>(text, values);
    } catch (err) {
      throw mapError(err);
    }
  }
}

/** Live check: a real SELECT 1 with a hard deadline. */
export async function pingDb(pool: Pool): Promise<boolean> {
  try {
    // query_timeout per query is honoured by pg but missing from @types/pg's QueryConfig.
    const q: QueryConfig & { query_timeout: number } = { text: "SELECT 1", query_timeout: TIMEOUT_MS };
    await withTimeout(pool.query(q), TIMEOUT_MS + 200);
    return true;
  } catch {
    return false;
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

interface Migration { version: number; name: string; sql: string }

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "create items",
    sql: `CREATE TABLE IF NOT EXISTS items (
            id serial PRIMARY KEY,
            name text NOT NULL,
            created_at timestamptz DEFAULT now()
          )`,
  },
  {
    version: 2,
    name: "create job_runs",
    sql: `CREATE TABLE IF NOT EXISTS job_runs (
            id serial PRIMARY KEY,
            job text NOT NULL,
            run_date date NOT NULL,
            source text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
          )`,
  },
  {
    // Seed 001's platform tables that its runbook acts on with SQL (pause and resume copy
    // trading, read the audit log): the reference app stands in for that platform, so
    // `opsbook pause`, `resume` and `audit-logs` work on its staging stack as the README says.
    version: 3,
    name: "create copy_profiles and audit_logs",
    sql: `CREATE TABLE IF NOT EXISTS copy_profiles (
            id serial PRIMARY KEY,
            user_id text NOT NULL,
            status text NOT NULL
          );
          CREATE TABLE IF NOT EXISTS audit_logs (
            id serial PRIMARY KEY,
            action text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
          )`,
  },
];

// Errors worth waiting out while the database container starts.
const TRANSIENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "ETIMEDOUT", "57P03"]);

function isTransient(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  if (code && TRANSIENT.has(code)) return true;
  return /timeout|terminated|Connection terminated/i.test(errMsg(err));
}

/** Connects, retrying errors worth waiting out until `deadline` (epoch ms). */
async function connectUntil(url: string, deadline: number): Promise<Client> {
  for (let attempt = 1; ; attempt++) {
    const timeout = Math.max(500, Math.min(3000, deadline - Date.now()));
    const client = new Client({ connectionString: url, connectionTimeoutMillis: timeout });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (!isTransient(err) || Date.now() + 1000 >= deadline) throw err;
      log.warn("database not reachable yet; retrying", { attempt, error: errMsg(err) });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Preflight: the database answers SELECT 1 within `seconds` (waiting out a server still starting). */
export async function selectOneWithin(url: string, seconds: number): Promise<void> {
  const work = (async () => {
    const client = await connectUntil(url, Date.now() + seconds * 1000);
    try {
      await client.query("SELECT 1");
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  await withTimeout(work, seconds * 1000 + 500);
}

/** Applies pending migrations under an advisory lock. Returns the versions applied. */
export async function migrate(url: string, waitSeconds: number): Promise<number[]> {
  const client = await connectUntil(url, Date.now() + waitSeconds * 1000);
  try {
    await client.query("SELECT pg_advisory_lock(727274)");
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations(version, name) VALUES ($1, $2)", [m.version, m.name]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw new Error(`migration ${m.version} (${m.name}) failed: ${errMsg(err)}`);
      }
      applied.push(m.version);
    }
    await client.query("SELECT pg_advisory_unlock(727274)");
    return applied;
  } finally {
    await client.end().catch(() => undefined);
  }
}
