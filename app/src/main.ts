// opsbook reference app.
//   node dist/main.js            serve, role from APP_ROLE (api | worker | web)
//   node dist/main.js migrate    create/update the schema, then exit
import { describeUrl, loadConfig, secretEnv, type Config } from "./config";
import { createPool, migrate, withTimeout } from "./db";
import { errMsg, log } from "./log";
import { RedisClient } from "./redis";
import { startServer, type Deps } from "./server";

const SHUTDOWN_GRACE_MS = 8000;
const WORKER_INTERVAL_MS = 10_000;

async function runMigrate(): Promise<void> {
  if (process.env.MIGRATE_FAIL === "1") throw new Error("MIGRATE_FAIL=1 is set: failing deliberately");
  const url = secretEnv("DATABASE_URL");
  if (!url) throw new Error("DATABASE_URL (or DATABASE_URL_FILE) must be set for migrate");
  const wait = Number(process.env.MIGRATE_WAIT_SECONDS || "30");
  log.info("migrate starting", { database: describeUrl(url) });
  const applied = await migrate(url, Number.isFinite(wait) ? wait : 30);
  log.info("migrate done", { applied });
}

function startWorker(config: Config, redis: RedisClient | undefined): () => void {
  if (!redis) {
    log.warn("worker has no REDIS_URL: nothing to do");
    return () => undefined;
  }
  const key = `worker:${config.workerName}:last-ping`;
  const tick = (): void => {
    const now = Date.now();
    redis.set(key, String(now), 300).then(
      () => log.info("worker ping", { key, at: now }),
      (err: unknown) => log.warn("worker ping failed", { key, error: errMsg(err) }),
    );
  };
  tick();
  const timer = setInterval(tick, WORKER_INTERVAL_MS);
  return () => clearInterval(timer);
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const deps: Deps = {
    config,
    pool: config.databaseUrl ? createPool(config.databaseUrl) : undefined,
    redis: config.redisUrl ? new RedisClient(config.redisUrl) : undefined,
  };
  const running = await startServer(deps);
  const stopWorker = config.role === "worker" ? startWorker(config, deps.redis) : () => undefined;
  log.info("listening", {
    role: config.role,
    port: config.port,
    release: config.release,
    database: config.databaseUrl ? describeUrl(config.databaseUrl) : "not_configured",
    redis: config.redisUrl ? describeUrl(config.redisUrl) : "not_configured",
  });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    stopWorker();
    // Hard deadline well inside the 10 s a container runtime usually waits.
    setTimeout(() => { log.warn("shutdown deadline reached"); process.exit(0); }, SHUTDOWN_GRACE_MS + 1000).unref();
    running.shutdown(SHUTDOWN_GRACE_MS)
      .then(async () => {
        deps.redis?.close();
        // A query stuck on an unreachable server must not hold the exit.
        if (deps.pool) await withTimeout(deps.pool.end(), 1000).catch(() => undefined);
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
  const cmd = process.argv[2] ?? "serve";
  if (cmd === "migrate") {
    await runMigrate();
    process.exit(0);
  }
  if (cmd !== "serve") throw new Error(`unknown command "${cmd}" (expected: serve | migrate)`);
  await serve();
}

main().catch((err: unknown) => {
  const cmd = process.argv[2] ?? "serve";
  log.error(`${cmd} failed`, { error: errMsg(err) });
  process.stderr.write(`${cmd} failed: ${errMsg(err)}\n`);
  process.exit(1);
});
