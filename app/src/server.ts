// The routes of the api, web and worker roles, and the front door every role shares
// (health path, /metrics, maintenance mode).
import { safeEqual, safeEqualAny, bearerToken } from "./auth";
import type { Config } from "./config";
import { withTimeout } from "./db";
import { workerStatus, type WorkerStatus } from "./heartbeat";
import { HttpError, header, readJson, send, type Handler, type Request } from "./http";
import { errMsg, log } from "./log";
import type { Metrics } from "./metrics";
import type { RedisClient } from "./redis";
import { ReadOnlyError, SchemaMissingError, type HeartbeatStore, type Item, type Store } from "./store";

export interface Deps {
  config: Config;
  store?: Store;
  redis?: RedisClient;
  /** Where /system/status reads worker pings: Redis when configured, else the SQLite file. */
  heartbeats?: HeartbeatStore;
  metrics: Metrics;
  /** In memory on purpose: seed 000 runs one instance; a restart resets the counters. */
  telegram: { updates: number; lastUpdateId: number | null };
}

type DepState = "connected" | "disconnected" | "not_configured";

export interface Health {
  status: "ok" | "degraded";
  database: DepState;
  redis: DepState;
  role: string;
  release: string;
  service: string;
}

export async function health(deps: Pick<Deps, "config" | "store" | "redis">): Promise<Health> {
  const [database, redis] = await Promise.all([
    deps.store ? deps.store.ping().then((ok): DepState => (ok ? "connected" : "disconnected")) : Promise.resolve<DepState>("not_configured"),
    deps.redis
      ? withTimeout(deps.redis.ping(), 1000).then((r): DepState => (r === "PONG" ? "connected" : "disconnected"), (): DepState => "disconnected")
      : Promise.resolve<DepState>("not_configured"),
  ]);
  const ok = database !== "disconnected" && redis !== "disconnected";
  const { role, release, service } = deps.config;
  return { status: ok ? "ok" : "degraded", database, redis, role, release, service };
}

/**
 * What every role answers before its own routes: health JSON on HEALTH_PATH, /metrics when the
 * metrics port is the main port, and 503 maintenance for everything else in MAINTENANCE_MODE.
 */
export function frontDoor(config: Config, metrics: Metrics, healthHandler: Handler, inner: Handler): Handler {
  const metricsHere = config.metricsPort === config.port;
  return async (r) => {
    if (r.path === config.healthPath) {
      if (r.method !== "GET" && r.method !== "HEAD") throw new HttpError(405, "method not allowed");
      return healthHandler(r);
    }
    if (metricsHere && r.path === "/metrics") return metricsHandler(metrics)(r);
    if (config.maintenance) throw new HttpError(503, "maintenance", { "retry-after": "300" });
    return inner(r);
  };
}

export function metricsHandler(metrics: Metrics): Handler {
  return async ({ method, path, res }) => {
    if (path !== "/metrics") throw new HttpError(404, "not found");
    if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method not allowed");
    send(res, 200, metrics.render(), "text/plain; version=0.0.4");
  };
}

/** Maps store failures to HTTP errors that say what to do, without any connection detail. */
function storeError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof SchemaMissingError) return new HttpError(503, err.message);
  if (err instanceof ReadOnlyError) return new HttpError(503, "read-only");
  return new HttpError(503, `database unavailable: ${errMsg(err)}`);
}

async function withStore<T>(deps: Deps, f: (s: Store) => Promise<T>): Promise<T> {
  if (!deps.store) throw new HttpError(503, "database not configured (set DATABASE_URL)");
  try {
    return await f(deps.store);
  } catch (err) {
    throw storeError(err);
  }
}

function refuseWhenReadOnly(deps: Deps): void {
  if (deps.config.readOnly) throw new HttpError(503, "read-only");
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** YYYY-MM-DD that is a real calendar date; absent means today (UTC). */
export function parseRunDate(raw: string | null, now: Date = new Date()): string {
  if (raw === null || raw === "") return now.toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || new Date(`${raw}T00:00:00Z`).toISOString().slice(0, 10) !== raw) {
    throw new HttpError(400, "date must be YYYY-MM-DD");
  }
  return raw;
}

const RUN_SOURCES = ["schedule", "manual_replay"] as const;
export function parseRunSource(raw: string | null): (typeof RUN_SOURCES)[number] {
  if (raw === null || raw === "") return "schedule";
  const s = RUN_SOURCES.find((x) => x === raw);
  if (!s) throw new HttpError(400, `source must be one of ${RUN_SOURCES.join(", ")}`);
  return s;
}

type MethodHandlers = Partial<Record<string, (r: Request) => Promise<void>>>;

