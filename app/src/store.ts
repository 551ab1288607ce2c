// What the HTTP routes need from a database, so Postgres and SQLite are interchangeable.
export interface Item { id: number; name: string; created_at: string }
export interface JobRun { id: number; job: string; run_date: string; source: string; created_at: string }

export interface Store {
  readonly kind: "postgres" | "sqlite";
  /** Live check (SELECT 1 against the real database) with a short deadline; never throws. */
  ping(): Promise<boolean>;
  listItems(): Promise<Item[]>;
  addItem(name: string): Promise<Item>;
  recordJobRun(job: string, runDate: string, source: string): Promise<JobRun>;
  listJobRuns(): Promise<JobRun[]>;
  /** Appends an admin action to seed 001's audit log (Postgres only: no SQLite system has one). */
  recordAudit?(action: string): Promise<void>;
  close(): Promise<void>;
}

/** Where worker heartbeats live: Redis keys, or a SQLite table when there is no Redis. */
export interface HeartbeatStore {
  /** Record `atMs` as the last ping of every name. */
  writeHeartbeats(names: readonly string[], atMs: number): Promise<void>;
  /** Last ping (epoch ms) per name; missing names are absent from the map. */
  readHeartbeats(names: readonly string[]): Promise<Map<string, number>>;
}

/** The table a query needs does not exist: the schema has not been migrated. */
export class SchemaMissingError extends Error {}
/** A write was refused because the database session is read-only (READ_ONLY=true). */
export class ReadOnlyError extends Error {}
