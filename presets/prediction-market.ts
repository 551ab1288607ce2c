// Seed 002: a prediction market. backend, orderbook, reality-engine and frontend; the backend and
// the reality engine share REALITY_API_SECRET; ADMIN_API_KEY and JWT_SECRET rotate; migrations
// (and their rollback) before code; MAINTENANCE_MODE answers 503 except on health.
import { MIGRATE, PresetSpec, Procedures } from "./types";

export const predictionMarket: PresetSpec = {
    redis: { enabled: false },
    migrations: { command: MIGRATE },
    services: {
        backend: {
            kind: "http",
            port: 8080,
            healthPath: "/health",
            env: { APP_ROLE: "api", SERVICE_NAME: "everything-market-backend", MAINTENANCE_MODE: "false" },
            secretEnv: { REALITY_API_SECRET: "generated", ADMIN_API_KEY: "generated", JWT_SECRET: "generated" },
            contract: { equalAcrossServices: ["REALITY_API_SECRET"] },
            uses: ["postgres"],
        },
        orderbook: {
            kind: "http",
            port: 8080,
            healthPath: "/",
            env: { APP_ROLE: "api", SERVICE_NAME: "everything-market-orderbook", HEALTH_PATH: "/" },
            uses: ["postgres"],
        },
        "reality-engine": {
            kind: "worker",
            port: 8080,
            singleInstance: "always",
            env: { APP_ROLE: "worker", SERVICE_NAME: "reality-engine", BACKEND_URL: "http://backend:8080", WORKER_NAMES: "reality-engine" },
            secretEnv: { REALITY_API_SECRET: "generated", OPENAI_API_KEY: "config-optional" },
            contract: { equalAcrossServices: ["REALITY_API_SECRET"] },
            uses: ["backend"],
        },
        frontend: {
            kind: "http",
            port: 8080,
            // `/` serves the HTML page (the runbook's "Expected: HTML response"); health stays apart.
            healthPath: "/health",
            env: { APP_ROLE: "web", SERVICE_NAME: "everything-market-frontend", VITE_API_URL: "http://backend:8080" },
            uses: ["backend"],
        },
    },
};

/**
 * Seed 002's security procedures. Both are secret rotations through `pulumi up` (the same path
 * as `opsbook rotate`), so config, state and the running backend agree afterwards.
 */
export const predictionMarketProcedures: Procedures = {
    "revoke-admin": {
        description: "disable admin access: a new ADMIN_API_KEY, the old one refused from then on",
        changes: true,
        action: { kind: "rotate", secret: "ADMIN_API_KEY" },
    },
    "invalidate-sessions": {
        description: "log every user out: a new JWT_SECRET invalidates all existing tokens",
        changes: true,
        action: { kind: "rotate", secret: "JWT_SECRET" },
    },
};
