// Seed 003: a market watchdog. web and a background worker on one SQLite file in a volume;
// SECRET_KEY signs JWTs; provider keys are optional; /api/health answers; the SQLite file is
// backed up online for 7 days without losing writes.
import { PresetSpec } from "./types";

const sqlite = { DATABASE_URL: "sqlite:////data/signal_sentinel.db", DATABASE_MODE: "sqlite" };

export const marketWatchdog: PresetSpec = {
    postgres: { enabled: false },
    redis: { enabled: false },
    services: {
        web: {
            kind: "http",
            port: 8000,
            healthPath: "/api/health",
            singleInstance: "always",
            env: { APP_ROLE: "api", SERVICE_NAME: "signal-sentinel-web", HEALTH_PATH: "/api/health", ...sqlite },
            secretEnv: {
                SECRET_KEY: "generated",
                OPENAI_API_KEY: "config-optional",
                TELEGRAM_BOT_TOKEN: "config-optional",
                ALPACA_API_KEY: "config-optional",
                ALPACA_SECRET_KEY: "config-optional",
                FINNHUB_API_KEY: "config-optional",
            },
            volumes: { data: "/data" },
        },
        worker: {
            kind: "worker",
            port: 8000,
            singleInstance: "always",
            env: { APP_ROLE: "worker", SERVICE_NAME: "signal-sentinel-worker", WORKER_NAMES: "monitor", ...sqlite },
            secretEnv: { SECRET_KEY: "generated" },
            contract: { equalAcrossServices: ["SECRET_KEY"] },
            volumes: { data: "/data" },
            uses: ["web"],
        },
    },
};
