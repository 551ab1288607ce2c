import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    longRunningCapDropAll,
    longRunningHealthCheck,
    longRunningMemoryLimit,
    longRunningReadOnlyRoot,
    longRunningRestartPolicy,
    noPublicBind,
    noPublishedDataPorts,
    singleWriterStopFirst,
} from "../../policies/containers";
import { NAMES, apiSpec, changed, serviceProps, validBackupAgent, validGateway, validMigration, validPostgres, validRedis, validService, validWorker } from "./fixtures";
import { CONTAINER, ONE_SHOT, UNKNOWN_STRING, runResourcePolicy } from "./harness";
import type { ContainerProps, ServiceProps } from "../../policies/lib";

const published = (props: ServiceProps, ports: number[]) =>
    changed(props, (p) => (p.endpointSpec = { mode: "vip", ports: ports.map((n) => ({ publishedPort: n, targetPort: n, protocol: "tcp", publishMode: "ingress" })) }));
const gateway = (props: ContainerProps) => ({ props, type: CONTAINER, name: NAMES.gateway });
/** Every long-running workload of the valid stack, as a policy case. */
const everyWorkload = () => [
    { props: validService() },
    { props: validWorker(), name: NAMES.worker },
    { props: validPostgres(), name: NAMES.postgres },
    { props: validRedis(), name: NAMES.redis },
    { props: validBackupAgent(), name: NAMES.backup },
    gateway(validGateway()),
];

describe("no-published-data-ports", () => {
    it("accepts an unpublished database and cache", async () => {
        assert.deepEqual(await runResourcePolicy(noPublishedDataPorts, { props: validPostgres(), name: NAMES.postgres }), []);
        assert.deepEqual(await runResourcePolicy(noPublishedDataPorts, { props: validRedis(), name: NAMES.redis }), []);
    });

    it("refuses a database that publishes its port", async () => {
        const messages = await runResourcePolicy(noPublishedDataPorts, { props: published(validPostgres(), [5432]), name: NAMES.postgres });
        assert.deepEqual(messages, [
            "swarm service `postgres-server` (component `database`) publishes port `5432->5432`; " +
                "remove `endpointSpec.ports` and reach it on the stack network (or with 'docker exec') instead.",
        ]);
    });

    it("refuses a cache that publishes ports, and takes the components from config", async () => {
        const messages = await runResourcePolicy(noPublishedDataPorts, { props: published(validRedis(), [6379, 16379]), name: NAMES.redis });
        assert.match(messages[0], /^swarm service `redis-server` \(component `cache`\) publishes ports `6379->6379` and `16379->16379`;/);
        const worker = published(validWorker(), [9100]);
        assert.deepEqual(await runResourcePolicy(noPublishedDataPorts, { props: worker }), []);
        assert.equal((await runResourcePolicy(noPublishedDataPorts, { props: worker, config: { components: ["database", "cache", "worker"] } })).length, 1);
    });
});

describe("no-public-bind", () => {
    it("accepts services that publish nothing and the gateway on 127.0.0.1", async () => {
        assert.deepEqual(await runResourcePolicy(noPublicBind, { props: validService() }), []);
        assert.deepEqual(await runResourcePolicy(noPublicBind, gateway(validGateway())), []);
    });

    it("refuses any port a swarm service publishes", async () => {
        assert.deepEqual(await runResourcePolicy(noPublicBind, { props: published(validService(), [8080]) }), [
            "swarm service `api-service` (service `api`) publishes port `8080->8080` on every address of every node; " +
                "remove `endpointSpec.ports` and publish it through the gateway (`opsbook:services.<name>.publish`), which binds 127.0.0.1.",
        ]);
    });

    it("refuses a gateway port on 0.0.0.0 or without an address, unless the config allows it", async () => {
        for (const ip of ["0.0.0.0", undefined]) {
            const props = validGateway({ ports: [{ internal: 10001, external: 24817, ip, protocol: "tcp" }] });
            assert.deepEqual(await runResourcePolicy(noPublicBind, gateway(props)), [
                "container `gateway-nginx` (component `gateway`) publishes port 24817->10001 on `0.0.0.0`; bind it to `127.0.0.1` (the gateway's `bindAddress`), " +
                    "or allow the address in this policy's `allowedBindAddresses`.",
            ]);
        }
        const lan = validGateway({ ports: [{ internal: 10001, external: 24817, ip: "10.0.0.5", protocol: "tcp" }] });
        assert.deepEqual(await runResourcePolicy(noPublicBind, { ...gateway(lan), config: { allowedBindAddresses: ["127.0.0.1", "10.0.0.5"] } }), []);
    });
});

