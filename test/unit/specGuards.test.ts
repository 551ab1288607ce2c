// Config mistakes that used to deploy (or crash) instead of being refused, each named under its
// key before anything is registered: misspelt config keys, secrets in plain env, `uses` cycles.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { SPEC_KEYS, SpecError, SpecSchema, configKeyProblems, looksLikeSecretName, parseSpec, usesCycles } from "../../components/spec";
import { PRESETS, applyPreset } from "../../presets";
import { setRecordingMocks } from "./mocks";

function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        parseSpec(raw);
    } catch (err) {
        assert.ok(err instanceof SpecError, `expected a SpecError, got ${String(err)}`);
        return err.problems;
    }
    assert.fail("the spec was accepted");
}

const copyTrading = parseSpec(applyPreset({ preset: "copy-trading" }));

describe("config keys (configKeyProblems)", () => {
    it("lists exactly the schema's top-level keys as SPEC_KEYS", () => {
        assert.deepEqual([...SPEC_KEYS].sort(), Object.keys(SpecSchema.shape).sort());
    });

    it("refuses a misspelt spec key, naming the closest one", () => {
        assert.deepEqual(configKeyProblems(["opsbook:preset", "opsbook:servics"]), ["`opsbook:servics` is not a spec key; did you mean `opsbook:services`?"]);
        assert.deepEqual(configKeyProblems(["opsbook:job"]), ["`opsbook:job` is not a spec key; did you mean `opsbook:jobs`?"]);
        assert.deepEqual(configKeyProblems(["opsbook:Services"]), ["`opsbook:Services` is not a spec key; did you mean `opsbook:services`?"]);
        assert.deepEqual(configKeyProblems(["opsbook:SERVICES"], copyTrading), ["`opsbook:SERVICES` is not a spec key; did you mean `opsbook:services`?"]);
    });

    it("names the spec keys when nothing is close", () => {
        const [problem] = configKeyProblems(["opsbook:frobnicate"]);
        assert.match(problem, /^`opsbook:frobnicate` is not a spec key \(`preset`, `release`, .*`services`\) nor a secret named like an env var; remove it with `pulumi config rm frobnicate`$/);
    });

    it("accepts every spec key, declared user secrets, and other namespaces", () => {
        const keys = [...SPEC_KEYS.map((k) => `opsbook:${k}`), "opsbook:DYNAMIC_PUBLIC_KEY", "docker:host", "aws:region", "opsbook-policy:whatever"];
        assert.deepEqual(configKeyProblems(keys, copyTrading), []);
    });

    it("refuses an UPPER_SNAKE key that no service declares, naming the closest declared secret", () => {
        assert.deepEqual(configKeyProblems(["opsbook:DYNAMIC_PUBLC_KEY"], copyTrading), [
            "`opsbook:DYNAMIC_PUBLC_KEY`: no service declares `secretEnv.DYNAMIC_PUBLC_KEY`; did you mean `DYNAMIC_PUBLIC_KEY`? " +
                "declare it in a service's `secretEnv` (source `config`) or remove it with `pulumi config rm DYNAMIC_PUBLC_KEY`",
        ]);
        const [far] = configKeyProblems(["opsbook:STRIPE_WEBHOOK_SIGNING"], copyTrading);
        assert.match(far, /^`opsbook:STRIPE_WEBHOOK_SIGNING`: no service declares `secretEnv.STRIPE_WEBHOOK_SIGNING` \(user-supplied secrets: `DYNAMIC_PUBLIC_KEY`\); /);
    });

    it("refuses a value set for a secret the stack generates: it would never be used", () => {
        assert.deepEqual(configKeyProblems(["opsbook:ADMIN_TOKEN", "opsbook:REDIS_PASSWORD"], copyTrading), [
            "`opsbook:ADMIN_TOKEN` is set, but the stack generates `ADMIN_TOKEN` (`services.api.secretEnv.ADMIN_TOKEN: generated`), so the value is never used; " +
                "remove it with `pulumi config rm ADMIN_TOKEN` (rotate it with `opsbook:rotation.ADMIN_TOKEN`)",
            "`opsbook:REDIS_PASSWORD` is set, but the stack generates `REDIS_PASSWORD`, so the value is never used; " +
                "remove it with `pulumi config rm REDIS_PASSWORD` (rotate it with `opsbook:rotation.REDIS_PASSWORD`)",
        ]);
    });

    it("leaves secrets unchecked until the spec is known", () => {
        assert.deepEqual(configKeyProblems(["opsbook:ANYTHING_AT_ALL"]), []);
    });

    it("refuses `opsbook:servics` in readStackSettings before any resource is registered", async () => {
        const registered = setRecordingMocks();
        pulumi.runtime.setAllConfig({ "opsbook:preset": "copy-trading", "opsbook:servics": JSON.stringify({ api: { replicas: 2 } }) }, []);
        const { readStackSettings } = await import("../../config");
        assert.throws(readStackSettings, (err: unknown) => {
            assert.ok(err instanceof SpecError);
            assert.deepEqual(err.problems, ["`opsbook:servics` is not a spec key; did you mean `opsbook:services`?"]);
            return true;
        });
        // Without a preset the misspelling also leaves `services` unset: both are named.
        pulumi.runtime.setAllConfig({ "opsbook:servics": JSON.stringify({ api: {} }) }, []);
        assert.throws(readStackSettings, (err: unknown) => {
            assert.ok(err instanceof SpecError);
            assert.deepEqual(err.problems, [
                "`opsbook:servics` is not a spec key; did you mean `opsbook:services`?",
                "`opsbook:services` is required; set it in Pulumi.<stack>.yaml",
            ]);
            return true;
        });
        pulumi.runtime.setAllConfig({ "opsbook:preset": "copy-trading", "opsbook:DYNAMIC_PUBLC_KEY": "k" }, ["opsbook:DYNAMIC_PUBLC_KEY"]);
        assert.throws(readStackSettings, /no service declares `secretEnv.DYNAMIC_PUBLC_KEY`; did you mean `DYNAMIC_PUBLIC_KEY`\?/);
        assert.deepEqual(registered, []);
    });
});

