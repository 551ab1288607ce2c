// Times the pack over the largest realistic stack, built the way the components build it: six app
// services (the api with two replicas) and Postgres, Redis, the scheduler and the backup agent as
// swarm services from the real `swarmServiceArgs`, every secret value as a docker.Secret, the
// gateway container, the networks, volumes, probe config, @pulumi/random resources, the one-shot
// jobs and the backup schedule. One iteration is what the engine asks of the pack for one deploy:
// every resource policy on every resource, then every stack policy once.
//
//   node --import tsx policies/bench.ts [iterations]       (default 2000)
//
// Prints figures only; nothing is asserted.
import * as fs from "node:fs";
import * as path from "node:path";
import {
    type PolicyResource,
    type ResourceValidationArgs,
    type ResourceValidationPolicy,
    type StackValidationArgs,
    type StackValidationPolicy,
} from "@pulumi/policy";
import type { EnvContract } from "../components/envContract";
import { healthcheck, httpHealthcheck } from "../components/hardening";
import { postgresHealthcheck } from "../components/postgres";
import { redisHealthcheck } from "../components/redis";
import { LABEL_SECRET_ENV, engineName, labelList, stackLabels } from "../components/naming";
import { secretMount } from "../components/secretFiles";
import { type SwarmServiceSpec, swarmServiceArgs } from "../components/swarmService";
import { ONE_SHOT_TYPE } from "./lib";
import { policies } from "./pack";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { unknownCheckingProxy } = require("@pulumi/policy/proxy") as { unknownCheckingProxy<T>(props: T): T };

const iterations = Number(process.argv[2] ?? 2000);
const config = JSON.parse(fs.readFileSync(path.join(__dirname, "config", "production.json"), "utf8")) as Record<string, Record<string, unknown>>;

