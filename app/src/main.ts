// opsbook reference app. Env is documented in config.ts.
//   node dist/main.js                       serve, role from APP_ROLE (api | worker | web | scheduler)
//   node dist/main.js migrate               create/update the schema, then exit
//   node dist/main.js preflight             check env and database before migrating (exit 1 on failure)
//   node dist/main.js sqlite-backup <file>  online backup of the SQLite database to <file>
import { describeDatabase, describeUrl, envValue, loadConfig, resolveDatabase, type Config, type DatabaseTarget } from "./config";
import { PgStore, createPool, migrate } from "./db";
import { RedisHeartbeats, startHeartbeats } from "./heartbeat";
import { startHttp, type RunningServer } from "./http";
import { errMsg, log } from "./log";
import { Metrics } from "./metrics";
import { runPreflight } from "./preflight";
import { RedisClient } from "./redis";
import { Scheduler, schedulerHandler } from "./scheduler";
import { appHandler, metricsHandler, type Deps } from "./server";
import { SqliteStore, sqliteBackup } from "./sqlite";
import type { HeartbeatStore, Store } from "./store";

const SHUTDOWN_GRACE_MS = 8000;

function needDatabase(cmd: string): DatabaseTarget {
  const target = resolveDatabase();
  if (!target) throw new Error(`${cmd} needs a database: set DATABASE_URL (or DATABASE_URL_FILE, or DB_HOST/DB_USER/DB_PASSWORD)`);
  return target;
}

async function runMigrate(): Promise<void> {
  if (envValue("MIGRATE_FAIL") === "1") throw new Error("MIGRATE_FAIL=1 is set: failing deliberately");
  const target = needDatabase("migrate");
  log.info("migrate starting", { database: describeDatabase(target) });
  if (target.kind === "sqlite") {
    // SQLite has no migration role: the same idempotent schema the app applies on startup.
    await new SqliteStore(target.path).init();
    log.info("migrate done", { applied: "sqlite schema ensured" });
    return;
  }
  const wait = Number(envValue("MIGRATE_WAIT_SECONDS") || "30");
  const applied = await migrate(target.url, Number.isFinite(wait) ? wait : 30);
  log.info("migrate done", { applied });
}

async function runSqliteBackup(file: string | undefined): Promise<void> {
  if (!file) throw new Error("usage: node /app/dist/main.js sqlite-backup /data/backups/<file>.db");
  const target = needDatabase("sqlite-backup");
  if (target.kind !== "sqlite") throw new Error("sqlite-backup needs DATABASE_MODE=sqlite (a sqlite: DATABASE_URL); use pg_dump for Postgres");
  const r = await sqliteBackup(target.path, file);
  log.info("sqlite backup done", { database: target.path, file, bytes: r.bytes, ms: r.ms });
}

async function openStore(config: Config): Promise<Store | undefined> {
  const db = config.database;
  if (!db) return undefined;
  if (db.kind === "postgres") return new PgStore(createPool(db.url, config.readOnly));
  const store = new SqliteStore(db.path, config.readOnly);
  try {
    await store.init();
  } catch (err) {
    throw new Error(`cannot prepare the SQLite database as uid ${process.getuid?.() ?? "?"} (is its directory a writable volume?): ${errMsg(err)}`);
  }
  return store;
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const metrics = new Metrics({ release: config.release, service: config.service });
  const servers: RunningServer[] = [];
  const stoppers: Array<() => Promise<void> | void> = [];
  let store: Store | undefined;
  let redis: RedisClient | undefined;

  if (config.role === "scheduler") {
    const scheduler = new Scheduler(config.jobs);
    servers.push(await startHttp(config.port, schedulerHandler(config, scheduler, metrics), metrics));
    scheduler.start();
    stoppers.push(() => scheduler.stop(SHUTDOWN_GRACE_MS));
  } else {
    store = await openStore(config);
    redis = config.redisUrl ? new RedisClient(config.redisUrl) : undefined;
    // SQLite mode keeps heartbeats in the database file (seed 003 has no Redis).
    const heartbeats: HeartbeatStore | undefined =
      store instanceof SqliteStore ? store : redis ? new RedisHeartbeats(redis) : undefined;
    const deps: Deps = { config, store, redis, heartbeats, metrics, telegram: { updates: 0, lastUpdateId: null } };
    servers.push(await startHttp(config.port, appHandler(deps), metrics));
    if (config.role === "worker") {
      if (heartbeats) stoppers.push(startHeartbeats(heartbeats, config.workerNames, store instanceof SqliteStore ? "sqlite" : "redis"));
      else log.warn("worker has neither REDIS_URL nor a SQLite database: no heartbeats to write");
    }
  }
  if (config.metricsPort !== undefined && config.metricsPort !== config.port) {
    servers.push(await startHttp(config.metricsPort, metricsHandler(metrics)));
  }

  log.info("listening", {
    role: config.role,
    service: config.service,
    port: config.port,
    metricsPort: config.metricsPort ?? null,
    healthPath: config.healthPath,
    release: config.release,
    database: describeDatabase(config.database),
    redis: config.redisUrl ? describeUrl(config.redisUrl) : "not_configured",
    maintenance: config.maintenance,
    readOnly: config.readOnly,
    ...(config.role === "worker" ? { workers: config.workerNames } : {}),
    ...(config.role === "scheduler" ? { jobs: config.jobs.map((j) => `${j.name} (${j.schedule})`) } : {}),
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    // Hard deadline well inside the 10 s a container runtime usually waits.
    setTimeout(() => { log.warn("shutdown deadline reached"); process.exit(0); }, SHUTDOWN_GRACE_MS + 1000).unref();
    Promise.allSettled([...stoppers.map(async (s) => s()), ...servers.map((s) => s.shutdown(SHUTDOWN_GRACE_MS))])
      .then(async () => {
        redis?.close();
        await store?.close();
      })
      .finally(() => {
        log.info("stopped");
        process.exit(0);
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

async function main(): Promise<void> {
  const [cmd = "serve", arg] = process.argv.slice(2);
  switch (cmd) {
    case "serve":
      return serve();
    case "migrate":
      await runMigrate();
      return process.exit(0);
    case "preflight":
      return process.exit((await runPreflight()) ? 0 : 1);
    case "sqlite-backup":
      await runSqliteBackup(arg);
      return process.exit(0);
    default:
      throw new Error(`unknown command "${cmd}" (expected: serve | migrate | preflight | sqlite-backup <file>)`);
  }
}

main().catch((err: unknown) => {
  const cmd = process.argv[2] ?? "serve";
  log.error(`${cmd} failed`, { error: errMsg(err) });
  process.stderr.write(`${cmd} failed: ${errMsg(err)}\n`);
  process.exit(1);
});