describe("secrets in plain env", () => {
    it("refuses a secret-looking name and says where it goes, never echoing the value", () => {
        const problems = problemsOf({ services: { api: { env: { JWT_SECRET: "s3cr3t-value", APP_ROLE: "api" } } } });
        assert.deepEqual(problems, [
            "`opsbook:services.api.env.JWT_SECRET` looks like a secret; move it to `services.api.secretEnv.JWT_SECRET: config` and run `pulumi config set --secret JWT_SECRET <value>`",
        ]);
        assert.ok(!problems.join("\n").includes("s3cr3t-value"));
    });

    it("refuses a URL with a password in plain env", () => {
        const problems = problemsOf({ services: { api: { env: { DATABASE_URL: "postgres://app:hunter2@db:5432/app" } } } });
        assert.deepEqual(problems, [
            "`opsbook:services.api.env.DATABASE_URL` is a URL with a password in it; move it to `services.api.secretEnv.DATABASE_URL: config` and run `pulumi config set --secret DATABASE_URL <value>`",
        ]);
        assert.ok(!problems.join("\n").includes("hunter2"));
        assert.doesNotThrow(() => parseSpec({ services: { api: { env: { DATABASE_URL: "postgres://app@db:5432/app", API_URL: "https://api.example.net/v1" } } } }));
    });

    it("refuses one in migrations.env too", () => {
        assert.match(problemsOf({ services: { api: {} }, migrations: { command: ["migrate"], env: { ADMIN_TOKEN: "x" } } })[0], /^`opsbook:migrations.env.ADMIN_TOKEN` looks like a secret/);
    });

    const secret = [
        "JWT_SECRET", "SECRET", "SECRET_KEY", "SECRET_KEY_BASE", "API_KEY", "ADMIN_API_KEY", "OPENAI_API_KEY", "ALPACA_SECRET_KEY", "TRADING_KEY_ENCRYPTION_KEY",
        "TELEGRAM_BOT_TOKEN", "ADMIN_TOKEN", "GITHUB_AUTHTOKEN", "DB_PASSWORD", "SMTP_PASSWD", "SSH_PASSPHRASE", "PRIVATE_KEY", "PRIVATE_KEY_PEM", "JWT_SECRET_PREVIOUS",
        "ENCRYPTION_KEY_HEX", "API_KEY_2", "GOOGLE_APPLICATION_CREDENTIALS", "AWS_SECRET_ACCESS_KEY", "CLIENTSECRET", "MY_APIKEY", "REDIS_CREDS",
    ];
    const plain = [
        // From the presets and the runbooks.
        "CLIENT_CERT_SUBJECT_HEADER", "OIDC_AUDIENCE", "OIDC_ISSUER", "METRICS_PORT", "MAINTENANCE_MODE", "DATABASE_URL", "APP_ROLE", "READ_ONLY", "VITE_API_URL",
        // Settings about a secret, and keys that are not secrets.
        "TOKEN_TTL", "JWT_SECRET_FILE", "PASSWORD_MIN_LENGTH", "OPENAI_MAX_TOKENS", "API_KEY_HEADER", "SECRET_NAME", "AWS_ACCESS_KEY_ID", "DYNAMIC_PUBLIC_KEY",
        "STRIPE_PUBLISHABLE_KEY", "RECAPTCHA_SITE_KEY", "RABBITMQ_ROUTING_KEY", "CACHE_KEY", "MONKEY", "KEYCLOAK_URL", "PWD",
    ];
    for (const name of secret) {
        it(`takes ${name} for a secret`, () => assert.equal(looksLikeSecretName(name), true));
    }
    for (const name of plain) {
        it(`takes ${name} for plain env`, () => assert.equal(looksLikeSecretName(name), false));
    }

    it("refuses no preset: every preset's env passes parseSpec", () => {
        for (const name of Object.keys(PRESETS)) {
            assert.doesNotThrow(() => parseSpec(applyPreset({ preset: name })), `preset ${name}`);
        }
    });

    it("would not refuse the presets' secretEnv names that are no secrets if they were plain env", () => {
        for (const name of ["CLIENT_CERT_SUBJECT_HEADER", "OIDC_AUDIENCE", "OIDC_ISSUER", "DYNAMIC_PUBLIC_KEY"]) {
            assert.equal(looksLikeSecretName(name), false, name);
        }
    });
});

