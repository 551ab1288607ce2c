// The pure functions behind the stack's swarm resources: the Service arguments every component
// builds through, the engine's duration format, secret files for services and jobs, the one-shot
// job's command line and its redaction, and the gateway's ports and routes. No engine, no mocks.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { EMPTY_ENV_CONTRACT, EnvContract } from "../../components/envContract";
import { derivedHostPort, gatewayRoutes, listenPorts } from "../../components/gateway";
import { duration, healthcheck, httpHealthcheck } from "../../components/hardening";
import { mergeMounts } from "../../components/migration";
import { NO_SECRETS, SecretMount, jobSecretFiles, secretMount, secretNamePrefix } from "../../components/secretFiles";
import { updateVerdict } from "../../providers/serviceSettled";
import { encryptionKeySlots, previousName } from "../../components/secrets";
import { SwarmServiceSpec, swarmServiceArgs } from "../../components/swarmService";
import { stackNodeLabels, stackPlacement } from "../../components/naming";
import { OneShotInputs, jobCreateArgs, redactSecrets } from "../../providers/oneShot";

const identity = { project: "opsbook", stack: "staging" };
const probe = { configId: "probe-config-id", configName: "opsbook-staging-probe-abc1234" };
const ref = (key: string) => ({ key, id: `${key.toLowerCase()}-id`, name: `opsbook-staging-${key.toLowerCase()}-abc1234` });

const base: SwarmServiceSpec = {
    identity,
    engineName: "opsbook-staging-api",
    component: "service",
    specName: "api",
    image: { reference: "opsbook/app:reference", id: "sha256:3333" },
    env: { PORT: "8080" },
    secrets: secretMount({ DATABASE_URL: ref("DATABASE_URL") }),
    networks: [{ id: "net-data-id", aliases: ["api"] }],
    healthcheck: httpHealthcheck(8080, "/health"),
    probe,
    replicas: 2,
    updateOrder: "start-first",
    memoryMb: 256,
};

