import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { SpecError, parseSpec } from "../../components/spec";
import { PRESETS, applyPreset } from "../../presets";

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

describe("presets", () => {
    for (const [name, preset] of Object.entries(PRESETS)) {
        it(`${name} is a valid spec on its own`, () => {
            const spec = parseSpec(applyPreset({ preset: name }));
            assert.ok(Object.keys(spec.services).length > 0);
            assert.deepEqual(spec.services, parseSpec(preset).services);
        });
    }

    it("lets a stack override a preset key by key", () => {
        const spec = parseSpec(applyPreset({ preset: "copy-trading", services: { api: { replicas: 3, env: { LOG_LEVEL: "debug" } } } }));
        assert.equal(spec.services.api.replicas, 3);
        assert.equal(spec.services.api.env.LOG_LEVEL, "debug");
        assert.equal(spec.services.api.env.APP_ROLE, "api", "the preset's other env was lost");
        assert.deepEqual(Object.keys(spec.services).sort(), ["api", "web", "workers"]);
    });

    it("keeps the 002 shared secret equal by construction: one generated value per name", () => {
        const spec = parseSpec(applyPreset({ preset: "prediction-market" }));
        assert.equal(spec.services.backend.secretEnv.REALITY_API_SECRET, "generated");
        assert.equal(spec.services["reality-engine"].secretEnv.REALITY_API_SECRET, "generated");
    });
});

describe("parseSpec", () => {
    it("fills in the documented defaults", () => {
        const spec = parseSpec({ services: validServices });
        assert.equal(spec.images.app, "opsbook/app:reference");
        assert.equal(spec.postgres.memoryMb, 512);
        assert.equal(spec.postgres.keepDataOnDestroy, true);
        assert.equal(spec.redis.enabled, true);
        assert.deepEqual(spec.services.api, {
            kind: "http",
            port: 8080,
            healthPath: "/health",
            healthCheck: "http",
            replicas: 1,
            singleInstance: "no",
            memoryMb: 256,
            readOnlyRootFilesystem: true,
            heartbeats: [],
            volumes: {},
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
        ["an unknown preset", { preset: "hedge-fund", services: validServices }, /`opsbook:preset` must be one of signal-bot, copy-trading/],
        [
            "two replicas of a single-instance service",
            { services: { app: { singleInstance: "unless-redis", replicas: 2 } } },
            /`opsbook:services.app.replicas` must be 1 for a service that holds in-process state; set it to 1 or add Redis/,
        ],
        ["a dependency that does not exist", { services: { web: { uses: ["api"] } } }, /`opsbook:services.web.uses.0` names `api`, which is neither postgres, redis nor a service/],
        ["a bad cron schedule", { services: validServices, jobs: { eod: { schedule: "daily", service: "api", path: "/jobs/eod" } } }, /`opsbook:jobs.eod.schedule` must be a 5-field cron expression/],
        [
            "a job whose secret the service does not have",
            { services: validServices, jobs: { eod: { schedule: "0 21 * * *", service: "api", path: "/jobs/eod", secretHeader: { header: "X-Cron-Secret", secret: "EOD_CRON_SECRET" } } } },
            /`opsbook:jobs.eod.secretHeader.secret` `EOD_CRON_SECRET` is not in `services.api.secretEnv`/,
        ],
        ["a secret also given as plain env", { services: { api: { env: { JWT_SECRET: "x" }, secretEnv: { JWT_SECRET: "generated" } } } }, /`opsbook:services.api.env.JWT_SECRET` is also declared in `secretEnv`/],
        ["a rotation stamp for a secret nobody generates", { rotation: { JWT_SECRET: "2" }, services: validServices }, /`opsbook:rotation.JWT_SECRET` names no generated secret/],
        ["an unknown secret source", { services: { api: { secretEnv: { JWT_SECRET: "vault" } } } }, /`opsbook:services.api.secretEnv.JWT_SECRET`/],
        ["a published worker", { services: { w: { kind: "worker", publish: true } } }, /`opsbook:services.w.publish` a worker serves no traffic/],
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
