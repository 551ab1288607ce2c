import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { SpecError, parseSpec } from "../../components/spec";

const validServices = { api: { uses: ["postgres", "redis"], env: { APP_ROLE: "api" } } };

function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        parseSpec(raw);
    } catch (err) {
        assert.ok(err instanceof SpecError, `expected a SpecError, got ${String(err)}`);
        return err.problems;
    }
    assert.fail("the spec was accepted");
}

describe("parseSpec", () => {
    it("fills in the documented defaults", () => {
        const spec = parseSpec({ services: validServices });
        assert.equal(spec.images.app, "opsbook/app:reference");
        assert.equal(spec.postgres.memoryMb, 512);
        assert.equal(spec.postgres.keepDataOnDestroy, true);
        assert.equal(spec.redis.enabled, true);
        assert.deepEqual(spec.services.api, {
            port: 8080,
            healthPath: "/health",
            replicas: 1,
            memoryMb: 256,
            publish: true,
            env: { APP_ROLE: "api" },
            secretEnv: {},
            contract: { required: [], anyOf: [], formats: {}, equalAcrossServices: [], requiredInProduction: [] },
            uses: ["postgres", "redis"],
        });
    });

    const badInputs: [string, Record<string, unknown>, RegExp][] = [
        ["no services at all", {}, /`opsbook:services` is required; set it in Pulumi.<stack>.yaml/],
        ["an empty services map", { services: {} }, /`opsbook:services` declare at least one service/],
        ["a misspelled service key", { services: { api: { prot: 8080 } } }, /`opsbook:services.api`: unknown key\(s\) `prot`/],
        ["a port out of range", { services: { api: { port: 70000 } } }, /`opsbook:services.api.port` .*65535/],
        ["a health path without a slash", { services: { api: { healthPath: "health" } } }, /`opsbook:services.api.healthPath` must start with \//],
        ["a lower-case env name", { services: { api: { env: { app_role: "api" } } } }, /`opsbook:services.api.env.app_role`.* UPPER_SNAKE_CASE/],
        ["an unknown dependency", { services: { api: { uses: ["mysql"] } } }, /`opsbook:services.api.uses.0`/],
        ["zero replicas", { services: { api: { replicas: 0 } } }, /`opsbook:services.api.replicas`/],
        ["an image that is not a reference", { images: { app: "Not An Image!" }, services: validServices }, /`opsbook:images.app` must be an image reference/],
        ["Postgres with too little memory", { postgres: { memoryMb: 64 }, services: validServices }, /`opsbook:postgres.memoryMb`/],
        ["Redis used but disabled", { redis: { enabled: false }, services: validServices }, /`opsbook:services.api.uses` uses redis, but `redis.enabled` is false/],
        ["a service name with capitals", { services: { Api: {} } }, /`opsbook:services.Api`.*lower-case/],
    ];
    for (const [what, raw, message] of badInputs) {
        it(`refuses ${what}, naming the key`, () => {
            const problems = problemsOf(raw);
            assert.ok(
                problems.some((p) => message.test(p)),
                `no problem matched ${message}; got:\n${problems.join("\n")}`,
            );
        });
    }

    it("reports every problem at once, not only the first", () => {
        const problems = problemsOf({ postgres: { memoryMb: 1 }, services: { api: { port: 0, healthPath: "x" } } });
        assert.equal(problems.length, 3, problems.join("\n"));
    });
});
