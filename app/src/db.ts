import { Client, Pool, type QueryConfig } from "pg";
import { errMsg, log } from "./log";

const TIMEOUT_MS = 1000;

export function createPool(url: string): Pool {
  const pool = new Pool({
    connectionString: url,
    max: 5,
    connectionTimeoutMillis: TIMEOUT_MS,
    idleTimeoutMillis: 10_000,
    query_timeout: 5000,
  });
  // An idle client losing its server (Postgres restarted) must not crash the process.
  pool.on("error", (err) => log.warn("postgres idle client error", { error: errMsg(err) }));
  return pool;
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
];

// Errors worth waiting out while the database container starts.
const TRANSIENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "ETIMEDOUT", "57P03"]);

function isTransient(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  if (code && TRANSIENT.has(code)) return true;
  return /timeout|terminated|Connection terminated/i.test(errMsg(err));
}

/** Applies pending migrations under an advisory lock. Returns the versions applied. */
export async function migrate(url: string, waitSeconds: number): Promise<number[]> {
  const deadline = Date.now() + waitSeconds * 1000;
  let client: Client;
  for (let attempt = 1; ; attempt++) {
    client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      break;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (!isTransient(err) || Date.now() >= deadline) throw err;
      log.warn("database not reachable yet; retrying", { attempt, error: errMsg(err) });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
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