describe("long-running-health-check", () => {
    it("accepts every valid long-running workload", async () => {
        for (const c of everyWorkload()) {
            assert.deepEqual(await runResourcePolicy(longRunningHealthCheck, c), [], c.name);
        }
    });

    it("refuses a service without a health check", async () => {
        // swarmServiceArgs labels an image health check as deliberate; without the label it is a mistake.
        const unlabelled = changed(validService({ healthcheck: "image" }), (p) => (p.labels = p.labels!.filter((l) => l.label !== "opsbook.healthcheck")));
        const messages = await runResourcePolicy(longRunningHealthCheck, { props: unlabelled });
        assert.deepEqual(messages, [
            "swarm service `api-service` (service `api`) has no health check; give it `taskSpec.containerSpec.healthcheck` (its component's health path through the stack's probe, " +
                "or a CMD that exits 0 when it is ready), or, if its image brings a HEALTHCHECK, label it `opsbook.healthcheck=image` and set none.",
        ]);
    });

    it("accepts the image's own health check only from a service or worker labelled so", async () => {
        const label = (p: ServiceProps) => changed(p, (c) => c.labels!.push({ label: "opsbook.healthcheck", value: "image" }));
        assert.deepEqual(await runResourcePolicy(longRunningHealthCheck, { props: label(validService({ healthcheck: "image" })) }), []);
        const postgres = label(changed(validPostgres(), (p) => delete p.taskSpec!.containerSpec!.healthcheck));
        assert.match((await runResourcePolicy(longRunningHealthCheck, { props: postgres, name: NAMES.postgres }))[0], /^swarm service `postgres-server` \(component `database`\) has no health check; .*ready\)\.$/);
    });

    it("refuses a health check that checks nothing", async () => {
        for (const tests of [[], ["NONE"], ["CMD"]]) {
            const props = changed(validService(), (p) => (p.taskSpec!.containerSpec!.healthcheck!.tests = tests));
            assert.equal((await runResourcePolicy(longRunningHealthCheck, { props })).length, 1, JSON.stringify(tests));
        }
        const g = await runResourcePolicy(longRunningHealthCheck, gateway(validGateway({ healthcheck: { tests: ["NONE"] } })));
        assert.deepEqual(g, ["container `gateway-nginx` (component `gateway`) has no health check; give it `healthcheck.tests` (a CMD that exits 0 when it is ready)."]);
    });

    it("asks nothing of a one-shot job", async () => {
        assert.deepEqual(await runResourcePolicy(longRunningHealthCheck, { props: validMigration(), type: ONE_SHOT, name: NAMES.migration }), []);
    });
});

describe("long-running-restart-policy", () => {
    it("accepts condition any (and Swarm's default when unset), and unless-stopped or always for the gateway", async () => {
        for (const c of everyWorkload()) {
            assert.deepEqual(await runResourcePolicy(longRunningRestartPolicy, c), [], c.name);
        }
        assert.deepEqual(await runResourcePolicy(longRunningRestartPolicy, { props: changed(validService(), (p) => delete p.taskSpec!.restartPolicy) }), []);
        assert.deepEqual(await runResourcePolicy(longRunningRestartPolicy, gateway(validGateway({ restart: "always" }))), []);
    });

    it("refuses a worker that is not restarted after a clean exit", async () => {
        const props = changed(validWorker(), (p) => (p.taskSpec!.restartPolicy!.condition = "on-failure"));
        assert.deepEqual(await runResourcePolicy(longRunningRestartPolicy, { props, name: NAMES.worker }), [
            "swarm service `reality-engine-service` (service `reality-engine`) has restart condition `on-failure`; set `taskSpec.restartPolicy.condition` to `any` " +
                "(components/hardening.ts RESTART_POLICY), so a task that exits for any reason is replaced.",
        ]);
    });

    it("refuses a gateway that is never restarted", async () => {
        for (const restart of ["no", "on-failure", undefined]) {
            const messages = await runResourcePolicy(longRunningRestartPolicy, gateway(validGateway({ restart })));
            assert.deepEqual(messages, [`container \`gateway-nginx\` (component \`gateway\`) has restart policy \`${restart ?? "no"}\`; set \`restart\` to \`unless-stopped\`.`]);
        }
    });
});

describe("long-running-memory-limit", () => {
    it("accepts every valid long-running workload", async () => {
        for (const c of everyWorkload()) {
            assert.deepEqual(await runResourcePolicy(longRunningMemoryLimit, { ...c, config: { minimumMb: 32 } }), [], c.name);
        }
    });

    it("refuses a database without a memory limit", async () => {
        const props = changed(validPostgres(), (p) => delete p.taskSpec!.resources!.limits!.memoryBytes);
        assert.deepEqual(await runResourcePolicy(longRunningMemoryLimit, { props, name: NAMES.postgres }), [
            "swarm service `postgres-server` (component `database`) has no memory limit; set `taskSpec.resources.limits.memoryBytes` to at least 1 MiB " +
                "(the component's `memoryMb` option in the stack config).",
        ]);
    });

    it("refuses a limit below the configured minimum, on a service and on the gateway", async () => {
        const messages = await runResourcePolicy(longRunningMemoryLimit, { props: validService({ memoryMb: 16 }), config: { minimumMb: 32 } });
        assert.match(messages[0], /has a memory limit of 16 MiB; set `taskSpec.resources.limits.memoryBytes` to at least 32 MiB/);
        const g = await runResourcePolicy(longRunningMemoryLimit, { ...gateway(validGateway({ memory: 0 })) });
        assert.match(g[0], /^container `gateway-nginx` \(component `gateway`\) has no memory limit; set `memory` to at least 1 MiB/);
    });

    it("skips a limit not known during preview", async () => {
        const props = changed(validService(), (p) => ((p.taskSpec!.resources!.limits as Record<string, unknown>).memoryBytes = UNKNOWN_STRING));
        assert.deepEqual(await runResourcePolicy(longRunningMemoryLimit, { props }), []);
    });
});

