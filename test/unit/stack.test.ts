// The whole program under Pulumi mocks: what the staging stack (the copy-trading preset, plus a
// preflight and a scheduled job) registers on Docker Swarm, with no engine.
// Mocks and config are set before the program is imported, as the program reads them at load.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { derivedHostPort, listenPorts } from "../../components/gateway";
import { FakeEngine } from "./fakeDockerEngine";
import { LOCAL_IMAGES, Registered, TYPES, isSecret, reveal, runProgramUnderMocks, unwrap } from "./mocks";

const identity = { project: "opsbook", stack: "staging" };
/** A user-supplied secret (`pulumi config set --secret DYNAMIC_PUBLIC_KEY ...`). */
const USER_SECRET = "dyn-pk-7c1e9d0f5b";
/** Fills every generated password, so a leak is easy to spot. */
const SECRET_CHAR = "Q";

let registered: Registered[] = [];
let engine: FakeEngine;
let outputs: Record<string, pulumi.Output<unknown>>;

function ofType(type: string): Registered[] {
    return registered.filter((r) => r.type === type);
}

function labelOf(r: Registered, label: string): string | undefined {
    return (r.inputs.labels as { label: string; value: string }[] | undefined)?.find((l) => l.label === label)?.value;
}

/** The swarm service labelled with a component (database, cache, scheduler, backup) or a spec name (api, web, workers). */
function service(which: string): Registered {
    const found = ofType(TYPES.service).filter((s) => labelOf(s, "opsbook.service") === which || labelOf(s, "opsbook.component") === which);
    assert.equal(found.length, 1, `${found.length} services labelled ${which}; registered: ${ofType(TYPES.service).map((s) => s.name).join(", ")}`);
    return found[0];
}

function secretFor(key: string): Registered {
    const found = ofType(TYPES.secret).filter((s) => labelOf(s, "opsbook.secret-env") === key);
    assert.equal(found.length, 1, `${found.length} secrets labelled opsbook.secret-env=${key}`);
    return found[0];
}

/** What a swarm secret holds, and whether its data reached the provider as a secret. */
function secretValue(secret: Registered): { secret: boolean; value: string } {
    const data = reveal(secret.inputs.data);
    return { secret: data.secret, value: Buffer.from(data.value as string, "base64").toString("utf8") };
}

function byName(name: string): Registered {
    const found = registered.find((r) => r.name === name);
    assert.ok(found, `${name} was not registered`);
    return found;
}

const containerSpec = (s: Registered) => s.inputs.taskSpec.containerSpec;

/** Every secret value of the stack, as the mocks generate them. */
function secretValues(): string[] {
    return [
        ...ofType(TYPES.randomPassword).map((r) => SECRET_CHAR.repeat(r.inputs.length)),
        ...ofType(TYPES.randomBytes).map((r) => "ab".repeat(r.inputs.length)),
        USER_SECRET,
    ];
}

