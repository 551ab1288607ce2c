// One valid stack, built the way the components build it: every swarm service from the real
// `swarmServiceArgs` (components/swarmService.ts) with the real secret mounts (`secretMount`), the
// real labels (components/naming.ts) and the real baseline (components/hardening.ts); every secret
// value as a docker.Secret labelled with its key; the gateway container as components/gateway.ts
// makes it. Env contracts come from the runbooks. Policy tests start from these and change one
// thing per case.
import type { EnvContract } from "../../components/envContract";
import { healthcheck, httpHealthcheck } from "../../components/hardening";
import { postgresHealthcheck } from "../../components/postgres";
import { redisHealthcheck } from "../../components/redis";
import { LABEL_SECRET_ENV, engineName, labelList, stackLabels } from "../../components/naming";
import { type SecretMount, secretMount } from "../../components/secretFiles";
import { type SwarmServiceSpec, swarmServiceArgs } from "../../components/swarmService";
import type { ContainerProps, OneShotProps, SecretProps, ServiceProps } from "../../policies/lib";
import { CONTAINER, ONE_SHOT, SECRET, SERVICE, type StackEntry } from "./harness";

export const IDENTITY = { project: "opsbook", stack: "production" } as const;

export const HEX64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

const IMAGE_ID = `sha256:${"ab".repeat(32)}`;
/** A content-addressed tag, as scripts/lib/images.sh writes them. */
export const PINNED_APP = "opsbook/app:3f9c2a7b1d4e";
export const PINNED_POSTGRES = "opsbook/postgres:15-7c1e9a2b4d6f";
export const PINNED_REDIS = "opsbook/redis:7-0a1b2c3d4e5f";
export const PINNED_GATEWAY = "opsbook/gateway:1-5e6f7a8b9c0d";
export const PINNED_BACKUP = "opsbook/backup:1-1f2e3d4c5b6a";

const DATA_NETWORK = "opsbook-production-data";
const EDGE_NETWORK = "opsbook-production-edge";
const PROBE = { configId: "cfg-probe-1", configName: "opsbook-production-probe-1a2b3c4" };

/** Every secret value of the stack, by key. None is a placeholder; each is distinct. */
export const SECRET_VALUES: Readonly<Record<string, string>> = {
    DATABASE_URL: "postgres://app_login_a:Q7vL2pXk9RmT4wYzAp@postgres:5432/app",
    REDIS_URL: "redis://:H3nB8cJ5sV1qW6eRzq@redis:6379/0",
    API_KEY: "Kx9mP2vQ7rT4wZ8bN3cF6hJ1",
    TRADING_KEY_ENCRYPTION_KEY: HEX64,
    TELEGRAM_WEBHOOK_SECRET: "tg_Wq8Lm3Nz5Rb2Xc7V",
    REALITY_API_SECRET: "rA9kD4fG7hJ2lZ5xC8vB1nM6",
    EOD_CRON_SECRET: "eC3rT6yU9iO2pA5sD8fG1hJ4",
    POSTGRES_PASSWORD: "Pg7sW2dLq9Xv4Tn8Rk3m",
    REDIS_PASSWORD: "H3nB8cJ5sV1qW6eRzq",
    BACKUP_POSTGRES_URL: "postgres://opsbook_admin:Pg7sW2dLq9Xv4Tn8Rk3m@postgres:5432/app",
};

/** The Pulumi resource name and engine name of a stack secret, as swarmSecret names them. */
export function secretNames(key: string, stack: string = IDENTITY.stack): { resourceName: string; engineName: string } {
    const resourceName = engineName({ ...IDENTITY, stack }, key.toLowerCase().replace(/_/g, "-"));
    return { resourceName, engineName: `${resourceName}-1a2b3c4` };
}

/** A docker.Secret as components/secretFiles.ts swarmSecret makes it. */
export function secretProps(key: string, value: string, stack: string = IDENTITY.stack): SecretProps {
    return {
        name: secretNames(key, stack).engineName,
        data: Buffer.from(value, "utf8").toString("base64"),
        labels: labelList({ ...stackLabels({ ...IDENTITY, stack }, "secret"), [LABEL_SECRET_ENV]: key }),
    };
}

