// Worker heartbeats (seed 001: worker:<name>:last-ping in Redis, stale after 2 minutes; seed 003:
// no Redis, so a row per worker in the SQLite file) and the staleness rule /system/status applies.
import { errMsg, log } from "./log";
import type { RedisClient } from "./redis";
import type { HeartbeatStore } from "./store";

export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Redis keys outlive a few missed beats, then vanish so a removed worker stops showing up. */
export const HEARTBEAT_TTL_S = 300;
export const STALE_AFTER_S = 120;

export const heartbeatKey = (name: string): string => `worker:${name}:last-ping`;

export class RedisHeartbeats implements HeartbeatStore {
  constructor(private readonly redis: RedisClient) {}

  async writeHeartbeats(names: readonly string[], atMs: number): Promise<void> {
    await Promise.all(names.map((n) => this.redis.set(heartbeatKey(n), String(atMs), HEARTBEAT_TTL_S)));
  }
  async readHeartbeats(names: readonly string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    const values = await Promise.all(names.map((n) => this.redis.get(heartbeatKey(n))));
    names.forEach((n, i) => {
      const ms = Number(values[i]);
      if (values[i] !== null && Number.isFinite(ms)) found.set(n, ms);
    });
    return found;
  }
}

export interface WorkerStatus { lastPing: string | null; ageSeconds: number | null; stale: boolean }

/** A worker is stale when it never pinged or its last ping is older than STALE_AFTER_S. */
export function workerStatus(lastPingMs: number | undefined, nowMs: number, staleAfterS = STALE_AFTER_S): WorkerStatus {
  if (lastPingMs === undefined) return { lastPing: null, ageSeconds: null, stale: true };
  const age = Math.max(0, Math.round((nowMs - lastPingMs) / 1000));
  return { lastPing: new Date(lastPingMs).toISOString(), ageSeconds: age, stale: age > staleAfterS };
}

/** Writes a heartbeat for every name now and every HEARTBEAT_INTERVAL_MS; returns the stopper. */
export function startHeartbeats(store: HeartbeatStore, names: readonly string[], where: string): () => void {
  const tick = (): void => {
    const now = Date.now();
    store.writeHeartbeats(names, now).then(
      () => log.info("worker ping", { workers: names, at: now, store: where }),
      (err: unknown) => log.warn("worker ping failed", { workers: names, store: where, error: errMsg(err) }),
    );
  };
  tick();
  const timer = setInterval(tick, HEARTBEAT_INTERVAL_MS);
  return () => clearInterval(timer);
}
