// Seed 003: a market watchdog. web and a background worker on one SQLite file in a volume;
// SECRET_KEY signs JWTs; provider keys are optional; /api/health answers; the SQLite file is
// backed up online for 7 days without losing writes.
import { PresetSpec, Procedures } from "./types";

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

/**
 * Seed 003's "Monitor Status" checks, run as the runbook writes them: the watchdog's own Python
 * CLI (`PYTHONPATH=. python -m src.cli.main ...`) in a running web task, which has the SQLite
 * volume and the env the app reads. No `PYTHONPATH=.` is needed: `python -m` puts the working
 * directory first on `sys.path`, and `docker exec` starts in the image's WORKDIR, which is the
 * project root wherever the runbook's own `PYTHONPATH=.` works. Both only read. Left out on purpose: `invest notifications test|status` (the
 * runbook installs with `pip install -r requirements.txt` and starts its CLI as
 * `python -m src.cli.main`; nothing says the `invest` entry point exists in the image, nor which
 * module it is) and the `sqlite3` integrity check and VACUUM (run with the sqlite3 tool on the
 * host's file; nothing says the image has that tool).
 */
export const marketWatchdogProcedures: Procedures = {
    "recent-alerts": {
        description: "the watchdog's recent alerts, to see when the monitor last ran (its CLI: alerts list --limit N)",
        changes: false,
        options: [{ name: "limit", description: "how many alerts", pattern: "[1-9][0-9]{0,3}", default: "5" }],
        action: { kind: "command", service: "web", command: ["python", "-m", "src.cli.main", "alerts", "list", "--limit", "{limit}"] },
    },
    rules: {
        description: "the watchdog's rules and when each last triggered (its CLI: rules list)",
        changes: false,
        action: { kind: "command", service: "web", command: ["python", "-m", "src.cli.main", "rules", "list"] },
    },
};