function appRoutes(deps: Deps): Record<string, MethodHandlers> {
  const { config } = deps;

  const adminAction = (action: string) => async ({ req, res }: Request): Promise<void> => {
    if (config.adminTokens.length === 0) throw new HttpError(404, "not found");
    if (!safeEqualAny(bearerToken(header(req, "authorization")), config.adminTokens)) {
      throw new HttpError(401, "unauthorized", { "www-authenticate": "Bearer" });
    }
    const body = await readJson(req);
    const txId = (body as { txId?: unknown } | null)?.txId;
    const tx = typeof txId === "string" && txId.length <= 200 ? txId : undefined;
    // Recorded in the platform's audit log before it counts as done (read-only: refused, as any write).
    if (deps.store?.recordAudit) {
      refuseWhenReadOnly(deps);
      await withStore(deps, (s) => s.recordAudit!(tx ? `${action} ${tx}` : action));
    }
    log.info("admin action", { action });
    send(res, 200, { ok: true, action, ...(tx ? { txId: tx } : {}) });
  };

  return {
    "/items": {
      GET: async ({ res }) => send(res, 200, { items: await withStore(deps, (s) => s.listItems()) }),
      POST: async ({ req, res }) => {
        refuseWhenReadOnly(deps);
        const name = ((await readJson(req)) as { name?: unknown } | null)?.name;
        if (typeof name !== "string" || name.trim() === "" || name.length > 500) {
          throw new HttpError(400, 'body must be JSON {"name": "<1-500 chars>"}');
        }
        send(res, 201, await withStore(deps, (s) => s.addItem(name)));
      },
    },

    "/workers": {
      GET: async ({ res }) => {
        if (!deps.redis) throw new HttpError(503, "redis not configured (set REDIS_URL)");
        try {
          const keys = (await deps.redis.keys("worker:*:last-ping")) as string[];
          const workers: Record<string, number> = {};
          for (const k of keys.sort()) workers[k.split(":")[1]] = Number(await deps.redis.get(k));
          send(res, 200, { workers });
        } catch (err) { throw new HttpError(503, `redis unavailable: ${errMsg(err)}`); }
      },
    },

    // Seed 001: 200 even when degraded, so a monitor reads the JSON instead of the status code.
    "/system/status": {
      GET: async ({ res }) => {
        const names = config.statusWorkers;
        const [h, beats] = await Promise.all([
          health(deps),
          deps.heartbeats && names.length
            ? deps.heartbeats.readHeartbeats(names).catch(() => new Map<string, number>())
            : Promise.resolve(new Map<string, number>()),
        ]);
        const now = Date.now();
        const workers: Record<string, WorkerStatus> = {};
        for (const n of names) workers[n] = workerStatus(beats.get(n), now);
        const stale = Object.values(workers).some((w) => w.stale);
        send(res, 200, {
          status: h.status === "ok" && !stale ? "ok" : "degraded",
          database: h.database, redis: h.redis, workers, service: config.service, release: config.release,
        });
      },
    },

    // Seed 000: Telegram sends the secret token registered with setWebhook in this header.
    "/webhook/telegram": {
      POST: async ({ req, res }) => {
        const secret = config.telegramWebhookSecret;
        if (!secret) throw new HttpError(404, "not found");
        if (!safeEqual(header(req, "x-telegram-bot-api-secret-token"), secret)) throw new HttpError(401, "unauthorized");
        const updateId = ((await readJson(req)) as { update_id?: unknown } | null)?.update_id;
        deps.telegram.updates++;
        if (typeof updateId === "number" && Number.isSafeInteger(updateId)) deps.telegram.lastUpdateId = updateId;
        send(res, 200, { ok: true });
      },
    },
    "/webhook/telegram/stats": {
      GET: async ({ res }) => {
        if (!config.telegramWebhookSecret) throw new HttpError(404, "not found");
        send(res, 200, { updates: deps.telegram.updates, lastUpdateId: deps.telegram.lastUpdateId });
      },
    },

    // Seed 000: 403 whenever EOD_CRON_SECRET is unset, so a stack that forgot it fails loudly.
    "/jobs/eod": {
      POST: async ({ req, res, query }) => {
        const secret = config.eodCronSecret;
        if (!secret || !safeEqual(header(req, "x-cron-secret"), secret)) throw new HttpError(403, "forbidden");
        refuseWhenReadOnly(deps);
        const date = parseRunDate(query.get("date"));
        const source = parseRunSource(query.get("source"));
        const recorded = deps.store ? await withStore(deps, (s) => s.recordJobRun("eod", date, source)) : undefined;
        log.info("job run", { job: "eod", date, source, recorded: recorded !== undefined });
        send(res, 200, { job: "eod", date, source, recorded: recorded !== undefined });
      },
    },
    "/jobs/runs": {
      GET: async ({ res }) => send(res, 200, { runs: await withStore(deps, (s) => s.listJobRuns()) }),
    },

    "/admin/reconcile": { POST: adminAction("reconcile") },
    "/admin/retry-relayer": { POST: adminAction("retry-relayer") },

    "/": {
      GET: async ({ res }) => {
        if (config.role === "api") {
          send(res, 200, { service: config.service, role: config.role, release: config.release, endpoints: [config.healthPath, "/items", "/system/status", "/jobs/runs"] });
          return;
        }
        const h = await health(deps);
        const items: Item[] = h.database === "connected" ? await withStore(deps, (s) => s.listItems()).catch(() => []) : [];
        const rows = items.map((i) => `<li>#${i.id} ${escapeHtml(i.name)}</li>`).join("");
        send(res, 200,
          `<!doctype html><html><head><title>${escapeHtml(config.service)}</title></head><body><h1>${escapeHtml(config.service)}</h1>` +
          `<p>release ${escapeHtml(h.release)} &middot; database ${h.database} &middot; redis ${h.redis}</p>` +
          `<ul>${rows}</ul></body></html>`, "text/html");
      },
    },
  };
}

/** The handler of the api, web and worker roles (a worker answers health and nothing else). */
export function appHandler(deps: Deps): Handler {
  const routes = deps.config.role === "worker" ? {} : appRoutes(deps);
  const inner: Handler = async (r) => {
    const handlers = Object.prototype.hasOwnProperty.call(routes, r.path) ? routes[r.path] : undefined;
    if (!handlers) throw new HttpError(404, "not found");
    const h = handlers[r.method] ?? (r.method === "HEAD" ? handlers.GET : undefined);
    if (!h) throw new HttpError(405, "method not allowed", { allow: Object.keys(handlers).join(", ") });
    return h(r);
  };
  const healthHandler: Handler = async ({ res }) => {
    const h = await health(deps);
    send(res, h.status === "ok" ? 200 : 503, h);
  };
  return frontDoor(deps.config, deps.metrics, healthHandler, inner);
}