/** The Service arguments as plain data (no Output is involved in these specs). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function build(over: Partial<SwarmServiceSpec> = {}): any {
    return swarmServiceArgs({ ...base, ...over });
}

function labels(list: { label: string; value: string }[]): Record<string, string> {
    return Object.fromEntries(list.map((l) => [l.label, l.value]));
}

describe("swarmServiceArgs", () => {
    it("runs the image ID and keeps the reference a person wrote in a label", () => {
        const args = build();
        assert.equal(args.name, "opsbook-staging-api");
        assert.equal(args.taskSpec.containerSpec.image, "sha256:3333");
        assert.equal(labels(args.labels)["opsbook.image-ref"], "opsbook/app:reference");
        assert.deepEqual(args.mode, { replicated: { replicas: 2 } });
        assert.deepEqual(args.endpointSpec, { mode: "dnsrr" }, "a service publishes nothing; the gateway resolves its tasks");
    });

    it("labels the service with the stack, its env contract and its secret bindings (names only), sorted", () => {
        const contract: EnvContract = { ...EMPTY_ENV_CONTRACT, required: ["DATABASE_URL"], formats: { DATABASE_URL: "url" } };
        const args = build({ envContract: contract });
        const list = args.labels as { label: string; value: string }[];
        assert.deepEqual(
            list.map((l) => l.label),
            list.map((l) => l.label).sort(),
            "labels are sorted, so a no-op deploy has nothing to reorder",
        );
        assert.deepEqual(labels(list), {
            "opsbook.project": "opsbook",
            "opsbook.stack": "staging",
            "opsbook.component": "service",
            "opsbook.service": "api",
            "opsbook.image-ref": "opsbook/app:reference",
            "opsbook.env-contract": JSON.stringify(contract),
            "opsbook.secrets": JSON.stringify({ DATABASE_URL: "DATABASE_URL" }),
        });
        assert.equal(labels(build().labels)["opsbook.env-contract"], JSON.stringify(EMPTY_ENV_CONTRACT), "the default contract is the empty one");
        // The containers carry who they belong to, not the policy pack's data.
        assert.deepEqual(labels(args.taskSpec.containerSpec.labels), {
            "opsbook.project": "opsbook",
            "opsbook.stack": "staging",
            "opsbook.component": "service",
            "opsbook.service": "api",
        });
        assert.equal(labels(build({ specName: undefined, component: "database" }).labels)["opsbook.service"], undefined);
    });

    it("delivers secrets as files, with NAME_FILE beside the plain env", () => {
        const spec = build().taskSpec.containerSpec;
        assert.deepEqual(spec.env, { PORT: "8080", DATABASE_URL_FILE: "/run/secrets/DATABASE_URL" });
        assert.deepEqual(spec.secrets, base.secrets.files);
        assert.deepEqual(build({ secrets: NO_SECRETS }).taskSpec.containerSpec.secrets, []);
    });

    it("starts the new task first for stateless services, rolling back a failed release", () => {
        const args = build({ updateOrder: "start-first" });
        assert.deepEqual(args.updateConfig, { order: "start-first", parallelism: 1, delay: "0s", failureAction: "rollback", monitor: "5s", maxFailureRatio: "0" });
        // A rollback that fails too stops where it is for a person to look.
        assert.deepEqual(args.rollbackConfig, { order: "start-first", parallelism: 1, delay: "0s", failureAction: "pause", monitor: "5s", maxFailureRatio: "0" });
    });

    it("stops the old task first where one writer must hold", () => {
        const args = build({ updateOrder: "stop-first", replicas: 1 });
        assert.equal(args.updateConfig.order, "stop-first");
        assert.equal(args.rollbackConfig.order, "stop-first");
        assert.equal(args.updateConfig.failureAction, "rollback");
    });

    it("mounts the probe config at /opsbook-probe (mode 0555) when the health check runs it", () => {
        const spec = build().taskSpec.containerSpec;
        assert.deepEqual(spec.healthcheck.tests, ["CMD", "/opsbook-probe", "http://127.0.0.1:8080/health", "--timeout", "3"]);
        assert.deepEqual(spec.configs, [{ configId: "probe-config-id", configName: "opsbook-staging-probe-abc1234", fileName: "/opsbook-probe", fileMode: 0o555 }]);
    });

    it("requires the probe config when the health check runs the probe, naming the service", () => {
        assert.throws(() => build({ probe: undefined }), /service opsbook-staging-api: its health check runs the stack's probe, but no probe config was given/);
    });

    it("mounts no probe for a health check that does not run it, or for the image's own", () => {
        const own = build({ healthcheck: healthcheck(["pg_isready", "-q"]) });
        assert.deepEqual(own.taskSpec.containerSpec.configs, []);
        assert.deepEqual(own.taskSpec.containerSpec.healthcheck.tests, ["CMD", "pg_isready", "-q"]);
        assert.doesNotThrow(() => build({ healthcheck: healthcheck(["pg_isready"]), probe: undefined }));

        const image = build({ healthcheck: "image" });
        assert.deepEqual(image.taskSpec.containerSpec.configs, []);
        assert.ok(!("healthcheck" in image.taskSpec.containerSpec), "the image's HEALTHCHECK would be overridden");
        assert.equal(labels(image.labels)["opsbook.healthcheck"], "image", "the policy pack cannot tell a deliberate image health check");
        assert.equal(labels(build().labels)["opsbook.healthcheck"], undefined);
    });

    it("gives every task the hardened baseline: read-only root, no capabilities, a private /tmp, limits, restarts, rotated logs", () => {
        const args = build({ cpus: 0.5 });
        const spec = args.taskSpec.containerSpec;
        assert.equal(spec.readOnly, true);
        assert.deepEqual(spec.capDrops, ["ALL"]);
        assert.deepEqual(spec.mounts, [{ type: "tmpfs", target: "/tmp", tmpfsOptions: { sizeBytes: 64 * 1024 * 1024, mode: 0o777 } }]);
        assert.equal(spec.stopGracePeriod, "10s");
        assert.deepEqual(args.taskSpec.resources, { limits: { memoryBytes: 256 * 1024 * 1024, nanoCpus: 500_000_000 } });
        assert.deepEqual(args.taskSpec.restartPolicy, { condition: "any", delay: "2s", window: "30s" });
        assert.deepEqual(args.taskSpec.logDriver, { name: "json-file", options: { "max-size": "10m", "max-file": "3" } });
        assert.deepEqual(args.taskSpec.networksAdvanceds, [{ id: "net-data-id", aliases: ["api"] }]);
        assert.deepEqual(args.convergeConfig, { delay: "1s", timeout: "3m" });
        assert.ok(!("user" in spec), "the image's user is kept unless one is given");
        assert.ok(!("nanoCpus" in build().taskSpec.resources.limits), "no CPU limit unless one is given");
    });

    it("adds volumes and further tmpfs mounts beside /tmp, and takes the component's own settings", () => {
        const spec = build({
            volumes: [{ source: "opsbook-staging-postgres-data", target: "/var/lib/postgresql/data" }, { source: "ro", target: "/ro", readOnly: true }],
            tmpfs: { "/var/run/postgresql": 8 },
            readOnlyRootFilesystem: false,
            user: "999:999",
            stopGraceSeconds: 30,
            convergeTimeoutSeconds: 240,
        });
        const c = spec.taskSpec.containerSpec;
        assert.deepEqual(c.mounts, [
            { type: "volume", source: "opsbook-staging-postgres-data", target: "/var/lib/postgresql/data", readOnly: false },
            { type: "volume", source: "ro", target: "/ro", readOnly: true },
            { type: "tmpfs", target: "/tmp", tmpfsOptions: { sizeBytes: 64 * 1024 * 1024, mode: 0o777 } },
            { type: "tmpfs", target: "/var/run/postgresql", tmpfsOptions: { sizeBytes: 8 * 1024 * 1024, mode: 0o777 } },
        ]);
        assert.equal(c.readOnly, false);
        assert.equal(c.user, "999:999");
        assert.equal(c.stopGracePeriod, "30s");
        assert.equal(spec.convergeConfig.timeout, "4m");
    });
});

describe("duration (the engine's own format)", () => {
    it("writes whole minutes, minutes and seconds, and seconds as the engine reads them back", () => {
        assert.equal(duration(120), "2m");
        assert.equal(duration(90), "1m30s");
        assert.equal(duration(45), "45s");
        assert.equal(duration(0), "0s");
        assert.equal(duration(60), "1m");
        assert.equal(duration(600), "10m");
        assert.equal(duration(3599), "59m59s");
    });

    it("gives health checks in that format", () => {
        assert.deepEqual(healthcheck(["true"], { startPeriodSeconds: 300, intervalSeconds: 10, timeoutSeconds: 10 }), {
            tests: ["CMD", "true"],
            interval: "10s",
            timeout: "10s",
            retries: 3,
            startPeriod: "5m",
        });
    });

    // The provider reads durations back as Go's Duration.String() with the trailing zero units
    // cut ("1h0m0s" -> "1h"); an hour or more written as minutes would differ on every deploy.
    it("writes an hour or more in hours, as the engine reads it back", () => {
        assert.equal(duration(3600), "1h");
        assert.equal(duration(5400), "1h30m");
        assert.equal(duration(3601), "1h0m1s");
    });
});

describe("secretMount and jobSecretFiles", () => {
    it("mounts each secret at /run/secrets/NAME, readable by the task's users, with NAME_FILE and the binding", () => {
        const mount = secretMount({ REDIS_URL: ref("REDIS_URL"), DATABASE_URL: ref("DATABASE_URL") });
        assert.deepEqual(mount.files, [
            { secretId: "database_url-id", secretName: "opsbook-staging-database_url-abc1234", fileName: "/run/secrets/DATABASE_URL", fileMode: 0o444 },
            { secretId: "redis_url-id", secretName: "opsbook-staging-redis_url-abc1234", fileName: "/run/secrets/REDIS_URL", fileMode: 0o444 },
        ]);
        assert.deepEqual(mount.env, { DATABASE_URL_FILE: "/run/secrets/DATABASE_URL", REDIS_URL_FILE: "/run/secrets/REDIS_URL" });
        assert.deepEqual(mount.bindings, { DATABASE_URL: "DATABASE_URL", REDIS_URL: "REDIS_URL" });
    });

    it("makes a file readable by its owner alone when the task's user is known", () => {
        const mount = secretMount({ POSTGRES_PASSWORD: ref("POSTGRES_PASSWORD") }, { uid: "999", gid: "999" });
        assert.deepEqual(mount.files, [
            {
                secretId: "postgres_password-id",
                secretName: "opsbook-staging-postgres_password-abc1234",
                fileName: "/run/secrets/POSTGRES_PASSWORD",
                fileUid: "999",
                fileGid: "999",
                fileMode: 0o400,
            },
        ]);
    });

    it("binds an env name to another key: the migrations' DATABASE_URL is the migration role's URL", () => {
        const mount = secretMount({ DATABASE_URL: ref("MIGRATOR_DATABASE_URL") });
        assert.equal(mount.files[0].fileName, "/run/secrets/DATABASE_URL");
        assert.equal(mount.files[0].secretName, "opsbook-staging-migrator_database_url-abc1234");
        assert.deepEqual(mount.env, { DATABASE_URL_FILE: "/run/secrets/DATABASE_URL" });
        assert.deepEqual(mount.bindings, { DATABASE_URL: "MIGRATOR_DATABASE_URL" });
    });

    it("gives a one-shot job the secret names and the env name each is read under, with the owner when known", () => {
        const owned = secretMount({ PGPASSFILE: ref("GRANTS_PGPASSFILE") }, { uid: "999", gid: "999" });
        assert.deepEqual(jobSecretFiles(owned), [{ secretName: "opsbook-staging-grants_pgpassfile-abc1234", env: "PGPASSFILE", uid: "999" }]);
        assert.deepEqual(jobSecretFiles(secretMount({ DATABASE_URL: ref("MIGRATOR_DATABASE_URL") })), [
            { secretName: "opsbook-staging-migrator_database_url-abc1234", env: "DATABASE_URL" },
        ]);
        assert.deepEqual(jobSecretFiles(NO_SECRETS), []);
    });
});

describe("mergeMounts (the preflight's secrets)", () => {
    const services: SecretMount = secretMount({ DATABASE_URL: ref("DATABASE_URL"), API_KEY: ref("API_KEY") });
    const migration: SecretMount = secretMount({ DATABASE_URL: ref("MIGRATOR_DATABASE_URL") });

    it("lets the migration's DATABASE_URL win over the services' own and keeps the rest", () => {
        const merged = mergeMounts(services, migration);
        assert.deepEqual(
            merged.files.map((f) => [f.fileName, f.secretName]),
            [
                ["/run/secrets/API_KEY", "opsbook-staging-api_key-abc1234"],
                ["/run/secrets/DATABASE_URL", "opsbook-staging-migrator_database_url-abc1234"],
            ],
        );
        assert.deepEqual(merged.env, { API_KEY_FILE: "/run/secrets/API_KEY", DATABASE_URL_FILE: "/run/secrets/DATABASE_URL" });
        assert.deepEqual(merged.bindings, { API_KEY: "API_KEY", DATABASE_URL: "MIGRATOR_DATABASE_URL" });
        // One file per target: the engine refuses two secrets at one path.
        assert.equal(new Set(merged.files.map((f) => f.fileName)).size, merged.files.length);
    });

    it("is the migration's own mount when there is nothing to merge", () => {
        assert.deepEqual(mergeMounts(undefined, migration), migration);
        assert.deepEqual(mergeMounts(NO_SECRETS, migration), migration);
    });
});

describe("jobCreateArgs", () => {
    const DB_URL = "postgres://app_migrator:Sup3rSecretPassw0rd@postgres:5432/app";
    const inputs: OneShotInputs = {
        name: "opsbook-staging-migrate",
        image: "sha256:3333",
        imageName: "opsbook/app:reference",
        command: ["node", "/app/dist/main.js", "migrate"],
        env: { APP_RELEASE: "7" },
        secretFiles: [
            { secretName: "opsbook-staging-migrator-database-url-abc1234", env: "DATABASE_URL" },
            { secretName: "opsbook-staging-grants-pgpassfile-abc1234", env: "PGPASSFILE", uid: "999" },
        ],
        labels: { "opsbook.stack": "staging", "opsbook.component": "migration" },
        networks: ["opsbook-staging-data"],
        memoryMb: 256,
        user: "10001",
        timeoutSeconds: 300,
        release: "7",
        redact: [DB_URL],
    };
    const args = jobCreateArgs(inputs, "opsbook-staging-migrate-a1b2c3");

    /** The value after each occurrence of a flag. */
    const values = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));

    it("runs a swarm job once, never restarted, hardened like the services", () => {
        assert.deepEqual(args.slice(0, 6), ["service", "create", "--detach", "--quiet", "--name", "opsbook-staging-migrate-a1b2c3"]);
        assert.deepEqual(values("--mode"), ["replicated-job"]);
        assert.deepEqual(values("--restart-condition"), ["none"]);
        assert.ok(args.includes("--read-only"));
        assert.deepEqual(values("--cap-drop"), ["ALL"]);
        assert.deepEqual(values("--limit-memory"), ["256M"]);
        assert.deepEqual(values("--mount"), ["type=tmpfs,destination=/tmp,tmpfs-size=67108864"]);
        assert.deepEqual(values("--user"), ["10001"]);
        assert.deepEqual(values("--network"), ["opsbook-staging-data"]);
        assert.deepEqual(values("--label"), ["opsbook.stack=staging", "opsbook.component=migration"]);
        assert.deepEqual(values("--container-label"), ["opsbook.stack=staging", "opsbook.component=migration"]);
        assert.deepEqual(args.slice(-4), ["sha256:3333", "node", "/app/dist/main.js", "migrate"], "the image ID, then the command");
    });

    it("names secrets on the command line, never their values: files with NAME_FILE beside them", () => {
        assert.deepEqual(values("--secret"), [
            "source=opsbook-staging-migrator-database-url-abc1234,target=DATABASE_URL,mode=0444",
            "source=opsbook-staging-grants-pgpassfile-abc1234,target=PGPASSFILE,uid=999,gid=999,mode=0400",
        ]);
        assert.deepEqual(values("--env"), ["APP_RELEASE=7", "DATABASE_URL_FILE=/run/secrets/DATABASE_URL", "PGPASSFILE_FILE=/run/secrets/PGPASSFILE"]);
        assert.ok(!args.join(" ").includes("Sup3rSecretPassw0rd"), "a secret value is on the command line");
    });

    it("leaves out the user when none is given", () => {
        assert.ok(!jobCreateArgs({ ...inputs, user: undefined }, "x").includes("--user"));
    });

    it("runs on the manager on a swarm of several nodes (it has every image); unplaced on one node", () => {
        assert.deepEqual(values("--constraint"), []);
        const placed = jobCreateArgs({ ...inputs, constraints: [stackPlacement(identity).jobConstraint] }, "x");
        assert.deepEqual(placed.flatMap((a, i) => (a === "--constraint" ? [placed[i + 1]] : [])), ["node.role==manager"]);
    });
});