/** The stack's secrets as stack entries, with some values replaced (`undefined` removes one). */
export function secretEntries(changes: Record<string, string | undefined> = {}): StackEntry[] {
    const values: Record<string, string | undefined> = { ...SECRET_VALUES, ...changes };
    return Object.entries(values)
        .filter((e): e is [string, string] => e[1] !== undefined)
        .map(([key, value]) => ({ name: secretNames(key).resourceName, type: SECRET, props: secretProps(key, value) }));
}

/** The mounts of secrets by env name, each bound to the stack secret of the same key (or of `keys[name]`). */
export function mountOf(names: string[], keys: Record<string, string> = {}, owner?: { uid: string; gid: string }): SecretMount {
    return secretMount(
        Object.fromEntries(
            names.map((n) => {
                const key = keys[n] ?? n;
                return [n, { key, id: `id-${key.toLowerCase()}`, name: secretNames(key).engineName }];
            }),
        ),
        owner,
    );
}

/** The api of a stack that combines the runbooks' rules (seeds 000, 001, 002, 004). */
export const API_CONTRACT: EnvContract = {
    required: ["API_KEY", "DATABASE_URL", "TRADING_KEY_ENCRYPTION_KEY"],
    anyOf: [
        [["CLIENT_CERT_SUBJECT_HEADER"], ["OIDC_ISSUER", "OIDC_AUDIENCE"]],
        [["DATABASE_URL"], ["DB_HOST", "DB_USER", "DB_PASSWORD"]],
    ],
    formats: { TRADING_KEY_ENCRYPTION_KEY: "hex64", TELEGRAM_WEBHOOK_SECRET: "telegram-secret-token", DATABASE_URL: "url" },
    equalAcrossServices: ["REALITY_API_SECRET"],
    requiredInProduction: ["EOD_CRON_SECRET"],
};

export const API_SECRETS = ["API_KEY", "DATABASE_URL", "EOD_CRON_SECRET", "REALITY_API_SECRET", "REDIS_URL", "TELEGRAM_WEBHOOK_SECRET", "TRADING_KEY_ENCRYPTION_KEY"];

/** What AppService hands swarmServiceArgs for the api. */
export function apiSpec(): SwarmServiceSpec {
    return {
        identity: IDENTITY,
        engineName: engineName(IDENTITY, "api"),
        component: "service",
        specName: "api",
        image: { reference: PINNED_APP, id: IMAGE_ID },
        env: {
            PORT: "8080",
            APP_RELEASE: "1",
            APP_ROLE: "api",
            OIDC_ISSUER: "https://auth.opsbook.test/realms/trading",
            OIDC_AUDIENCE: "opsbook-api",
            MAINTENANCE_MODE: "false",
        },
        secrets: mountOf(API_SECRETS),
        networks: [
            { id: DATA_NETWORK, aliases: ["api"] },
            { id: EDGE_NETWORK, aliases: ["api"] },
        ],
        healthcheck: httpHealthcheck(8080, "/health", { startPeriodSeconds: 60 }),
        probe: PROBE,
        replicas: 2,
        updateOrder: "start-first",
        memoryMb: 256,
        envContract: API_CONTRACT,
        convergeTimeoutSeconds: 180,
    };
}

/** Props of a Service as the engine sees them: the real args, JSON-shaped. */
export function serviceProps(spec: SwarmServiceSpec): ServiceProps {
    return JSON.parse(JSON.stringify(swarmServiceArgs(spec))) as ServiceProps;
}

/** The api service, with parts of its spec replaced. */
export function validService(overrides: Partial<SwarmServiceSpec> = {}): ServiceProps {
    return serviceProps({ ...apiSpec(), ...overrides });
}

/** Seed 002's reality engine: a worker that shares REALITY_API_SECRET with the api. */
export function workerSpec(): SwarmServiceSpec {
    return {
        ...apiSpec(),
        engineName: engineName(IDENTITY, "reality-engine"),
        component: "worker",
        specName: "reality-engine",
        env: { PORT: "8081", APP_RELEASE: "1", APP_ROLE: "reality-engine" },
        secrets: mountOf(["DATABASE_URL", "REALITY_API_SECRET"]),
        networks: [{ id: DATA_NETWORK, aliases: ["reality-engine"] }],
        healthcheck: httpHealthcheck(8081, "/health"),
        replicas: 1,
        envContract: { required: ["REALITY_API_SECRET"], anyOf: [], formats: {}, equalAcrossServices: ["REALITY_API_SECRET"], requiredInProduction: [] },
    };
}

