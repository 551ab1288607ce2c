import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ContainerInputs, containerCreateBody } from "../../providers/docker";
import { generateSecretValue } from "../../providers/random";
import { HARDENED_DEFAULTS, httpHealthCheck } from "../../components/hardening";
import { EMPTY_ENV_CONTRACT } from "../../components/envContract";

const base: ContainerInputs = {
    ...HARDENED_DEFAULTS,
    name: "opsbook-staging-api",
    image: "sha256:abc",
    imageName: "opsbook/app:reference",
    env: { PORT: "8080" },
    secretEnv: { DATABASE_URL: "postgres://u:p@postgres:5432/app" },
    labels: { "opsbook.stack": "staging" },
    networks: [{ name: "net-1", aliases: ["api"] }, { name: "net-2", aliases: ["api-b"] }],
    publish: [8080],
    mounts: [{ volume: "data", target: "/data", readOnly: false }],
    healthCheck: httpHealthCheck(8080, "/health"),
    memoryMb: 256,
    waitHealthySeconds: 60,
    role: "service",
    envContract: EMPTY_ENV_CONTRACT,
};

describe("containerCreateBody", () => {
    const body = containerCreateBody(base) as {
        Env: string[];
        Labels: Record<string, string>;
        Healthcheck: { Interval: number; Test: string[] };
        HostConfig: Record<string, unknown>;
        NetworkingConfig: { EndpointsConfig: Record<string, { Aliases: string[] }> };
    };

    it("publishes ports on 127.0.0.1 only, at a port the engine picks", () => {
        assert.deepEqual(body.HostConfig.PortBindings, { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] });
    });

    it("applies the hardened baseline", () => {
        assert.equal(body.HostConfig.ReadonlyRootfs, true);
        assert.deepEqual(body.HostConfig.CapDrop, ["ALL"]);
        assert.deepEqual(body.HostConfig.SecurityOpt, ["no-new-privileges:true"]);
        assert.deepEqual(body.HostConfig.RestartPolicy, { Name: "unless-stopped" });
        assert.equal(body.HostConfig.Memory, 256 * 1024 * 1024);
        assert.deepEqual(body.HostConfig.LogConfig, { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } });
    });

    it("puts secrets in the environment, never in labels", () => {
        assert.ok(body.Env.includes("DATABASE_URL=postgres://u:p@postgres:5432/app"));
        assert.ok(!JSON.stringify(body.Labels).includes("postgres://"));
    });

    it("joins the first network at creation with its aliases", () => {
        assert.deepEqual(Object.keys(body.NetworkingConfig.EndpointsConfig), ["net-1"]);
        assert.deepEqual(body.NetworkingConfig.EndpointsConfig["net-1"].Aliases, ["api"]);
    });

    it("gives health check durations in nanoseconds", () => {
        assert.equal(body.Healthcheck.Interval, 5e9);
        assert.equal(body.Healthcheck.Test[0], "CMD");
    });
});

describe("generateSecretValue", () => {
    it("makes hex keys of the asked length (64 hex = 32 bytes)", () => {
        const key = generateSecretValue(64, "hex");
        assert.match(key, /^[0-9a-f]{64}$/);
    });

    it("makes different alphanumeric values each time", () => {
        const a = generateSecretValue(32, "alphanumeric");
        const b = generateSecretValue(32, "alphanumeric");
        assert.match(a, /^[A-Za-z0-9]{32}$/);
        assert.notEqual(a, b);
    });
});
