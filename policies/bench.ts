// Times the pack over the largest realistic stack: six app services (the api with two replicas),
// Postgres, Redis, the network and volumes, generated secrets and a backup schedule, with env
// contracts like the seeds'. One iteration is what the engine asks of the pack for one deploy:
// every resource policy on every resource, then every stack policy once.
//
//   node --import tsx policies/bench.ts [iterations]       (default 2000)
//
// Prints figures only; nothing is asserted.
import * as fs from "node:fs";
import * as path from "node:path";
import {
    unknownCheckingProxy,
    type PolicyResource,
    type ResourceValidationArgs,
    type ResourceValidationPolicy,
    type StackValidationArgs,
    type StackValidationPolicy,
} from "@pulumi/policy";
import type { EnvContract } from "../components/envContract";
import { HARDENED_DEFAULTS } from "../components/hardening";
import type { ContainerInputs } from "../providers/docker";
import { dynamicType } from "./lib";
import { policies } from "./pack";

const iterations = Number(process.argv[2] ?? 2000);
const config = JSON.parse(fs.readFileSync(path.join(__dirname, "config", "production.json"), "utf8")) as Record<
    string,
    Record<string, unknown>
>;

const rand = (n: number, alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") =>
    Array.from({ length: n }, (_, i) => alphabet[(i * 7 + n * 13) % alphabet.length]).join("");
const hex64 = rand(64, "0123456789abcdef");

const shared = {
    REALITY_API_SECRET: rand(48),
    ADMIN_API_KEY: rand(48),
    JWT_SECRET: rand(48),
};
const dbUrl = `postgres://opsbook_admin:${rand(32)}@postgres:5432/app`;
const redisUrl = `redis://:${rand(32)}@redis:6379/0`;

const contract = (c: Partial<EnvContract>): EnvContract => ({
    required: [],
    anyOf: [],
    formats: {},
    equalAcrossServices: [],
    requiredInProduction: [],
    ...c,
});

const base = {
    image: `sha256:${"ab".repeat(32)}`,
    networks: [{ name: "opsbook-production-net-1a2b3c", aliases: [] as string[] }],
    mounts: [],
    healthCheck: { test: ["CMD", "node", "-e", "process.exit(0)"], intervalSeconds: 5, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 30 },
    ...HARDENED_DEFAULTS,
    waitHealthySeconds: 60,
};

function service(name: string, role: ContainerInputs["role"], secretEnv: Record<string, string>, c: Partial<EnvContract>): ContainerInputs {
    return {
        ...base,
        name: `opsbook-production-${name}`,
        imageName: "opsbook/app:1.4.2",
        env: { PORT: "8080", APP_ROLE: name, LOG_LEVEL: "info", MAINTENANCE_MODE: "false", METRICS_PORT: "9100", OIDC_ISSUER: "https://auth.opsbook.test/", OIDC_AUDIENCE: "opsbook" },
        secretEnv: { DATABASE_URL: dbUrl, REDIS_URL: redisUrl, ...secretEnv },
        labels: { "opsbook.project": "opsbook", "opsbook.stack": "production", "opsbook.component": "service", "opsbook.service": name },
        publish: role === "service" ? [8080] : [],
        memoryMb: 256,
        role,
        envContract: contract({
            required: ["DATABASE_URL", ...Object.keys(secretEnv)],
            anyOf: [[["DATABASE_URL"], ["DB_HOST", "DB_USER", "DB_PASSWORD"]]],
            formats: { DATABASE_URL: "url", REDIS_URL: "url" },
            ...c,
        }),
    };
}

const api = service(
    "api",
    "service",
    { API_KEY: rand(40), TRADING_KEY_ENCRYPTION_KEY: hex64, EOD_CRON_SECRET: rand(40), TELEGRAM_WEBHOOK_SECRET: rand(64), ...shared },
    {
        anyOf: [
            [["CLIENT_CERT_SUBJECT_HEADER"], ["OIDC_ISSUER", "OIDC_AUDIENCE"]],
            [["DATABASE_URL"], ["DB_HOST", "DB_USER", "DB_PASSWORD"]],
        ],
        formats: { DATABASE_URL: "url", TRADING_KEY_ENCRYPTION_KEY: "hex64", TELEGRAM_WEBHOOK_SECRET: "telegram-secret-token" },
        equalAcrossServices: ["REALITY_API_SECRET", "JWT_SECRET"],
        requiredInProduction: ["EOD_CRON_SECRET"],
    },
);

const containers: [string, ContainerInputs][] = [
    ["api-container-0", api],
    ["api-container-1", api],
    ["workers-container", service("workers", "worker", { TRADING_KEY_ENCRYPTION_KEY: hex64, ...shared }, { formats: { TRADING_KEY_ENCRYPTION_KEY: "hex64" }, equalAcrossServices: ["JWT_SECRET"] })],
    ["web-container", service("web", "service", { JWT_SECRET: shared.JWT_SECRET }, { equalAcrossServices: ["JWT_SECRET"] })],
    ["orderbook-container", service("orderbook", "service", { ADMIN_API_KEY: shared.ADMIN_API_KEY }, {})],
    ["reality-engine-container", service("reality-engine", "worker", { REALITY_API_SECRET: shared.REALITY_API_SECRET, OPENAI_API_KEY: `sk-proj-${rand(40)}` }, { equalAcrossServices: ["REALITY_API_SECRET"] })],
    ["monitor-container", service("monitor", "worker", { SECRET_KEY: hex64, TELEGRAM_BOT_TOKEN: `123456789:${rand(35)}` }, {})],
    [
        "postgres-server",
        {
            ...base,
            name: "opsbook-production-postgres",
            imageName: "opsbook/postgres:15",
            env: { POSTGRES_USER: "opsbook_admin", POSTGRES_DB: "app" },
            secretEnv: { POSTGRES_PASSWORD: rand(32) },
            labels: { "opsbook.project": "opsbook", "opsbook.stack": "production", "opsbook.component": "postgres" },
            publish: [],
            memoryMb: 1024,
            role: "database",
            envContract: contract({ required: ["POSTGRES_PASSWORD"] }),
        },
    ],
    [
        "redis-server",
        {
            ...base,
            name: "opsbook-production-redis",
            imageName: "opsbook/redis:7",
            env: {},
            secretEnv: { REDIS_PASSWORD: rand(32), REDISCLI_AUTH: rand(32) },
            labels: { "opsbook.project": "opsbook", "opsbook.stack": "production", "opsbook.component": "redis" },
            publish: [],
            memoryMb: 256,
            role: "cache",
            envContract: contract({ required: ["REDIS_PASSWORD"] }),
        },
    ],
];

const others: [string, string, Record<string, unknown>][] = [
    ["network", dynamicType("Network"), { name: "opsbook-production-net", labels: {}, networkName: "opsbook-production-net-1a2b3c" }],
    ["postgres-data", dynamicType("Volume"), { name: "opsbook-production-postgres-data", labels: {} }],
    ["redis-data", dynamicType("Volume"), { name: "opsbook-production-redis-data", labels: {} }],
    ...["postgres-admin-password", "redis-password", "reality-api-secret", "admin-api-key", "jwt-secret", "trading-key"].map(
        (n) => [n, "pulumi-nodejs:dynamic/opsbook:GeneratedSecretValue", { length: 48, alphabet: "alphanumeric", rotation: "initial", value: rand(48) }] as [string, string, Record<string, unknown>],
    ),
    ["postgres-backup", "pulumi-nodejs:dynamic/opsbook:BackupSchedule", { schedule: "0 3 * * *", retentionDays: 7 }],
    ["pulumi-stack", "pulumi:pulumi:Stack", {}],
];

// Props as the policy server hands them over: plain values behind @pulumi/policy's unknown-checking proxy.
const resources: PolicyResource[] = [
    ...containers.map(([name, props]) => [name, dynamicType("Container"), props] as const),
    ...others,
].map(([name, type, props]) => ({
    type,
    name,
    urn: `urn:pulumi:production::opsbook::${type}::${name}`,
    props: unknownCheckingProxy(JSON.parse(JSON.stringify(props))),
    opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
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
const report = () => {
    violations++;
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
                isType: () => false,
                asType: () => undefined,
                getConfig: configFor(policy.name),
                notApplicable,
            };
            const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
            for (const validate of validations) {
                await validate(args, report);
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
    const containerCount = containers.length;
    console.log(
        `opsbook policy pack: ${resources.length} resources (${containerCount} containers), ` +
            `${resourcePolicies.length} resource policies, ${stackPolicies.length} stack policies, ${iterations} iterations`,
    );
    console.log(`per iteration: median ${times[Math.floor(times.length / 2)].toFixed(3)} ms, p95 ${percentile(times, 95).toFixed(3)} ms, ` +
        `min ${times[0].toFixed(3)} ms, max ${times[times.length - 1].toFixed(3)} ms`);
    console.log(`violations reported over all iterations: ${violations} (the stack is valid, so 0 is expected)`);
}

main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
});
