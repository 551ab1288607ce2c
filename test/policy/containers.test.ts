import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { longRunningHealthCheck, longRunningMemoryLimit, longRunningRestartPolicy, noPublishedDataPorts } from "../../policies/containers";
import { validPostgres, validRedis, validService } from "./fixtures";
import { UNKNOWN_STRING, runResourcePolicy } from "./harness";

describe("no-published-data-ports", () => {
    it("accepts an unpublished database and cache, and a published service", async () => {
        assert.deepEqual(await runResourcePolicy(noPublishedDataPorts, { props: validPostgres(), name: "postgres-server" }), []);
        assert.deepEqual(await runResourcePolicy(noPublishedDataPorts, { props: validRedis(), name: "redis-server" }), []);
        assert.deepEqual(await runResourcePolicy(noPublishedDataPorts, { props: validService() }), []);
    });

    it("refuses a database that publishes its port", async () => {
        const messages = await runResourcePolicy(noPublishedDataPorts, { props: validPostgres({ publish: [5432] }), name: "postgres-server" });
        assert.deepEqual(messages, [
            "container `postgres-server` (component `postgres`) has role `database` and publishes port `5432`; " +
                "set `publish` to [] and reach it on the stack network (or with 'docker exec') instead.",
        ]);
    });

    it("refuses a cache that publishes ports", async () => {
        const messages = await runResourcePolicy(noPublishedDataPorts, { props: validRedis({ publish: [6379, 16379] }), name: "redis-server" });
        assert.match(messages[0], /^container `redis-server` \(component `redis`\) has role `cache` and publishes ports `6379` and `16379`;/);
    });

    it("takes the roles from config", async () => {
        const props = validService({ role: "worker", publish: [9100] });
        assert.deepEqual(await runResourcePolicy(noPublishedDataPorts, { props }), []);
        assert.equal((await runResourcePolicy(noPublishedDataPorts, { props, config: { roles: ["database", "cache", "worker"] } })).length, 1);
    });
});

describe("long-running-health-check", () => {
    it("accepts the valid containers", async () => {
        for (const props of [validService(), validPostgres(), validRedis()]) {
            assert.deepEqual(await runResourcePolicy(longRunningHealthCheck, { props }), []);
        }
    });

    it("refuses a service without a health check", async () => {
        const messages = await runResourcePolicy(longRunningHealthCheck, { props: validService({ healthCheck: undefined }) });
        assert.deepEqual(messages, [
            "container `api-container` (service `api`) has role `service` but no health check; " +
                "give it `healthCheck` (its component's health path, or a CMD that exits 0 when it is ready).",
        ]);
    });

    it("refuses a health check that checks nothing", async () => {
        for (const test of [[], ["NONE"], ["CMD"]]) {
            const props = validService({ healthCheck: { ...validService().healthCheck!, test } });
            assert.equal((await runResourcePolicy(longRunningHealthCheck, { props })).length, 1, JSON.stringify(test));
        }
    });

    it("asks nothing of a one-off job", async () => {
        assert.deepEqual(await runResourcePolicy(longRunningHealthCheck, { props: validService({ role: "job", healthCheck: undefined }) }), []);
    });
});

describe("long-running-restart-policy", () => {
    it("accepts unless-stopped, always and on-failure", async () => {
        for (const restartPolicy of ["unless-stopped", "always", "on-failure"] as const) {
            assert.deepEqual(await runResourcePolicy(longRunningRestartPolicy, { props: validService({ restartPolicy }) }), []);
        }
    });

    it("refuses `no` on a worker", async () => {
        const messages = await runResourcePolicy(longRunningRestartPolicy, { props: validService({ role: "worker", restartPolicy: "no" }) });
        assert.deepEqual(messages, [
            "container `api-container` (service `api`) has role `worker` and restart policy `no`; set `restartPolicy` to `unless-stopped` (the hardened default).",
        ]);
    });

    it("allows `no` for a job", async () => {
        assert.deepEqual(await runResourcePolicy(longRunningRestartPolicy, { props: validService({ role: "job", restartPolicy: "no" }) }), []);
    });
});

describe("long-running-memory-limit", () => {
    it("accepts the valid containers", async () => {
        for (const props of [validService(), validPostgres(), validRedis()]) {
            assert.deepEqual(await runResourcePolicy(longRunningMemoryLimit, { props }), []);
        }
    });

    it("refuses a zero memory limit on the database", async () => {
        const messages = await runResourcePolicy(longRunningMemoryLimit, { props: validPostgres({ memoryMb: 0 }), name: "postgres-server" });
        assert.deepEqual(messages, [
            "container `postgres-server` (component `postgres`) has role `database` and no memory limit; " +
                "set `memoryMb` to at least 1 (the component's `memoryMb` option in the stack config).",
        ]);
    });

    it("refuses a limit below the configured minimum", async () => {
        const messages = await runResourcePolicy(longRunningMemoryLimit, { props: validService({ memoryMb: 16 }), config: { minimumMb: 32 } });
        assert.match(messages[0], /has role `service` and a limit of 16 MiB; set `memoryMb` to at least 32/);
    });

    it("skips a limit not known during preview", async () => {
        const props = { ...validService(), memoryMb: UNKNOWN_STRING };
        assert.deepEqual(await runResourcePolicy(longRunningMemoryLimit, { props }), []);
    });
});