describe("`uses` cycles", () => {
    it("refuses two services that use each other, naming the cycle once", () => {
        assert.deepEqual(problemsOf({ services: { api: { uses: ["web"] }, web: { uses: ["api"] } } }), [
            "`opsbook:services.api.uses` -> web -> api is a cycle: each service waits for the next to be healthy, so none would start; remove one of these `uses`",
        ]);
    });

    it("names a longer cycle from its first declared service, and ignores postgres, redis and self-use", () => {
        assert.deepEqual(usesCycles({ a: { uses: ["postgres", "b"] }, b: { uses: ["c", "redis"] }, c: { uses: ["a"] }, d: { uses: ["a"] } }), [["a", "b", "c", "a"]]);
        assert.deepEqual(usesCycles({ a: { uses: ["b"] }, b: { uses: ["c"] }, c: { uses: [] } }), []);
        assert.deepEqual(usesCycles({ a: { uses: ["a"] } }), [], "self-use has its own message");
    });

    it("finds every distinct cycle", () => {
        assert.deepEqual(usesCycles({ a: { uses: ["b", "c"] }, b: { uses: ["a"] }, c: { uses: ["a"] } }), [
            ["a", "b", "a"],
            ["a", "c", "a"],
        ]);
    });

    it("does not call a diamond a cycle", () => {
        assert.doesNotThrow(() => parseSpec({ services: { web: { uses: ["api", "auth"] }, api: { uses: ["auth"] }, auth: { uses: [] } } }));
    });
});

describe("service volumes", () => {
    it("refuses a volume name the stack's own parts use, naming the key", () => {
        assert.throws(
            () => parseSpec({ services: { api: { uses: ["postgres"], volumes: { "postgres-data": "/data" } } } }),
            (err: Error) => /services\.api\.volumes\.postgres-data.*is a volume the stack itself uses; pick another name \(reserved: postgres-data, redis-data, backups, prometheus-data, alertmanager-data\)/s.test(err.message),
        );
    });
});