export function validWorker(overrides: Partial<SwarmServiceSpec> = {}): ServiceProps {
    return serviceProps({ ...workerSpec(), ...overrides });
}

/** Postgres as components/postgres.ts makes it. */
export function postgresSpec(): SwarmServiceSpec {
    return {
        identity: IDENTITY,
        engineName: engineName(IDENTITY, "postgres"),
        component: "database",
        image: { reference: PINNED_POSTGRES, id: IMAGE_ID },
        env: { POSTGRES_USER: "opsbook_admin", POSTGRES_DB: "app" },
        secrets: mountOf(["POSTGRES_PASSWORD"], {}, { uid: "999", gid: "999" }),
        networks: [{ id: DATA_NETWORK, aliases: ["postgres"] }],
        volumes: [{ source: "opsbook-production-postgres-data", target: "/var/lib/postgresql/data" }],
        tmpfs: { "/var/run/postgresql": 8 },
        healthcheck: postgresHealthcheck(),
        replicas: 1,
        updateOrder: "stop-first",
        memoryMb: 512,
        stopGraceSeconds: 30,
        convergeTimeoutSeconds: 240,
    };
}

export function validPostgres(overrides: Partial<SwarmServiceSpec> = {}): ServiceProps {
    return serviceProps({ ...postgresSpec(), ...overrides });
}

/** Redis as components/redis.ts makes it. */
export function validRedis(overrides: Partial<SwarmServiceSpec> = {}): ServiceProps {
    return serviceProps({
        identity: IDENTITY,
        engineName: engineName(IDENTITY, "redis"),
        component: "cache",
        image: { reference: PINNED_REDIS, id: IMAGE_ID },
        env: {},
        secrets: mountOf(["REDIS_PASSWORD"], {}, { uid: "999", gid: "999" }),
        networks: [{ id: DATA_NETWORK, aliases: ["redis"] }],
        volumes: [{ source: "opsbook-production-redis-data", target: "/data" }],
        tmpfs: { "/run/redis": 1 },
        healthcheck: redisHealthcheck(),
        replicas: 1,
        updateOrder: "stop-first",
        memoryMb: 256,
        ...overrides,
    });
}

/** The backup agent as components/backup.ts makes it. */
export function validBackupAgent(overrides: Partial<SwarmServiceSpec> = {}): ServiceProps {
    return serviceProps({
        identity: IDENTITY,
        engineName: engineName(IDENTITY, "backup"),
        component: "backup",
        image: { reference: PINNED_BACKUP, id: IMAGE_ID },
        command: ["backup-agent", "serve"],
        env: { BACKUP_DIR: "/backups", BACKUP_SCHEDULE: "0 3 * * *", BACKUP_KEEP_DAYS: "7", BACKUP_LOCATION: "volume opsbook-production-backups" },
        secrets: mountOf(["BACKUP_POSTGRES_URL"], {}, { uid: "10001", gid: "10001" }),
        networks: [{ id: DATA_NETWORK, aliases: ["backup"] }],
        volumes: [{ source: "opsbook-production-backups", target: "/backups" }],
        healthcheck: healthcheck(["backup-agent", "health"], { intervalSeconds: 10, timeoutSeconds: 10, startPeriodSeconds: 300 }),
        replicas: 1,
        updateOrder: "stop-first",
        memoryMb: 256,
        stopGraceSeconds: 30,
        envContract: { required: ["BACKUP_POSTGRES_URL"], anyOf: [], formats: { BACKUP_POSTGRES_URL: "url" }, equalAcrossServices: [], requiredInProduction: [] },
        ...overrides,
    });
}

