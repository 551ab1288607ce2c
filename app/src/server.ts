import * as http from "node:http";
import type { Pool } from "pg";
import type { Config } from "./config";
import { pingDb, withTimeout } from "./db";
import { errMsg, log } from "./log";
import { RedisClient } from "./redis";

export interface Deps {
  config: Config;
  pool?: Pool;
  redis?: RedisClient;
}

type DepState = "connected" | "disconnected" | "not_configured";

export interface Health {
  status: "ok" | "degraded";
  database: DepState;
  redis: DepState;
  role: string;
  release: string;
}

export async function health(deps: Deps): Promise<Health> {
  const [database, redis] = await Promise.all([
    deps.pool ? pingDb(deps.pool).then((ok): DepState => (ok ? "connected" : "disconnected")) : Promise.resolve<DepState>("not_configured"),
    deps.redis
      ? withTimeout(deps.redis.ping(), 1000).then((r): DepState => (r === "PONG" ? "connected" : "disconnected"), (): DepState => "disconnected")
      : Promise.resolve<DepState>("not_configured"),
  ]);
  const ok = database !== "disconnected" && redis !== "disconnected";
  return { status: ok ? "ok" : "degraded", database, redis, role: deps.config.role, release: deps.config.release };
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

function send(res: http.ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = type === "application/json" ? JSON.stringify(body) : String(body);
  res.writeHead(status, { "content-type": `${type}; charset=utf-8`, "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

function readJson(req: http.IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) { reject(new HttpError(413, "body too large")); req.destroy(); return; }
      chunks.push(c);
    });
    req.on("end", () => {
      try { resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "null")); }
      catch { reject(new HttpError(400, "body is not valid JSON")); }
    });
    req.on("error", reject);
  });
}

function needPool(deps: Deps): Pool {
  if (!deps.pool) throw new HttpError(503, "database not configured (set DATABASE_URL)");
  return deps.pool;
}

/** Maps database failures to HTTP errors that say what to do. */
function dbError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if ((err as { code?: string }).code === "42P01") return new HttpError(503, "schema missing: run `node /app/dist/main.js migrate`");
  return new HttpError(503, `database unavailable: ${errMsg(err)}`);
}

interface Item { id: number; name: string; created_at: string }

async function listItems(deps: Deps): Promise<Item[]> {
  try {
    const r = await needPool(deps).query<Item>("SELECT id, name, created_at FROM items ORDER BY id");
    return r.rows;
  } catch (err) { throw dbError(err); }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function route(deps: Deps, req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
  const { role } = deps.config;
  const method = req.method || "GET";
  if (path === "/health") {
    if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "method not allowed");
    const h = await health(deps);
    return send(res, h.status === "ok" ? 200 : 503, h);
  }
  if (role === "worker") throw new HttpError(404, "not found");

  if (path === "/items") {
    if (method === "GET") return send(res, 200, { items: await listItems(deps) });
    if (method === "POST") {
      const body = await readJson(req);
      const name = (body as { name?: unknown } | null)?.name;
      if (typeof name !== "string" || name.trim() === "" || name.length > 500) {
        throw new HttpError(400, 'body must be JSON {"name": "<1-500 chars>"}');
      }
      try {
        const r = await needPool(deps).query<Item>("INSERT INTO items(name) VALUES ($1) RETURNING id, name, created_at", [name]);
        return send(res, 201, r.rows[0]);
      } catch (err) { throw dbError(err); }
    }
    throw new HttpError(405, "method not allowed");
  }
  if (path === "/workers" && method === "GET") {
    if (!deps.redis) throw new HttpError(503, "redis not configured (set REDIS_URL)");
    try {
      const keys = (await deps.redis.keys("worker:*:last-ping")) as string[];
      const workers: Record<string, number> = {};
      for (const k of keys.sort()) workers[k.split(":")[1]] = Number(await deps.redis.get(k));
      return send(res, 200, { workers });
    } catch (err) { throw new HttpError(503, `redis unavailable: ${errMsg(err)}`); }
  }
  if (path === "/" && method === "GET") {
    if (role === "api") return send(res, 200, { service: "opsbook-app", role, release: deps.config.release, endpoints: ["/health", "/items", "/workers"] });
    const h = await health(deps);
    const items = deps.pool && h.database === "connected" ? await listItems(deps).catch(() => []) : [];
    const rows = items.map((i) => `<li>#${i.id} ${escapeHtml(i.name)}</li>`).join("");
    return send(res, 200,
      `<!doctype html><html><head><title>opsbook</title></head><body><h1>opsbook</h1>` +
      `<p>release ${escapeHtml(h.release)} &middot; database ${h.database} &middot; redis ${h.redis}</p>` +
      `<ul>${rows}</ul></body></html>`, "text/html");
  }
  throw new HttpError(404, "not found");
}

export interface RunningServer {
  server: http.Server;
  /** Stop accepting, let in-flight requests finish (up to graceMs), then resolve. */
  shutdown(graceMs: number): Promise<void>;
}

export function startServer(deps: Deps): Promise<RunningServer> {
  let stopping = false;
  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    const path = (req.url || "/").split("?")[0];
    if (stopping) res.setHeader("connection", "close");
    res.on("finish", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info("request", { method: req.method, path, status: res.statusCode, ms: Math.round(ms * 10) / 10 });
    });
    route(deps, req, res, path).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status >= 500 && !(err instanceof HttpError)) log.error("request failed", { path, error: errMsg(err) });
      if (!res.headersSent) send(res, status, { error: err instanceof HttpError ? err.message : "internal error" });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  const shutdown = (graceMs: number): Promise<void> =>
    new Promise<void>((resolve) => {
      stopping = true;
      const force = setTimeout(() => { server.closeAllConnections(); resolve(); }, graceMs);
      server.close(() => { clearTimeout(force); resolve(); });
      server.closeIdleConnections();
    });

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.config.port, "0.0.0.0", () => resolve({ server, shutdown }));
  });
}
