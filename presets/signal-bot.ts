// Seed 000: a Telegram signal bot. One app with Postgres; Telegram calls /webhook/telegram with a
// secret token; an end-of-day job posts to the app with X-Cron-Secret (403 when unset);
// /health is checked every 5 minutes; schema before code; one instance, because the fetchers'
// circuit breaker lives in process memory unless Redis is shared.
import { MIGRATE, PresetSpec } from "./types";

export const signalBot: PresetSpec = {
    redis: { enabled: false },
    migrations: { command: MIGRATE },
    services: {
        app: {
            kind: "http",
            port: 8080,
            healthPath: "/health",
            singleInstance: "unless-redis",
            env: { APP_ROLE: "api", SERVICE_NAME: "signal-bot" },
            secretEnv: {
                TELEGRAM_BOT_TOKEN: "config",
                TELEGRAM_WEBHOOK_SECRET: "generated",
                EOD_CRON_SECRET: "generated",
                POLYMARKET_API_KEY: "config-optional",
                GOOGLE_API_KEY: "config-optional",
            },
            contract: {
                formats: { TELEGRAM_WEBHOOK_SECRET: "telegram-secret-token" },
                requiredInProduction: ["EOD_CRON_SECRET"],
            },
            uses: ["postgres"],
        },
    },
    jobs: {
        eod: {
            schedule: "5 0 * * *",
            service: "app",
            method: "POST",
            path: "/jobs/eod",
            secretHeader: { header: "X-Cron-Secret", secret: "EOD_CRON_SECRET" },
        },
    },
};