describe("redactSecrets", () => {
    it("replaces a value and its URL-encoded form", () => {
        const secret = "p@ss/word!x";
        const text = `connect postgres://app:${encodeURIComponent(secret)}@postgres/app failed; password ${secret} refused`;
        assert.equal(redactSecrets(text, [secret]), "connect postgres://app:[secret]@postgres/app failed; password [secret] refused");
    });

    it("replaces a longer value before a shorter one it contains", () => {
        assert.equal(redactSecrets("key=abcd1234efgh and abcd1234", ["abcd1234", "abcd1234efgh"]), "key=[secret] and [secret]");
    });

    it("leaves values too short to be secrets alone, so ordinary words survive", () => {
        assert.equal(redactSecrets("exit 1 at line 42", ["1", "42", "abc"]), "exit 1 at line 42");
        assert.equal(redactSecrets("nothing here", []), "nothing here");
    });
});

describe("the gateway's ports and routes", () => {
    it("derives a host port that is stable, in [20000, 30000), and differs across stacks and services", () => {
        const api = derivedHostPort(identity, "api");
        assert.equal(derivedHostPort({ ...identity }, "api"), api, "an endpoint moved between two deploys");
        for (const port of [api, derivedHostPort(identity, "web"), derivedHostPort({ project: "opsbook", stack: "production" }, "api")]) {
            assert.ok(Number.isInteger(port) && port >= 20000 && port < 30000, String(port));
        }
        assert.notEqual(derivedHostPort({ project: "opsbook", stack: "production" }, "api"), api, "staging and production would share a port");
        assert.notEqual(derivedHostPort(identity, "web"), api);
        assert.notEqual(derivedHostPort({ project: "other", stack: "staging" }, "api"), api);
    });

    it("gives services consecutive listen ports from 10001 in name order, whatever order they come in", () => {
        assert.deepEqual(listenPorts(["web", "api", "orderbook"]), { api: 10001, orderbook: 10002, web: 10003 });
        assert.deepEqual(listenPorts(["api", "orderbook", "web"]), listenPorts(["web", "api", "orderbook"]));
        assert.deepEqual(listenPorts([]), {});
    });

    it("routes each service to its swarm service's tasks", () => {
        assert.equal(
            gatewayRoutes([
                { name: "api", listenPort: 10001, serviceName: "opsbook-staging-api", port: 8080 },
                { name: "web", listenPort: 10002, serviceName: "opsbook-staging-web", port: 3000 },
            ]),
            "api=10001=tasks.opsbook-staging-api:8080 web=10002=tasks.opsbook-staging-web:3000",
        );
        assert.equal(gatewayRoutes([]), "");
    });
});

