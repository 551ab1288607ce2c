// Seed 001: a copy-trading platform. api, workers and web with Postgres and Redis; workers write
// heartbeats to Redis (stale after 2 minutes); the 64-hex TRADING_KEY_ENCRYPTION_KEY must never be
// lost; admin endpoints take a bearer token; the api scales out, workers stay single.
import { MIGRATE, PresetSpec, Procedures } from "./types";

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

/**
 * Seed 001's "Common Operations". Pause/resume and the audit log are SQL on the platform's own
 * tables (`copy_profiles`, `audit_logs`), run as the api's database role exactly as the runbook
 * writes them; reconcile and retry-relayer are its admin endpoints with the ADMIN_TOKEN bearer.
 */
export const copyTradingProcedures: Procedures = {
    pause: {
        description: "pause copy trading for all users (copy_profiles ENABLED -> PAUSED)",
        changes: true,
        action: {
            kind: "sql",
            service: "api",
            sql: "WITH paused AS (UPDATE copy_profiles SET status = 'PAUSED' WHERE status = 'ENABLED' RETURNING 1) SELECT count(*) AS paused FROM paused",
        },
    },
    resume: {
        description: "resume copy trading (copy_profiles PAUSED -> ENABLED)",
        changes: true,
        action: {
            kind: "sql",
            service: "api",
            sql: "WITH resumed AS (UPDATE copy_profiles SET status = 'ENABLED' WHERE status = 'PAUSED' RETURNING 1) SELECT count(*) AS resumed FROM resumed",
        },
    },
    "audit-logs": {
        description: "the platform's recent audit logs, newest first (not opsbook's own trail: that is `opsbook audit`)",
        changes: false,
        options: [{ name: "limit", description: "how many rows", pattern: "[1-9][0-9]{0,3}", default: "50" }],
        action: { kind: "sql", service: "api", sql: "SELECT * FROM audit_logs ORDER BY created_at DESC LIMIT :limit" },
    },
    reconcile: {
        description: "reconcile stale orders (POST /admin/reconcile)",
        changes: true,
        action: { kind: "http", service: "api", method: "POST", path: "/admin/reconcile", bearerSecret: "ADMIN_TOKEN" },
    },
    "retry-relayer": {
        description: "retry a failed relayer transaction (POST /admin/retry-relayer)",
        changes: true,
        arguments: [{ name: "txId", description: "the relayer transaction's id", pattern: "[A-Za-z0-9_:.-]{1,200}" }],
        action: { kind: "http", service: "api", method: "POST", path: "/admin/retry-relayer", bearerSecret: "ADMIN_TOKEN", body: { txId: "{txId}" } },
    },
};