describe("the staging stack under mocks", () => {
    before(async () => {
        ({ registered, outputs, engine } = await runProgramUnderMocks(
            {
                // Pulumi.staging.yaml
                "opsbook:preset": "copy-trading",
                "opsbook:images": JSON.stringify({ postgres: "opsbook/postgres:15", redis: "opsbook/redis:7", app: "opsbook/app:reference" }),
                "opsbook:postgres": JSON.stringify({ memoryMb: 512 }),
                "opsbook:redis": JSON.stringify({ memoryMb: 128 }),
                // ... with a preflight and an end-of-day job that sends a secret.
                "opsbook:migrations": JSON.stringify({ preflight: ["node", "/app/dist/main.js", "preflight"] }),
                "opsbook:jobs": JSON.stringify({
                    eod: { schedule: "0 22 * * 1-5", service: "api", path: "/jobs/eod", secretHeader: { header: "X-Cron-Secret", secret: "ADMIN_TOKEN" } },
                }),
                "opsbook:DYNAMIC_PUBLIC_KEY": USER_SECRET,
            },
            { secretKeys: ["opsbook:DYNAMIC_PUBLIC_KEY"], secretChar: SECRET_CHAR },
        ));
        await unwrap(outputs.endpoints);
        // The backup agent registers last: it waits for every database it copies; the gateway
        // waits for the monitoring services it publishes.
        await unwrap(outputs.backups);
        await unwrap(outputs.gatewayContainer);
    });

    after(async () => {
        await engine?.close();
    });

    it("exports each published service's base URL on 127.0.0.1 at the port derived from the stack", async () => {
        const api = derivedHostPort(identity, "api");
        const web = derivedHostPort(identity, "web");
        assert.deepEqual(await unwrap(outputs.endpoints), { api: `http://127.0.0.1:${api}`, web: `http://127.0.0.1:${web}` });
        assert.deepEqual(await unwrap(outputs.healthChecks), { api: `http://127.0.0.1:${api}/health`, web: `http://127.0.0.1:${web}/health` });
        assert.equal(await isSecret(outputs.endpoints), false);
        assert.deepEqual(await unwrap(outputs.services), { api: "opsbook-staging-api", workers: "opsbook-staging-workers", web: "opsbook-staging-web" });
    });

    it("publishes the http services through one gateway container bound to 127.0.0.1, routing to the services' tasks", () => {
        const gateways = ofType(TYPES.container);
        assert.equal(gateways.length, 1, "the gateway is the only container");
        const gateway = gateways[0];
        // Prometheus and Alertmanager are published beside the services, on 127.0.0.1 too.
        const listen = listenPorts(["api", "web", "alertmanager", "prometheus"]);
        assert.deepEqual(gateway.inputs.ports, [
            { internal: listen.api, external: derivedHostPort(identity, "api"), ip: "127.0.0.1", protocol: "tcp" },
            { internal: listen.web, external: derivedHostPort(identity, "web"), ip: "127.0.0.1", protocol: "tcp" },
            { internal: listen.alertmanager, external: derivedHostPort(identity, "alertmanager"), ip: "127.0.0.1", protocol: "tcp" },
            { internal: listen.prometheus, external: derivedHostPort(identity, "prometheus"), ip: "127.0.0.1", protocol: "tcp" },
        ]);
        assert.deepEqual(gateway.inputs.envs, [
            `GATEWAY_ROUTES=api=${listen.api}=tasks.opsbook-staging-api:8080 web=${listen.web}=tasks.opsbook-staging-web:8080 ` +
                `alertmanager=${listen.alertmanager}=tasks.opsbook-staging-monitoring-alertmanager:9093 prometheus=${listen.prometheus}=tasks.opsbook-staging-monitoring-prometheus:9090`,
        ]);
        assert.deepEqual(gateway.inputs.networksAdvanced, [{ name: "opsbook-staging-edge", aliases: ["gateway"] }]);
        assert.equal(gateway.inputs.image, LOCAL_IMAGES["opsbook/gateway:1"]);
        assert.equal(gateway.inputs.readOnly, true);
        assert.deepEqual(gateway.inputs.capabilities, { drops: ["ALL"] });
        assert.ok(gateway.inputs.healthcheck?.tests?.length > 0, "the gateway has no health check");
        assert.equal(gateway.options.deleteBeforeReplace, true, "two gateways would fight over the stack's ports");
    });

    it("publishes no port on any swarm service and resolves tasks by DNS round robin", () => {
        const services = ofType(TYPES.service);
        assert.deepEqual(services.map((s) => s.inputs.name).sort(), [
            "opsbook-staging-api",
            "opsbook-staging-backup",
            "opsbook-staging-monitoring-alertmanager",
            "opsbook-staging-monitoring-blackbox-exporter",
            "opsbook-staging-monitoring-node-exporter",
            "opsbook-staging-monitoring-prometheus",
            "opsbook-staging-monitoring-redis-exporter",
            "opsbook-staging-monitoring-task-memory",
            "opsbook-staging-postgres",
            "opsbook-staging-redis",
            "opsbook-staging-scheduler",
            "opsbook-staging-web",
            "opsbook-staging-workers",
        ]);
        for (const s of services) {
            assert.deepEqual(s.inputs.endpointSpec, { mode: "dnsrr" }, `${s.name} publishes a port or has a virtual IP`);
        }
    });

    it("keys services on image IDs looked up on the engine, and keeps the reference in a label", () => {
        const expected: Record<string, string> = {
            database: "opsbook/postgres:15",
            cache: "opsbook/redis:7",
            api: "opsbook/app:reference",
            workers: "opsbook/app:reference",
            web: "opsbook/app:reference",
            scheduler: "opsbook/app:reference",
            backup: "opsbook/backup:1",
        };
        for (const [which, reference] of Object.entries(expected)) {
            const s = service(which);
            assert.equal(containerSpec(s).image, LOCAL_IMAGES[reference], which);
            assert.match(containerSpec(s).image, /^sha256:/);
            assert.equal(labelOf(s, "opsbook.image-ref"), reference, which);
        }
        // CLI versions differ in whether they escape the reference in the path.
        assert.ok(engine.requests.map(decodeURIComponent).includes("GET /images/opsbook/app:reference/json"), engine.requests.join("\n"));
    });

    it("gives the api DATABASE_URL and REDIS_URL only as secret files", async () => {
        const api = service("api");
        const env = containerSpec(api).env as Record<string, string>;
        assert.equal(env.DATABASE_URL_FILE, "/run/secrets/DATABASE_URL");
        assert.equal(env.REDIS_URL_FILE, "/run/secrets/REDIS_URL");
        assert.ok(!("DATABASE_URL" in env) && !("REDIS_URL" in env), "a URL leaked into plain env");

        const database = secretFor("DATABASE_URL");
        const redis = secretFor("REDIS_URL");
        assert.deepEqual(secretValue(database), { secret: true, value: `postgres://app_app_blue:${SECRET_CHAR.repeat(32)}@postgres:5432/app` });
        assert.deepEqual(secretValue(redis), { secret: true, value: `redis://:${SECRET_CHAR.repeat(32)}@redis:6379/0` });
        assert.ok(database.options.additionalSecretOutputs.includes("data"));

        const files = containerSpec(api).secrets as { fileName: string; secretName: string; secretId: string; fileMode: number }[];
        const mounted = (name: string) => files.find((f) => f.fileName === `/run/secrets/${name}`);
        assert.equal(mounted("DATABASE_URL")?.secretName, `${database.name}-abc1234`);
        assert.equal(mounted("DATABASE_URL")?.secretId, `${database.name}-id`);
        assert.equal(mounted("REDIS_URL")?.secretName, `${redis.name}-abc1234`);
        assert.deepEqual(JSON.parse(labelOf(api, "opsbook.secrets") ?? "{}"), {
            ADMIN_TOKEN: "ADMIN_TOKEN",
            DATABASE_URL: "DATABASE_URL",
            DYNAMIC_PUBLIC_KEY: "DYNAMIC_PUBLIC_KEY",
            REDIS_URL: "REDIS_URL",
            TRADING_KEY_ENCRYPTION_KEY: "TRADING_KEY_ENCRYPTION_KEY",
            TRADING_KEY_ENCRYPTION_KEY_PREVIOUS: "TRADING_KEY_ENCRYPTION_KEY_PREVIOUS",
        });
        assert.deepEqual(secretValue(secretFor("DYNAMIC_PUBLIC_KEY")), { secret: true, value: USER_SECRET });
        assert.equal(await isSecret(outputs.endpoints), false);
    });

    it("gives migrations the migration role's URL as their DATABASE_URL, and rolls no service before they succeed", () => {
        const migrate = byName("migration-migrate");
        assert.equal(migrate.type, TYPES.oneShotRun);
        assert.deepEqual(migrate.inputs.secretFiles, [{ secretName: `${secretFor("MIGRATOR_DATABASE_URL").name}-abc1234`, env: "DATABASE_URL" }]);
        assert.match(secretValue(secretFor("MIGRATOR_DATABASE_URL")).value, /^postgres:\/\/app_migrator:Q{32}@postgres:5432\/app$/);
        const preflight = byName("migration-preflight");
        assert.ok(migrate.options.dependencies.some((urn) => urn.endsWith("::migration-preflight")), "migrations run before the preflight passed");
        const preflightDb = (preflight.inputs.secretFiles as { env: string; secretName: string }[]).filter((f) => f.env === "DATABASE_URL");
        assert.deepEqual(preflightDb, [{ env: "DATABASE_URL", secretName: `${secretFor("MIGRATOR_DATABASE_URL").name}-abc1234` }]);
        for (const name of ["api", "workers"]) {
            assert.ok(
                byName(name).options.dependencies.some((urn) => urn.endsWith("::migration-migrate")),
                `${name} does not wait for the migrations`,
            );
        }
        assert.ok(reveal(migrate.inputs.redact).secret, "the values to redact are kept in the state unencrypted");
    });

    it("puts no secret value in any service's env, labels or command, the gateway, or a job's command line", () => {
        const values = secretValues();
        assert.ok(values.length >= 8, values.join(","));
        const plain = [
            ...ofType(TYPES.service).map((s) => ({ name: s.name, text: JSON.stringify(s.inputs) })),
            ...ofType(TYPES.container).map((c) => ({ name: c.name, text: JSON.stringify(c.inputs) })),
            ...ofType(TYPES.oneShotRun).map((j) => ({ name: j.name, text: JSON.stringify({ ...j.inputs, redact: undefined, __provider: undefined }) })),
            ...ofType(TYPES.secret).map((s) => ({ name: s.name, text: JSON.stringify(s.inputs.labels) })),
        ];
        for (const { name, text } of plain) {
            for (const value of values) {
                assert.ok(!text.includes(value), `${name} holds a secret value (${value.slice(0, 4)}...)`);
            }
        }
        for (const secret of ofType(TYPES.secret)) {
            assert.equal(reveal(secret.inputs.data).secret, true, `${secret.name}'s data reached the provider in plain text`);
        }
    });

    it("gives every service a health check, a restart policy, a memory limit and the hardened baseline", () => {
        // One probe config per stack; the others are the monitoring services' config files.
        const probeConfig = ofType(TYPES.serviceConfig).filter((c) => c.name.endsWith("-probe"));
        assert.equal(probeConfig.length, 1, "one probe config per stack");
        for (const s of ofType(TYPES.service)) {
            const spec = containerSpec(s);
            const tests = spec.healthcheck?.tests as string[] | undefined;
            assert.ok(tests && tests.length > 1 && tests[0] === "CMD", `${s.name} has no health check`);
            if (tests[1] === "/opsbook-probe") {
                assert.deepEqual(spec.configs.slice(0, 1), [
                    { configId: `${probeConfig[0].name}-id`, configName: `${probeConfig[0].name}-abc1234`, fileName: "/opsbook-probe", fileMode: 0o555 },
                ]);
            } else {
                assert.deepEqual(spec.configs, [], `${s.name} mounts the probe it does not run`);
            }
            assert.deepEqual(s.inputs.taskSpec.restartPolicy, { condition: "any", delay: "2s", window: "30s" }, s.name);
            assert.ok(s.inputs.taskSpec.resources.limits.memoryBytes > 0, `${s.name} has no memory limit`);
            assert.deepEqual(spec.capDrops, ["ALL"], s.name);
            assert.equal(spec.readOnly, true, `${s.name} has a writable root filesystem`);
            assert.ok(
                (spec.mounts as { type: string; target: string }[]).some((m) => m.type === "tmpfs" && m.target === "/tmp"),
                `${s.name} has no private /tmp`,
            );
        }
        // The http services are checked by the probe, the rest by their images' own commands.
        for (const which of ["api", "web", "workers", "scheduler"]) {
            assert.equal(containerSpec(service(which)).healthcheck.tests[1], "/opsbook-probe", which);
        }
        assert.deepEqual(containerSpec(service("database")).healthcheck.tests.slice(0, 2), ["CMD", "pg_isready"]);
        assert.deepEqual(containerSpec(service("backup")).healthcheck.tests, ["CMD", "backup-agent", "health"]);
        // A slow check on a busy machine must not restart the one-task data services (each restart
        // is an outage of everything that uses them): 10 s per check, 5 failures in a row.
        for (const which of ["database", "cache"]) {
            const check = containerSpec(service(which)).healthcheck;
            assert.deepEqual([check.timeout, check.retries], ["10s", 5], which);
        }
        // The api's stays quick to drop a task that stops answering: another replica serves.
        assert.deepEqual([containerSpec(service("api")).healthcheck.timeout, containerSpec(service("api")).healthcheck.retries], ["3s", 3]);
    });

    it("updates one-writer services stop-first and replaces them delete-first; stateless ones start-first with rollback", () => {
        for (const which of ["database", "cache", "backup", "scheduler", "workers"]) {
            const s = service(which);
            assert.equal(s.inputs.updateConfig.order, "stop-first", which);
            assert.equal(s.inputs.rollbackConfig.order, "stop-first", which);
            assert.equal(s.options.deleteBeforeReplace, true, `${which} would run twice during a replacement`);
        }
        for (const which of ["api", "web"]) {
            const s = service(which);
            assert.equal(s.inputs.updateConfig.order, "start-first", which);
            assert.equal(s.inputs.updateConfig.failureAction, "rollback", which);
            assert.equal(s.options.deleteBeforeReplace, false, which);
        }
        assert.equal(service("api").inputs.mode.replicated.replicas, 2);
        assert.equal(service("workers").inputs.mode.replicated.replicas, 1);
    });

    it("puts every service on the encrypted data network, and the published ones on the edge network too", () => {
        const data = byName("network-data");
        const edge = byName("network-edge");
        assert.deepEqual({ name: data.inputs.name, driver: data.inputs.driver, attachable: data.inputs.attachable, options: data.inputs.options }, {
            name: "opsbook-staging-data",
            driver: "overlay",
            attachable: false,
            options: { encrypted: "true" },
        });
        assert.equal(edge.inputs.attachable, true, "the gateway container could not join the edge network");
        const aliases: Record<string, string> = { database: "postgres", cache: "redis", backup: "backup", scheduler: "scheduler", api: "api", web: "web", workers: "workers" };
        for (const [which, alias] of Object.entries(aliases)) {
            const networks = service(which).inputs.taskSpec.networksAdvanceds;
            const expected = [{ id: "network-data-id", aliases: [alias] }, ...(which === "api" || which === "web" ? [{ id: "network-edge-id", aliases: [alias] }] : [])];
            assert.deepEqual(networks, expected, which);
        }
    });

    it("names the data volumes after the stack and keeps them on destroy, so a redeploy finds them again", () => {
        const volumes = ofType(TYPES.volume);
        assert.deepEqual(volumes.map((v) => v.inputs.name).sort(), [
            "opsbook-staging-alertmanager-data",
            "opsbook-staging-backups",
            "opsbook-staging-postgres-data",
            "opsbook-staging-postgres-pitr-scratch",
            "opsbook-staging-prometheus-data",
            "opsbook-staging-redis-data",
        ]);
        // Monitoring's history is no business data, nor is pgBackRest's scratch space (restores
        // for proofs and inspection): they go with the stack.
        for (const v of volumes.filter((v) => !/(prometheus|alertmanager)-data$|pitr-scratch$/.test(v.inputs.name))) {
            assert.equal(v.options.retainOnDelete, true, `${v.inputs.name} would be deleted with the stack`);
        }
        assert.deepEqual(containerSpec(service("database")).mounts[0], { type: "volume", source: "opsbook-staging-postgres-data", target: "/var/lib/postgresql/data", readOnly: false });
    });

    it("runs the node exporter on every node with only the volumes' directory mounted, read-only", () => {
        const exporter = ofType(TYPES.service).find((s) => s.inputs.name === "opsbook-staging-monitoring-node-exporter")!;
        assert.deepEqual(exporter.inputs.mode, { global: true });
        assert.equal(exporter.inputs.convergeConfig, undefined, "the provider converges replicated services only");
        const spec = containerSpec(exporter);
        assert.deepEqual(
            spec.mounts.filter((m: { type: string }) => m.type !== "tmpfs"),
            [{ type: "bind", source: "/var/lib/docker/volumes", target: "/host/volumes", readOnly: true }],
        );
        assert.equal(spec.hostname, "{{.Node.Hostname}}");
        assert.equal(spec.readOnly, true);
    });

    it("runs the task memory exporter on every node for this stack, with the cgroups and the engine's container records read-only", () => {
        const exporter = ofType(TYPES.service).find((s) => s.inputs.name === "opsbook-staging-monitoring-task-memory")!;
        assert.deepEqual(exporter.inputs.mode, { global: true });
        const spec = containerSpec(exporter);
        assert.deepEqual(
            spec.mounts.filter((m: { type: string }) => m.type !== "tmpfs"),
            [
                { type: "bind", source: "/sys/fs/cgroup", target: "/host/cgroup", readOnly: true },
                { type: "bind", source: "/var/lib/docker/containers", target: "/host/containers", readOnly: true },
            ],
        );
        assert.ok(spec.commands.includes("--stack=staging"), spec.commands.join(" "));
        assert.deepEqual(spec.capDrops, ["ALL"]);
    });

    it("runs pgBackRest in the Postgres service: the repository in the backup location, its key only as a secret file", () => {
        const spec = containerSpec(service("database"));
        const mounts = spec.mounts.filter((m: { type: string }) => m.type === "volume");
        assert.deepEqual(mounts.map((m: { source: string; target: string }) => [m.source, m.target]), [
            ["opsbook-staging-postgres-data", "/var/lib/postgresql/data"],
            ["opsbook-staging-backups", "/backups"],
            ["opsbook-staging-postgres-pitr-scratch", "/var/lib/postgresql/scratch"],
        ]);
        assert.deepEqual(spec.groups, ["10001"], "Postgres writes the agent-owned repository directory as a member of its group");
        assert.equal(spec.env.OPSBOOK_PITR, "on");
        assert.equal(spec.env.OPSBOOK_PITR_REPO, "/backups/pgbackrest");
        assert.equal(spec.env.PITR_CIPHER_PASS_FILE, "/run/secrets/PITR_CIPHER_PASS");
        const key = secretValue(secretFor("PITR_CIPHER_PASS"));
        assert.equal(key.secret, true);
        assert.equal(key.value.length, 64);
        assert.doesNotMatch(JSON.stringify(spec.env), new RegExp(key.value));
        assert.equal(containerSpec(service("backup")).env.BACKUP_PITR_REPO, "/backups/pgbackrest");
        // Made before Postgres, by its own component (the old name is kept; an alias keeps the URN).
        const location = ofType(TYPES.volume).find((v) => v.inputs.name === "opsbook-staging-backups")!;
        assert.equal(location.name, "backups-location");
        assert.match(location.options.parent, /opsbook:index:BackupLocation::backups$/);
    });

    it("protects the encryption key in use and delivers the previous one beside it", () => {
        const keys = ofType(TYPES.randomBytes);
        assert.deepEqual(keys.map((k) => [k.name, k.options.protect]).sort(), [
            ["secrets-trading-key-encryption-key", true],
            ["secrets-trading-key-encryption-key-slot-b", false],
        ]);
        assert.deepEqual(secretValue(secretFor("TRADING_KEY_ENCRYPTION_KEY")), { secret: true, value: "ab".repeat(32) });
        assert.equal(containerSpec(service("workers")).env.TRADING_KEY_ENCRYPTION_KEY_PREVIOUS_FILE, "/run/secrets/TRADING_KEY_ENCRYPTION_KEY_PREVIOUS");
    });
});
