// The whole program under Pulumi mocks: what the staging spec registers, with no engine.
// Mocks and config are set before the program is imported, as the program reads them at load.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { FakeEngine } from "./fakeDockerEngine";
import { Registered, reveal, runProgramUnderMocks, unwrap } from "./mocks";

let registered: Registered[] = [];
let engine: FakeEngine;
let outputs: Record<string, pulumi.Output<unknown>>;

function isSecret(o: pulumi.Output<unknown>): Promise<boolean> {
    return (o as unknown as { isSecret: Promise<boolean> }).isSecret;
}

function containers(): Registered[] {
    return registered.filter((r) => r.type === "pulumi-nodejs:dynamic/opsbook:Container");
}

function containerOf(component: string): Registered {
    const found = containers().find((c) => c.inputs.labels["opsbook.component"] === component);
    assert.ok(found, `no container labelled ${component}; registered: ${containers().map((c) => c.name).join(", ")}`);
    return found;
}

describe("the staging stack under mocks", () => {
    before(async () => {
        ({ registered, outputs, engine } = await runProgramUnderMocks({
            "opsbook:services": JSON.stringify({ api: { env: { APP_ROLE: "api" }, uses: ["postgres", "redis"] } }),
        }));
        await unwrap(outputs.endpoints);
        // The backup agent registers last: it waits for every database it copies.
        await unwrap(outputs.backups);
    });

    after(async () => {
        await engine.close();
    });

    it("exports each published service's base URL on 127.0.0.1", async () => {
        // The gateway listens on 10001 for the first service; the mock maps it to 50001.
        assert.deepEqual(await unwrap(outputs.endpoints), { api: "http://127.0.0.1:50001" });
        assert.deepEqual(await unwrap(outputs.healthChecks), { api: "http://127.0.0.1:50001/health" });
    });

    it("publishes no Postgres or Redis port", () => {
        assert.deepEqual(containerOf("postgres").inputs.publish, []);
        assert.deepEqual(containerOf("redis").inputs.publish, []);
        assert.deepEqual(containerOf("service").inputs.publish, [], "services are reached through the gateway");
        assert.deepEqual(containerOf("gateway").inputs.publish, [10001]);
    });

    it("keys containers on image IDs looked up locally, not on tags", () => {
        assert.equal(containerOf("postgres").inputs.image, "sha256:1111");
        assert.equal(containerOf("service").inputs.image, "sha256:3333");
        assert.ok(engine.requests.includes("GET /images/opsbook%2Fapp%3Areference/json"), engine.requests.join("\n"));
    });

    it("gives the api DATABASE_URL and REDIS_URL as secrets only", async () => {
        const api = containerOf("service");
        const secretEnv = reveal(api.inputs.secretEnv);
        assert.equal(secretEnv.secret, true, "secretEnv reached the provider as plain values");
        assert.deepEqual(Object.keys(secretEnv.value).sort(), ["DATABASE_URL", "REDIS_URL"]);
        assert.match(secretEnv.value.DATABASE_URL, /^postgres:\/\/app_app_blue:x{32}@postgres:5432\/app$/);
        assert.ok(!("DATABASE_URL" in api.inputs.env), "DATABASE_URL leaked into plain env");
        assert.equal(await isSecret(outputs.endpoints), false);
    });

    it("puts every container on the stack network with a stable alias", () => {
        const aliases = containers().map((c) => c.inputs.networks[0].aliases[0]).sort();
        assert.deepEqual(aliases, ["api", "backup", "gateway", "postgres", "redis"]);
        for (const c of containers()) {
            assert.equal(c.inputs.networks[0].name, "opsbook-staging-net-abc123");
        }
    });

    it("gives every container a health check, a restart policy and a memory limit", () => {
        for (const c of containers()) {
            assert.ok(c.inputs.healthCheck?.test?.length > 0, `${c.name} has no health check`);
            assert.equal(c.inputs.restartPolicy, "unless-stopped", c.name);
            assert.ok(c.inputs.memoryMb > 0, `${c.name} has no memory limit`);
        }
    });

    it("names the data volumes after the stack so a redeploy finds them again", () => {
        const volumes = registered.filter((r) => r.type.endsWith(":Volume")).map((v) => v.inputs.name).sort();
        assert.deepEqual(volumes, ["opsbook-staging-backups", "opsbook-staging-gateway-routes", "opsbook-staging-postgres-data", "opsbook-staging-redis-data"]);
    });
});