describe("long-running-read-only-root", () => {
    it("accepts every valid long-running workload", async () => {
        for (const c of everyWorkload()) {
            assert.deepEqual(await runResourcePolicy(longRunningReadOnlyRoot, c), [], c.name);
        }
    });

    it("refuses a writable root filesystem and names the spec key, unless the service is exempt", async () => {
        const props = validService({ readOnlyRootFilesystem: false });
        assert.deepEqual(await runResourcePolicy(longRunningReadOnlyRoot, { props }), [
            "swarm service `api-service` (service `api`) has a writable root filesystem; set `taskSpec.containerSpec.readOnly` to true (remove " +
                "`opsbook:services.api.readOnlyRootFilesystem: false` and write to /tmp or a volume), or list `api` in this policy's `exemptServices`.",
        ]);
        assert.deepEqual(await runResourcePolicy(longRunningReadOnlyRoot, { props, config: { exemptServices: ["api"] } }), []);
        const g = await runResourcePolicy(longRunningReadOnlyRoot, gateway(validGateway({ readOnly: false })));
        assert.equal(g.length, 1);
    });
});

describe("long-running-cap-drop-all", () => {
    it("accepts every valid long-running workload", async () => {
        for (const c of everyWorkload()) {
            assert.deepEqual(await runResourcePolicy(longRunningCapDropAll, c), [], c.name);
        }
    });

    it("refuses a service and a gateway that keep capabilities", async () => {
        const props = changed(validRedis(), (p) => (p.taskSpec!.containerSpec!.capDrops = ["NET_RAW"]));
        assert.deepEqual(await runResourcePolicy(longRunningCapDropAll, { props, name: NAMES.redis }), [
            "swarm service `redis-server` (component `cache`) does not drop every capability; add `ALL` to `taskSpec.containerSpec.capDrops` (components/hardening.ts HARDENED_CONTAINER).",
        ]);
        const g = await runResourcePolicy(longRunningCapDropAll, gateway(validGateway({ capabilities: { drops: [] } })));
        assert.deepEqual(g, ["container `gateway-nginx` (component `gateway`) does not drop every capability; add `ALL` to `capabilities.drops`."]);
    });
});

describe("single-writer-stop-first", () => {
    it("accepts the stop-first data services and a start-first stateless api with two replicas", async () => {
        for (const c of everyWorkload().filter((c) => !("type" in c))) {
            assert.deepEqual(await runResourcePolicy(singleWriterStopFirst, c), [], c.name);
        }
    });

    it("refuses a database that updates start-first: never two writers on one volume", async () => {
        const props = validPostgres({ updateOrder: "start-first" });
        assert.deepEqual(await runResourcePolicy(singleWriterStopFirst, { props, name: NAMES.postgres }), [
            "swarm service `postgres-server` (component `database`) has `updateConfig.order` `start-first`, so a release runs the new task beside the old one, " +
                "but it writes to volume `opsbook-production-postgres-data`; set it to `stop-first` (AppService `exclusive: true`; the program sets it for services " +
                "with volumes or `singleInstance: always`).",
            "swarm service `postgres-server` (component `database`) has `rollbackConfig.order` `start-first`, so a release runs the new task beside the old one, " +
                "but it writes to volume `opsbook-production-postgres-data`; set it to `stop-first` (AppService `exclusive: true`; the program sets it for services " +
                "with volumes or `singleInstance: always`).",
        ]);
    });

    it("refuses an app service with a volume that updates start-first or runs two replicas", async () => {
        const withVolume = { ...apiSpec(), volumes: [{ source: "opsbook-production-data", target: "/app/data" }] };
        const startFirst = await runResourcePolicy(singleWriterStopFirst, { props: serviceProps(withVolume) });
        assert.equal(startFirst.length, 3);
        assert.match(startFirst[2], /runs 2 replicas, but it writes to volume `opsbook-production-data`; set its replicas to 1\.$/);
        assert.deepEqual(await runResourcePolicy(singleWriterStopFirst, { props: serviceProps({ ...withVolume, updateOrder: "stop-first", replicas: 1 }) }), []);
    });

    it("refuses a scheduler that would run every job twice, whatever its mounts", async () => {
        const scheduler = changed(validWorker({ component: "scheduler", specName: undefined, updateOrder: "start-first" }), () => undefined);
        const messages = await runResourcePolicy(singleWriterStopFirst, { props: scheduler, name: "scheduler-service" });
        assert.match(messages[0], /^swarm service `scheduler-service` \(component `scheduler`\) has `updateConfig.order` `start-first`, .* but it is a `scheduler`;/);
    });
});