describe("encryption key slots (the RandomBytes keepers)", () => {
    it("never gives the two slots the same stamp, so the previous key is never the active one", () => {
        for (let n = 0; n < 8; n++) {
            const { active, stamps } = encryptionKeySlots(n);
            assert.notEqual(stamps[0], stamps[1], `rotation ${n}`);
            assert.equal(stamps[active], n === 0 ? "initial" : String(n), `rotation ${n}: the active slot is not key ${n}`);
        }
        assert.equal(previousName("TRADING_KEY_ENCRYPTION_KEY"), "TRADING_KEY_ENCRYPTION_KEY_PREVIOUS");
    });
});

describe("secretNamePrefix", () => {
    it("keeps a name that fits and shortens a long one to a distinct prefix the engine accepts with Pulumi's suffix", () => {
        assert.equal(secretNamePrefix("opsbook-staging-jwt-secret"), "opsbook-staging-jwt-secret");
        const long = "opsbook-e2e-copy-81d247-trading-key-encryption-key-previous";
        const other = "opsbook-e2e-copy-81d247-trading-key-encryption-key-current";
        const a = secretNamePrefix(long);
        assert.ok(a.length + 8 <= 64, `${a} is ${a.length} characters`);
        assert.match(a, /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
        assert.notEqual(a, secretNamePrefix(other));
        assert.equal(a, secretNamePrefix(long), "the same name gives the same prefix on every deploy");
    });
});

describe("updateVerdict", () => {
    it("waits while Swarm updates or rolls back, and fails the deploy on a rollback or a pause", () => {
        assert.equal(updateVerdict(null), "settled", "a service never updated has no update status");
        assert.equal(updateVerdict({ State: "completed" }), "settled");
        assert.equal(updateVerdict({ State: "updating" }), "pending");
        assert.equal(updateVerdict({ State: "rollback_started" }), "pending");
        assert.deepEqual(updateVerdict({ State: "rollback_completed", Message: "update rolled back due to failure" }), {
            failed: "the update was rolled back: update rolled back due to failure",
        });
        assert.deepEqual(updateVerdict({ State: "paused", Message: "update paused due to failure" }), { failed: "the update stopped in state paused: update paused due to failure" });
    });
});

describe("placement on a swarm of several nodes", () => {
    const placed = { ...identity, placement: stackPlacement(identity) };

    it("leaves a one-node stack's services unplaced (nothing changes for stacks deployed before nodes existed)", () => {
        assert.equal(build().taskSpec.placement, undefined);
        assert.equal(build({ volumes: [{ source: "data", target: "/data" }] }).taskSpec.placement, undefined);
    });

    it("pins a service with a volume to the stack's data node, and spreads stateless replicas over the stack's nodes", () => {
        const labels = stackNodeLabels(identity);
        assert.deepEqual(labels, { node: "opsbook.opsbook.staging.node", data: "opsbook.opsbook.staging.data" });
        assert.deepEqual(build({ identity: placed, volumes: [{ source: "data", target: "/data" }] }).taskSpec.placement, { constraints: [`node.labels.${labels.data}==true`] });
        assert.deepEqual(build({ identity: placed }).taskSpec.placement, { prefs: [`spread=node.labels.${labels.node}`] });
        // A global service is on every node already.
        assert.equal(build({ identity: placed, replicas: "global" }).taskSpec.placement, undefined);
    });
});