/** The gateway container as components/gateway.ts makes it. */
export function validGateway(overrides: Partial<ContainerProps> = {}): ContainerProps {
    return {
        name: engineName(IDENTITY, "gateway"),
        image: IMAGE_ID,
        envs: ["GATEWAY_ROUTES=api=10001=tasks.opsbook-production-api:8080"],
        labels: labelList({ ...stackLabels(IDENTITY, "gateway"), "opsbook.image-ref": PINNED_GATEWAY }),
        ports: [{ internal: 10001, external: 24817, ip: "127.0.0.1", protocol: "tcp" }],
        healthcheck: { tests: ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9901"], interval: "2s", timeout: "3s", retries: 3, startPeriod: "30s" },
        restart: "unless-stopped",
        readOnly: true,
        capabilities: { drops: ["ALL"] },
        memory: 64,
        ...overrides,
    };
}

/** The migration job as components/migration.ts makes it (providers/oneShot.ts). */
export function validMigration(overrides: Partial<OneShotProps> = {}): OneShotProps {
    return {
        name: engineName(IDENTITY, "migrate"),
        imageName: PINNED_APP,
        command: ["node", "dist/migrate.js"],
        env: { APP_ROLE: "migrate" },
        labels: stackLabels(IDENTITY, "migration"),
        secretFiles: [{ secretName: secretNames("MIGRATOR_DATABASE_URL").engineName, env: "DATABASE_URL" }],
        ...overrides,
    };
}

/** A scheduled backup as components/backupResources.ts registers it. */
export const BACKUP_SCHEDULE_TYPE = "pulumi-nodejs:dynamic/opsbook:BackupSchedule";
export function backupSchedule(): Record<string, unknown> {
    return { agentService: "opsbook-production-backup", schedule: "0 3 * * *", periodSeconds: 86400, staleAfterSeconds: 93600, targets: ["postgres-app"], verify: true };
}

/** Resource names the components give. */
export const NAMES = {
    api: "api-service",
    worker: "reality-engine-service",
    postgres: "postgres-server",
    redis: "redis-server",
    backup: "backups-agent",
    gateway: "gateway-nginx",
    migration: "migration-migrate",
    schedule: "backups-schedule",
} as const;

/** The whole valid stack, with parts replaced. */
export function validStack(
    parts: {
        api?: ServiceProps;
        worker?: ServiceProps;
        postgres?: ServiceProps;
        secrets?: Record<string, string | undefined>;
        extra?: StackEntry[];
        omit?: string[];
    } = {},
): StackEntry[] {
    const entries: StackEntry[] = [
        ...secretEntries(parts.secrets),
        { name: NAMES.postgres, type: SERVICE, props: parts.postgres ?? validPostgres() },
        { name: NAMES.redis, type: SERVICE, props: validRedis() },
        { name: NAMES.api, type: SERVICE, props: parts.api ?? validService() },
        { name: NAMES.worker, type: SERVICE, props: parts.worker ?? validWorker() },
        { name: NAMES.backup, type: SERVICE, props: validBackupAgent() },
        { name: NAMES.gateway, type: CONTAINER, props: validGateway() },
        { name: NAMES.migration, type: ONE_SHOT, props: validMigration() },
        { name: NAMES.schedule, type: BACKUP_SCHEDULE_TYPE, props: backupSchedule() },
    ];
    return [...entries.filter((e) => !(parts.omit ?? []).includes(e.name)), ...(parts.extra ?? [])];
}

/** A spec with one env name delivered differently: `plain` value, a bound `secret` file, or `absent`. */
export function withEnv(spec: SwarmServiceSpec, name: string, how: { plain: string } | "secret" | "absent"): SwarmServiceSpec {
    const env = { ...spec.env };
    delete env[name];
    const names = Object.keys(spec.secrets.bindings).filter((n) => n !== name);
    const keys = Object.fromEntries(Object.entries(spec.secrets.bindings).filter(([n]) => n !== name));
    if (typeof how === "object") {
        env[name] = how.plain;
    } else if (how === "secret") {
        names.push(name);
    }
    return { ...spec, env, secrets: mountOf(names, keys) };
}

/** A deep copy of props with one change applied. */
export function changed<T extends object>(props: T, change: (copy: T) => void): T {
    const copy = JSON.parse(JSON.stringify(props)) as T;
    change(copy);
    return copy;
}
