// One valid resource of each kind, shaped like the components make them, with env contracts taken
// from the runbooks. Policy tests start from these and change one thing per case.
import type { EnvContract } from "../../components/envContract";
import { HARDENED_DEFAULTS } from "../../components/hardening";
import type { ContainerInputs } from "../../providers/docker";

export const HEX64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

// The components' own baseline, so the fixtures stay what the program really registers.
const hardened = HARDENED_DEFAULTS;

const IMAGE_ID = `sha256:${"ab".repeat(32)}`;

/** The api of a stack that combines the runbooks' rules (seeds 000, 001, 002, 004). */
export function validService(overrides: Partial<ContainerInputs> = {}): ContainerInputs {
    const contract: EnvContract = {
        required: ["API_KEY", "DATABASE_URL", "TRADING_KEY_ENCRYPTION_KEY"],
        anyOf: [
            [["CLIENT_CERT_SUBJECT_HEADER"], ["OIDC_ISSUER", "OIDC_AUDIENCE"]],
            [["DATABASE_URL"], ["DB_HOST", "DB_USER", "DB_PASSWORD"]],
        ],
        formats: { TRADING_KEY_ENCRYPTION_KEY: "hex64", TELEGRAM_WEBHOOK_SECRET: "telegram-secret-token", DATABASE_URL: "url" },
        equalAcrossServices: ["REALITY_API_SECRET"],
        requiredInProduction: ["EOD_CRON_SECRET"],
    };
    return {
        ...hardened,
        name: "opsbook-production-api",
        image: IMAGE_ID,
        imageName: "opsbook/app:1.4.2",
        env: {
            PORT: "8080",
            APP_ROLE: "api",
            OIDC_ISSUER: "https://auth.opsbook.test/realms/trading",
            OIDC_AUDIENCE: "opsbook-api",
            MAINTENANCE_MODE: "false",
        },
        secretEnv: {
            DATABASE_URL: "postgres://opsbook_admin:Q7vL2pXk9RmT4wYz@postgres:5432/app",
            REDIS_URL: "redis://:H3nB8cJ5sV1qW6eR@redis:6379/0",
            API_KEY: "Kx9mP2vQ7rT4wZ8bN3cF6hJ1",
            TRADING_KEY_ENCRYPTION_KEY: HEX64,
            TELEGRAM_WEBHOOK_SECRET: "tg_Wq8Lm3Nz5Rb2Xc7V",
            REALITY_API_SECRET: "rA9kD4fG7hJ2lZ5xC8vB1nM6",
            EOD_CRON_SECRET: "eC3rT6yU9iO2pA5sD8fG1hJ4",
        },
        labels: {
            "opsbook.project": "opsbook",
            "opsbook.stack": "production",
            "opsbook.component": "service",
            "opsbook.service": "api",
        },
        networks: [{ name: "opsbook-production-net-1a2b3c", aliases: ["api"] }],
        publish: [8080],
        mounts: [],
        healthCheck: { test: ["CMD", "node", "-e", "process.exit(0)"], intervalSeconds: 5, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 30 },
        memoryMb: 256,
        waitHealthySeconds: 60,
        role: "service",
        envContract: contract,
        ...overrides,
    };
}

/** A second service that shares REALITY_API_SECRET with the api (seed 002's reality engine). */
export function validWorker(overrides: Partial<ContainerInputs> = {}): ContainerInputs {
    const api = validService();
    return {
        ...api,
        name: "opsbook-production-reality-engine",
        env: { PORT: "8081", APP_ROLE: "reality-engine" },
        secretEnv: { REALITY_API_SECRET: api.secretEnv.REALITY_API_SECRET, DATABASE_URL: api.secretEnv.DATABASE_URL },
        labels: { ...api.labels, "opsbook.service": "reality-engine" },
        publish: [],
        role: "worker",
        envContract: { required: ["REALITY_API_SECRET"], anyOf: [], formats: {}, equalAcrossServices: ["REALITY_API_SECRET"], requiredInProduction: [] },
        ...overrides,
    };
}

/** Postgres as components/postgres.ts makes it. */
export function validPostgres(overrides: Partial<ContainerInputs> = {}): ContainerInputs {
    return {
        ...hardened,
        name: "opsbook-production-postgres",
        image: IMAGE_ID,
        imageName: "opsbook/postgres:15",
        env: { POSTGRES_USER: "opsbook_admin", POSTGRES_DB: "app" },
        secretEnv: { POSTGRES_PASSWORD: "Q7vL2pXk9RmT4wYz" },
        labels: { "opsbook.project": "opsbook", "opsbook.stack": "production", "opsbook.component": "postgres" },
        networks: [{ name: "opsbook-production-net-1a2b3c", aliases: ["postgres"] }],
        publish: [],
        mounts: [{ volume: "opsbook-production-postgres-data", target: "/var/lib/postgresql/data", readOnly: false }],
        healthCheck: { test: ["CMD", "pg_isready", "-h", "127.0.0.1"], intervalSeconds: 5, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 60 },
        memoryMb: 512,
        waitHealthySeconds: 120,
        role: "database",
        envContract: { required: ["POSTGRES_PASSWORD"], anyOf: [], formats: {}, equalAcrossServices: [], requiredInProduction: [] },
        ...overrides,
    };
}

/** Redis as components/redis.ts makes it. */
export function validRedis(overrides: Partial<ContainerInputs> = {}): ContainerInputs {
    return {
        ...validPostgres(),
        name: "opsbook-production-redis",
        imageName: "opsbook/redis:7",
        env: {},
        secretEnv: { REDIS_PASSWORD: "H3nB8cJ5sV1qW6eR", REDISCLI_AUTH: "H3nB8cJ5sV1qW6eR" },
        labels: { "opsbook.project": "opsbook", "opsbook.stack": "production", "opsbook.component": "redis" },
        networks: [{ name: "opsbook-production-net-1a2b3c", aliases: ["redis"] }],
        mounts: [{ volume: "opsbook-production-redis-data", target: "/data", readOnly: false }],
        healthCheck: { test: ["CMD-SHELL", "redis-cli -h 127.0.0.1 ping | grep -q PONG"], intervalSeconds: 5, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 30 },
        memoryMb: 256,
        role: "cache",
        envContract: { required: ["REDIS_PASSWORD"], anyOf: [], formats: {}, equalAcrossServices: [], requiredInProduction: [] },
        ...overrides,
    };
}

/** A scheduled backup as the backup component is expected to register it. */
export const BACKUP_SCHEDULE_TYPE = "pulumi-nodejs:dynamic/opsbook:BackupSchedule";
export function backupSchedule(): { schedule: string; retentionDays: number } {
    return { schedule: "0 3 * * *", retentionDays: 7 };
}

/** A copy of `props` with one env name set (in secretEnv unless `plainEnv`) or removed. */
export function withEnv(props: ContainerInputs, name: string, value: string | undefined, plainEnv = false): ContainerInputs {
    const env = { ...props.env };
    const secretEnv = { ...props.secretEnv };
    delete env[name];
    delete secretEnv[name];
    if (value !== undefined) {
        (plainEnv ? env : secretEnv)[name] = value;
    }
    return { ...props, env, secretEnv };
}

/** A copy of `props` with parts of its contract replaced. */
export function withContract(props: ContainerInputs, contract: Partial<EnvContract>): ContainerInputs {
    return { ...props, envContract: { ...props.envContract, ...contract } };
}
