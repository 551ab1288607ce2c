// HTTP plumbing shared by every listener: errors as JSON, one log line per request, graceful stop.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { errMsg, log } from "./log";
import type { Metrics } from "./metrics";

/** An error whose message is safe to show the client (never a secret, never a URL with credentials). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) { super(message); }
}

export function send(res: http.ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = type === "application/json" ? JSON.stringify(body) : String(body);
  res.writeHead(status, { "content-type": `${type}; charset=utf-8`, "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

export function readJson(req: http.IncomingMessage, limit = 64 * 1024): Promise<unknown> {
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

/** The single-valued header `name` (Node lower-cases names; repeated headers are refused). */
export function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return typeof v === "string" ? v : undefined;
}

export interface Request {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
}

export type Handler = (r: Request) => Promise<void>;

export interface RunningServer {
  /** The bound port (differs from the requested one when that was 0). */
  port: number;
  /** Stop accepting, let in-flight requests finish (up to graceMs), then resolve. */
  shutdown(graceMs: number): Promise<void>;
}

/** Listens on `port`; logs one JSON line per request and counts it in `metrics` when given. */
export function startHttp(port: number, handler: Handler, metrics?: Metrics): Promise<RunningServer> {
  let stopping = false;
  const server = http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    // Split by hand: new URL() would read a path like //x/y as a host name.
    const raw = req.url || "/";
    const q = raw.indexOf("?");
    const url = { pathname: q < 0 ? raw : raw.slice(0, q), searchParams: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
    const method = req.method || "GET";
    if (stopping) res.setHeader("connection", "close");
    res.on("finish", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The path only: query strings may carry tokens in other people's clients.
      log.info("request", { method, path: url.pathname, status: res.statusCode, ms: Math.round(ms * 10) / 10 });
      metrics?.countRequest(method, url.pathname, res.statusCode);
    });
    handler({ req, res, method, path: url.pathname, query: url.searchParams }).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (!(err instanceof HttpError)) log.error("request failed", { path: url.pathname, error: errMsg(err) });
      if (res.headersSent) { res.destroy(); return; }
      if (err instanceof HttpError) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      send(res, status, { error: err instanceof HttpError ? err.message : "internal error" });
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
    server.listen(port, "0.0.0.0", () => resolve({ port: (server.address() as AddressInfo).port, shutdown }));
  });
}
