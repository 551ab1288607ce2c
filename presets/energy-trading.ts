// Seed 004: an energy-trading API. API_KEY plus either CLIENT_CERT_SUBJECT_HEADER or the
// OIDC_ISSUER/OIDC_AUDIENCE pair; DATABASE_URL or the DB_* trio; a preflight that fails fast
// before migrations; Prometheus metrics on METRICS_PORT; read-only mode after a restore.
import { MIGRATE, PREFLIGHT, PresetSpec, Procedures } from "./types";

export const energyTrading: PresetSpec = {
    redis: { enabled: false },
    migrations: { command: MIGRATE, preflight: PREFLIGHT },
    services: {
        api: {
            kind: "http",
            port: 8080,
            healthPath: "/health",
            env: { APP_ROLE: "api", SERVICE_NAME: "flash-green", METRICS_PORT: "9100", READ_ONLY: "false" },
            // Seed 004: "Prometheus-format metrics are exposed on :${METRICS_PORT}/metrics".
            metricsPort: 9100,
            secretEnv: { API_KEY: "generated", OIDC_ISSUER: "config-optional", OIDC_AUDIENCE: "config-optional", CLIENT_CERT_SUBJECT_HEADER: "config-optional" },
            contract: {
                required: ["API_KEY"],
                anyOf: [
                    [["CLIENT_CERT_SUBJECT_HEADER"], ["OIDC_ISSUER", "OIDC_AUDIENCE"]],
                    [["DATABASE_URL"], ["DB_HOST", "DB_USER", "DB_PASSWORD"]],
                ],
                formats: { DATABASE_URL: "url" },
            },
            uses: ["postgres"],
        },
    },
};

/**
 * Seed 004's checks: "After restores, rerun the preflight validator to ensure connectivity" (and
 * before rollout). The app's own preflight (the reference app's stands in for
 * `python scripts/preflight_check.py`), run in a running api task, so it checks the env, the
 * secret files and the database the api really has. It changes nothing.
 */
export const energyTradingProcedures: Procedures = {
    preflight: {
        description: "rerun the app's preflight in a running api task: env, secrets and database reachable (seed 004, after a restore)",
        changes: false,
        action: { kind: "command", service: "api", command: PREFLIGHT },
    },
};