const identity = { project: "opsbook", stack: "production" };
const rand = (n: number, alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") =>
    Array.from({ length: n }, (_, i) => alphabet[(i * 7 + n * 13 + i * i) % alphabet.length]).join("");
const hex64 = rand(64, "0123456789abcdef");

/** Every secret of the stack by key, as the program makes them (generated, user-supplied, URLs). */
const secretValues: Record<string, string> = {
    DATABASE_URL: `postgres://app_login_a:${rand(32)}@postgres:5432/app`,
    REDIS_URL: `redis://:${rand(31)}@redis:6379/0`,
    REALITY_API_SECRET: rand(48),
    ADMIN_API_KEY: rand(47),
    JWT_SECRET: rand(46),
    API_KEY: rand(40),
    TRADING_KEY_ENCRYPTION_KEY: hex64,
    TRADING_KEY_ENCRYPTION_KEY_PREVIOUS: rand(64, "fedcba9876543210"),
    EOD_CRON_SECRET: rand(41),
    TELEGRAM_WEBHOOK_SECRET: rand(45),
    OPENAI_API_KEY: `sk-proj-${rand(39)}`,
    SECRET_KEY: rand(64, "0123456789abcdef".split("").reverse().join("")),
    TELEGRAM_BOT_TOKEN: `123456789:${rand(35)}`,
    POSTGRES_PASSWORD: rand(33),
    REDIS_PASSWORD: rand(31),
    MIGRATOR_DATABASE_URL: `postgres://app_migrator_a:${rand(30)}@postgres:5432/app`,
    BACKUP_POSTGRES_URL: `postgres://opsbook_admin:${rand(33)}@postgres:5432/app`,
};
const secretEngineName = (key: string) => `${engineName(identity, key.toLowerCase().replace(/_/g, "-"))}-1a2b3c4`;
const mount = (keys: string[], owner?: { uid: string; gid: string }) =>
    secretMount(Object.fromEntries(keys.map((k) => [k, { key: k, id: `id-${k}`, name: secretEngineName(k) }])), owner);

const IMAGE_ID = `sha256:${"ab".repeat(32)}`;
const probe = { configId: "cfg-probe", configName: "opsbook-production-probe-1a2b3c4" };
const data = { id: "opsbook-production-data-id", aliases: [] as string[] };
const edge = { id: "opsbook-production-edge-id", aliases: [] as string[] };

const contract = (c: Partial<EnvContract>): EnvContract => ({ required: [], anyOf: [], formats: {}, equalAcrossServices: [], requiredInProduction: [], ...c });

function app(name: string, kind: "service" | "worker", secrets: string[], c: Partial<EnvContract>, extra: Partial<SwarmServiceSpec> = {}): [string, SwarmServiceSpec] {
    const keys = ["DATABASE_URL", "REDIS_URL", ...secrets];
    return [
        `${name}-service`,
        {
            identity,
            engineName: engineName(identity, name),
            component: kind,
            specName: name,
            image: { reference: "opsbook/app:3f9c2a7b1d4e", id: IMAGE_ID },
            env: { PORT: "8080", APP_RELEASE: "7", APP_ROLE: name, LOG_LEVEL: "info", MAINTENANCE_MODE: "false", METRICS_PORT: "9100", OIDC_ISSUER: "https://auth.opsbook.test/", OIDC_AUDIENCE: "opsbook" },
            secrets: mount(keys),
            networks: [{ ...data, aliases: [name] }, ...(kind === "service" ? [{ ...edge, aliases: [name] }] : [])],
            healthcheck: httpHealthcheck(8080, "/health"),
            probe,
            replicas: 1,
            updateOrder: kind === "service" ? "start-first" : "stop-first",
            memoryMb: 256,
            envContract: contract({
                required: [...keys].sort(),
                anyOf: [[["DATABASE_URL"], ["DB_HOST", "DB_USER", "DB_PASSWORD"]]],
                formats: { DATABASE_URL: "url", REDIS_URL: "url" },
                ...c,
            }),
            ...extra,
        },
    ];
}

const services: [string, SwarmServiceSpec][] = [
    app(
        "api",
        "service",
        ["API_KEY", "TRADING_KEY_ENCRYPTION_KEY", "TRADING_KEY_ENCRYPTION_KEY_PREVIOUS", "EOD_CRON_SECRET", "TELEGRAM_WEBHOOK_SECRET", "REALITY_API_SECRET", "ADMIN_API_KEY", "JWT_SECRET"],
        {
            anyOf: [
                [["CLIENT_CERT_SUBJECT_HEADER"], ["OIDC_ISSUER", "OIDC_AUDIENCE"]],
                [["DATABASE_URL"], ["DB_HOST", "DB_USER", "DB_PASSWORD"]],
            ],
            formats: { DATABASE_URL: "url", TRADING_KEY_ENCRYPTION_KEY: "hex64", TRADING_KEY_ENCRYPTION_KEY_PREVIOUS: "hex64", TELEGRAM_WEBHOOK_SECRET: "telegram-secret-token" },
            equalAcrossServices: ["REALITY_API_SECRET", "JWT_SECRET"],
            requiredInProduction: ["EOD_CRON_SECRET"],
        },
        { replicas: 2 },
    ),
    app("workers", "worker", ["TRADING_KEY_ENCRYPTION_KEY", "JWT_SECRET"], { formats: { TRADING_KEY_ENCRYPTION_KEY: "hex64" }, equalAcrossServices: ["JWT_SECRET"] }),
    app("web", "service", ["JWT_SECRET"], { equalAcrossServices: ["JWT_SECRET"] }),
    app("orderbook", "service", ["ADMIN_API_KEY"], {}),
    app("reality-engine", "worker", ["REALITY_API_SECRET", "OPENAI_API_KEY"], { equalAcrossServices: ["REALITY_API_SECRET"] }),
    app("monitor", "worker", ["SECRET_KEY", "TELEGRAM_BOT_TOKEN"], {}, { volumes: [{ source: "opsbook-production-monitor-data", target: "/app/data" }] }),
    [
        "postgres-server",
        {
            identity,
            engineName: engineName(identity, "postgres"),
            component: "database",
            image: { reference: "opsbook/postgres:15-7c1e9a2b4d6f", id: IMAGE_ID },
            env: { POSTGRES_USER: "opsbook_admin", POSTGRES_DB: "app" },
            secrets: mount(["POSTGRES_PASSWORD"], { uid: "999", gid: "999" }),
            networks: [{ ...data, aliases: ["postgres"] }],
            volumes: [{ source: "opsbook-production-postgres-data", target: "/var/lib/postgresql/data" }],
            tmpfs: { "/var/run/postgresql": 8 },
            healthcheck: postgresHealthcheck(),
            replicas: 1,
            updateOrder: "stop-first",
            memoryMb: 1024,
        },
    ],
    [
        "redis-server",
        {
            identity,
            engineName: engineName(identity, "redis"),
            component: "cache",
            image: { reference: "opsbook/redis:7-0a1b2c3d4e5f", id: IMAGE_ID },
            env: {},
            secrets: mount(["REDIS_PASSWORD"], { uid: "999", gid: "999" }),
            networks: [{ ...data, aliases: ["redis"] }],
            volumes: [{ source: "opsbook-production-redis-data", target: "/data" }],
            healthcheck: redisHealthcheck(),
            replicas: 1,
            updateOrder: "stop-first",
            memoryMb: 256,
        },
    ],
    [
        "scheduler-service",
        {
            identity,
            engineName: engineName(identity, "scheduler"),
            component: "scheduler",
            image: { reference: "opsbook/app:3f9c2a7b1d4e", id: IMAGE_ID },
            env: { APP_ROLE: "scheduler", PORT: "8080", SERVICE_NAME: "scheduler", JOBS: JSON.stringify([{ name: "eod", schedule: "0 21 * * *", method: "POST", url: "http://api:8080/jobs/eod" }]) },
            secrets: mount(["EOD_CRON_SECRET"]),
            networks: [{ ...data, aliases: ["scheduler"] }],
            healthcheck: httpHealthcheck(8080, "/health"),
            probe,
            replicas: 1,
            updateOrder: "stop-first",
            memoryMb: 96,
            envContract: contract({ required: ["EOD_CRON_SECRET"] }),
        },
    ],
    [
        "backups-agent",
        {
            identity,
            engineName: engineName(identity, "backup"),
            component: "backup",
            image: { reference: "opsbook/backup:1-1f2e3d4c5b6a", id: IMAGE_ID },
            command: ["backup-agent", "serve"],
            env: { BACKUP_DIR: "/backups", BACKUP_SCHEDULE: "0 3 * * *", BACKUP_KEEP_DAYS: "7", BACKUP_KEEP_WEEKS: "4", BACKUP_KEEP_MONTHS: "6", BACKUP_LOCATION: "volume opsbook-production-backups" },
            secrets: mount(["BACKUP_POSTGRES_URL"], { uid: "10001", gid: "10001" }),
            networks: [{ ...data, aliases: ["backup"] }],
            volumes: [{ source: "opsbook-production-backups", target: "/backups" }],
            healthcheck: healthcheck(["backup-agent", "health"]),
            replicas: 1,
            updateOrder: "stop-first",
            memoryMb: 256,
            envContract: contract({ required: ["BACKUP_POSTGRES_URL"], formats: { BACKUP_POSTGRES_URL: "url" } }),
        },
    ],
];

const labels = (component: string) => labelList(stackLabels(identity, component));
const job = (name: string, secretEnv: string, key: string) => ({
    name: engineName(identity, name),
    imageName: "opsbook/app:3f9c2a7b1d4e",
    command: ["node", "dist/migrate.js"],
    env: { APP_ROLE: name },
    labels: stackLabels(identity, name),
    secretFiles: [{ secretName: secretEngineName(key), env: secretEnv }],
    memoryMb: 256,
    release: "7",
    redact: [secretValues[key]],
});

const others: [string, string, Record<string, unknown>][] = [
    ...Object.entries(secretValues).map(
        ([key, value]) =>
            [
                engineName(identity, key.toLowerCase().replace(/_/g, "-")),
                "docker:index/secret:Secret",
                { name: secretEngineName(key), data: Buffer.from(value).toString("base64"), labels: labelList({ ...stackLabels(identity, "secret"), [LABEL_SECRET_ENV]: key }) },
            ] as [string, string, Record<string, unknown>],
    ),
    [
        "gateway-nginx",
        "docker:index/container:Container",
        {
            name: engineName(identity, "gateway"),
            image: IMAGE_ID,
            envs: ["GATEWAY_ROUTES=api=10001=tasks.opsbook-production-api:8080 web=10002=tasks.opsbook-production-web:8080 orderbook=10003=tasks.opsbook-production-orderbook:8080"],
            labels: labelList({ ...stackLabels(identity, "gateway"), "opsbook.image-ref": "opsbook/gateway:1-5e6f7a8b9c0d" }),
            ports: [10001, 10002, 10003].map((internal, i) => ({ internal, external: 24817 + i, ip: "127.0.0.1", protocol: "tcp" })),
            healthcheck: { tests: ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9901"], interval: "2s", timeout: "3s", retries: 3, startPeriod: "30s" },
            restart: "unless-stopped",
            readOnly: true,
            capabilities: { drops: ["ALL"] },
            memory: 64,
        },
    ],
    ["network-data", "docker:index/network:Network", { name: "opsbook-production-data", driver: "overlay", options: { encrypted: "true" }, labels: labels("network") }],
    ["network-edge", "docker:index/network:Network", { name: "opsbook-production-edge", driver: "overlay", attachable: true, labels: labels("network") }],
    ...["postgres-data", "redis-data", "backups", "monitor-data"].map(
        (v) => [`${v}-volume`, "docker:index/volume:Volume", { name: `opsbook-production-${v}`, labels: labels("volume") }] as [string, string, Record<string, unknown>],
    ),
    ["opsbook-production-probe", "docker:index/serviceConfig:ServiceConfig", { data: Buffer.alloc(4096, 1).toString("base64"), labels: labels("probe") }],
    ...["reality-api-secret", "admin-api-key", "jwt-secret", "api-key", "eod-cron-secret", "postgres-admin-password", "redis-password"].map(
        (n) => [`secrets-${n}`, "random:index/randomPassword:RandomPassword", { length: 48, special: false, keepers: { rotation: "initial" } }] as [string, string, Record<string, unknown>],
    ),
    ["secrets-trading-key-encryption-key", "random:index/randomBytes:RandomBytes", { length: 32, keepers: { rotation: "initial" } }],
    ["secrets-trading-key-encryption-key-slot-b", "random:index/randomBytes:RandomBytes", { length: 32, keepers: { rotation: "initial" } }],
    ["migration-preflight", ONE_SHOT_TYPE, job("preflight", "DATABASE_URL", "MIGRATOR_DATABASE_URL")],
    ["migration-migrate", ONE_SHOT_TYPE, job("migrate", "DATABASE_URL", "MIGRATOR_DATABASE_URL")],
    ["database-access-grants", ONE_SHOT_TYPE, job("grants", "BACKUP_POSTGRES_URL", "BACKUP_POSTGRES_URL")],
    ["backups-schedule", "pulumi-nodejs:dynamic/opsbook:BackupSchedule", { agentService: "opsbook-production-backup", schedule: "0 3 * * *", periodSeconds: 86400, targets: ["postgres-app"], verify: true }],
    ["opsbook-production", "pulumi:pulumi:Stack", {}],
];

/** `isType` as the policy server answers it: by the class's type token. */
const isTypeOf = (type: string) => (cls: unknown) => (cls as { __pulumiType?: string } | undefined)?.__pulumiType === type;

// Props as the policy server hands them over: plain values behind @pulumi/policy's unknown-checking proxy.
const resources: PolicyResource[] = [
    ...services.map(([name, spec]) => [name, "docker:index/service:Service", swarmServiceArgs(spec) as unknown as Record<string, unknown>] as const),
    ...others,
].map(([name, type, props]) => ({
    type,
    name,
    urn: `urn:pulumi:production::opsbook::${type}::${name}`,
    props: unknownCheckingProxy(JSON.parse(JSON.stringify(props))),
    opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
    dependencies: [],
    propertyDependencies: {},
    isType: isTypeOf(type),
    asType: () => undefined,
}));

const notApplicable = (): never => {
    throw new Error("not applicable");
};
const configFor = (name: string) => {
    const { enforcementLevel: _level, ...props } = config[name] ?? {};
    return <T extends object>() => props as T;
};

const resourcePolicies = policies.filter((p): p is ResourceValidationPolicy => "validateResource" in p);
const stackPolicies = policies.filter((p): p is StackValidationPolicy => "validateStack" in p);
let violations = 0;
const seen = new Set<string>();
const report = (message: string) => {
    violations++;
    seen.add(message);
};

async function iteration(): Promise<void> {
    for (const r of resources) {
        for (const policy of resourcePolicies) {
            const args: ResourceValidationArgs = {
                type: r.type,
                name: r.name,
                urn: r.urn,
                props: r.props,
                opts: r.opts,
                stackTags: new Map(),
                isType: isTypeOf(r.type),
                asType: () => undefined,
                getConfig: configFor(policy.name),
                notApplicable,
            };
            const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
            for (const validate of validations) {
                try {
                    await validate(args, report);
                } catch (err) {
                    // validateResourceOfType says "not applicable" for other types, as the server does.
                    if (!(err instanceof Error && err.message === "not applicable")) {
                        throw err;
                    }
                }
            }
        }
    }
    for (const policy of stackPolicies) {
        const args: StackValidationArgs = { resources, stackTags: new Map(), getConfig: configFor(policy.name), notApplicable };
        await policy.validateStack(args, report);
    }
}

function percentile(sorted: number[], p: number): number {
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
    for (let i = 0; i < Math.min(200, iterations); i++) {
        await iteration(); // warm-up: JIT and the pattern cache
    }
    violations = 0;
    const times: number[] = [];
    for (let i = 0; i < iterations; i++) {
        const start = process.hrtime.bigint();
        await iteration();
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(
        `opsbook policy pack: ${resources.length} resources (${services.length} swarm services), ` +
            `${resourcePolicies.length} resource policies, ${stackPolicies.length} stack policies, ${iterations} iterations`,
    );
    console.log(
        `per iteration: median ${times[Math.floor(times.length / 2)].toFixed(3)} ms, p95 ${percentile(times, 95).toFixed(3)} ms, ` +
            `min ${times[0].toFixed(3)} ms, max ${times[times.length - 1].toFixed(3)} ms`,
    );
    console.log(`violations reported over all iterations: ${violations} (the stack is valid, so 0 is expected)`);
    for (const message of seen) {
        console.log(`  - ${message}`);
    }
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});
