// Seed 001: a copy-trading platform. api, workers and web with Postgres and Redis; workers write
// heartbeats to Redis (stale after 2 minutes); the 64-hex TRADING_KEY_ENCRYPTION_KEY must never be
// lost; admin endpoints take a bearer token; the api scales out, workers stay single.
import { MIGRATE, PresetSpec } from "./types";

export const copyTrading: PresetSpec = {
    migrations: { command: MIGRATE },
    services: {
        api: {
            kind: "http",
            port: 8080,
            healthPath: "/health",
            replicas: 2,
            env: { APP_ROLE: "api", SERVICE_NAME: "copy-trading-api", STATUS_WORKERS: "copy-trading,auto-claim,health-check,position-sync" },
            secretEnv: { TRADING_KEY_ENCRYPTION_KEY: "generated-hex64", ADMIN_TOKEN: "generated", DYNAMIC_PUBLIC_KEY: "config-optional" },
            contract: { formats: { TRADING_KEY_ENCRYPTION_KEY: "hex64" }, equalAcrossServices: ["TRADING_KEY_ENCRYPTION_KEY"] },
            uses: ["postgres", "redis"],
        },
        workers: {
            kind: "worker",
            port: 8080,
            singleInstance: "always",
            env: { APP_ROLE: "worker", SERVICE_NAME: "copy-trading-workers", WORKER_NAMES: "copy-trading,auto-claim,health-check,position-sync" },
            // Seed 001: "Alert if any ping is >2 minutes stale" (monitoring.thresholds.heartbeatStaleSeconds).
            heartbeats: ["worker:copy-trading:last-ping", "worker:auto-claim:last-ping", "worker:health-check:last-ping", "worker:position-sync:last-ping"],
            secretEnv: { TRADING_KEY_ENCRYPTION_KEY: "generated-hex64" },
            contract: { formats: { TRADING_KEY_ENCRYPTION_KEY: "hex64" }, equalAcrossServices: ["TRADING_KEY_ENCRYPTION_KEY"] },
            uses: ["postgres", "redis"],
        },
        web: {
            kind: "http",
            port: 8080,
            healthPath: "/health",
            env: { APP_ROLE: "web", SERVICE_NAME: "copy-trading-web", API_URL: "http://api:8080" },
            uses: ["api"],
        },
    },
};
