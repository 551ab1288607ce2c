import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { envEitherOrGroups, envNoPlaceholderValues, envRequiredPresent, envValueFormats } from "../../policies/env";
import { HEX64, validPostgres, validService, withContract, withEnv } from "./fixtures";
import { UNKNOWN_STRING, runResourcePolicy, secretValuesOf } from "./harness";

describe("env-required-present", () => {
    it("accepts the valid service and the valid database", async () => {
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props: validService() }), []);
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props: validPostgres(), name: "postgres-server" }), []);
    });

    it("names a missing required secret, the container, and the command that sets it", async () => {
        const messages = await runResourcePolicy(envRequiredPresent, { props: withEnv(validService(), "API_KEY", undefined) });
        assert.deepEqual(messages, [
            "container `api-container` (service `api`) needs `API_KEY`, which is not set; declare it in `opsbook:services.api.secretEnv` " +
                "(source `config`) and run 'pulumi config set --secret API_KEY <value> --stack production', or set it in " +
                "`opsbook:services.api.env` if it is not a secret.",
        ]);
    });

    it("refuses a required value that is empty or only whitespace", async () => {
        for (const empty of ["", "   "]) {
            const messages = await runResourcePolicy(envRequiredPresent, { props: withEnv(validService(), "API_KEY", empty) });
            assert.equal(messages.length, 1);
            assert.match(messages[0], /^container `api-container` \(service `api`\) has `API_KEY` set to an empty value; give it a real value: /);
        }
    });

    it("accepts a required name set in plain env", async () => {
        const props = withEnv(validService(), "API_KEY", "Kx9mP2vQ7rT4wZ8bN3cF6hJ1", true);
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props }), []);
    });

    it("names the component of a container that is not an app service", async () => {
        const messages = await runResourcePolicy(envRequiredPresent, {
            props: withEnv(validPostgres(), "POSTGRES_PASSWORD", undefined),
            name: "postgres-server",
        });
        assert.deepEqual(messages, [
            "container `postgres-server` (component `postgres`) needs `POSTGRES_PASSWORD`, which is not set; " +
                "run 'pulumi config set --secret POSTGRES_PASSWORD <value> --stack production'.",
        ]);
    });

    it("counts a value not known during preview as set", async () => {
        const props = withEnv(validService(), "API_KEY", UNKNOWN_STRING);
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props }), []);
    });

    it("ignores other resource types", async () => {
        const props = withEnv(validService(), "API_KEY", undefined);
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props, type: "pulumi-nodejs:dynamic/opsbook:Volume" }), []);
    });
});

describe("env-either-or-groups", () => {
    it("accepts the OIDC pair", async () => {
        assert.deepEqual(await runResourcePolicy(envEitherOrGroups, { props: validService() }), []);
    });

    it("accepts the client-certificate header instead of the OIDC pair", async () => {
        let props = withEnv(validService(), "OIDC_ISSUER", undefined);
        props = withEnv(props, "OIDC_AUDIENCE", undefined);
        props = withEnv(props, "CLIENT_CERT_SUBJECT_HEADER", "X-SSL-Client-S-DN", true);
        assert.deepEqual(await runResourcePolicy(envEitherOrGroups, { props }), []);
    });

    it("accepts the DB_* trio instead of DATABASE_URL", async () => {
        let props = withEnv(validService(), "DATABASE_URL", undefined);
        props = withEnv(props, "DB_HOST", "postgres", true);
        props = withEnv(props, "DB_USER", "opsbook_app", true);
        props = withEnv(props, "DB_PASSWORD", "Q7vL2pXk9RmT4wYz");
        assert.deepEqual(await runResourcePolicy(envEitherOrGroups, { props }), []);
    });

    it("refuses half of the OIDC pair and lists every alternative", async () => {
        const messages = await runResourcePolicy(envEitherOrGroups, { props: withEnv(validService(), "OIDC_AUDIENCE", undefined) });
        assert.deepEqual(messages, [
            "container `api-container` (service `api`) needs one of: `CLIENT_CERT_SUBJECT_HEADER`; or `OIDC_ISSUER` and `OIDC_AUDIENCE`; " +
                "none of these is fully set. Set every name of one alternative (secrets with 'pulumi config set --secret NAME <value>').",
        ]);
    });

    it("refuses two of the DB_* trio without DATABASE_URL", async () => {
        let props = withEnv(validService(), "DATABASE_URL", undefined);
        props = withEnv(props, "DB_HOST", "postgres", true);
        props = withEnv(props, "DB_USER", "opsbook_app", true);
        const messages = await runResourcePolicy(envEitherOrGroups, { props });
        assert.equal(messages.length, 1);
        assert.match(messages[0], /needs one of: `DATABASE_URL`; or `DB_HOST`, `DB_USER` and `DB_PASSWORD`; none of these is fully set/);
    });

    it("counts an empty value as not set", async () => {
        const props = withEnv(validService(), "OIDC_ISSUER", " ", true);
        assert.equal((await runResourcePolicy(envEitherOrGroups, { props })).length, 1);
    });
});

describe("env-value-formats", () => {
    it("accepts the valid service", async () => {
        assert.deepEqual(await runResourcePolicy(envValueFormats, { props: validService() }), []);
    });

    it("refuses a TRADING_KEY_ENCRYPTION_KEY that is not 64 hex characters", async () => {
        for (const bad of [HEX64.slice(0, 63), `${HEX64}0`, `${HEX64.slice(0, 63)}g`]) {
            const messages = await runResourcePolicy(envValueFormats, { props: withEnv(validService(), "TRADING_KEY_ENCRYPTION_KEY", bad) });
            assert.deepEqual(messages, [
                "`TRADING_KEY_ENCRYPTION_KEY` of container `api-container` (service `api`) must be exactly 64 hexadecimal characters (a 32-byte key); " +
                    "generate one with 'openssl rand -hex 32', or declare it with source `generated-hex64`.",
            ]);
        }
    });

    it("accepts upper-case hex", async () => {
        const props = withEnv(validService(), "TRADING_KEY_ENCRYPTION_KEY", HEX64.toUpperCase());
        assert.deepEqual(await runResourcePolicy(envValueFormats, { props }), []);
    });

    it("refuses a Telegram secret token with a character Telegram rejects, or longer than 256", async () => {
        for (const bad of ["tg token", "tg.token", "t".repeat(257)]) {
            const messages = await runResourcePolicy(envValueFormats, { props: withEnv(validService(), "TELEGRAM_WEBHOOK_SECRET", bad) });
            assert.equal(messages.length, 1, bad);
            assert.match(messages[0], /^`TELEGRAM_WEBHOOK_SECRET` of container `api-container` \(service `api`\) must be 1 to 256 characters from A-Z, a-z, 0-9, `_` and `-`/);
        }
        const ok = withEnv(validService(), "TELEGRAM_WEBHOOK_SECRET", "A-z_0".padEnd(256, "9"));
        assert.deepEqual(await runResourcePolicy(envValueFormats, { props: ok }), []);
    });

    it("refuses a DATABASE_URL without a scheme or with spaces; accepts sqlite:///", async () => {
        for (const bad of ["postgres:5432/app", "postgres://user:pw@host/app name"]) {
            const messages = await runResourcePolicy(envValueFormats, { props: withEnv(validService(), "DATABASE_URL", bad) });
            assert.equal(messages.length, 1, bad);
            assert.match(messages[0], /^`DATABASE_URL` of container `api-container` \(service `api`\) must be a URL with a scheme/);
        }
        const sqlite = withEnv(validService(), "DATABASE_URL", "sqlite:///./data/signal_sentinel.db");
        assert.deepEqual(await runResourcePolicy(envValueFormats, { props: sqlite }), []);
    });

    it("leaves absent, empty and unknown values to the other rules", async () => {
        for (const value of [undefined, "", UNKNOWN_STRING]) {
            const props = withEnv(validService(), "TRADING_KEY_ENCRYPTION_KEY", value);
            assert.deepEqual(await runResourcePolicy(envValueFormats, { props }), [], String(value));
        }
    });

    it("names a format the pack does not know", async () => {
        const props = withContract(validService(), { formats: { API_KEY: "uuid" as never } });
        assert.deepEqual(await runResourcePolicy(envValueFormats, { props }), [
            "container `api-container` (service `api`) declares format `uuid` for `API_KEY`, which this policy pack does not know; " +
                "use one of `hex64`, `telegram-secret-token` or `url`.",
        ]);
    });
});

describe("env-no-placeholder-values", () => {
    it("accepts the valid service and the valid database", async () => {
        assert.deepEqual(await runResourcePolicy(envNoPlaceholderValues, { props: validService() }), []);
        assert.deepEqual(await runResourcePolicy(envNoPlaceholderValues, { props: validPostgres(), name: "postgres-server" }), []);
    });

    it("names the env name, the family and the fix for a secret placeholder", async () => {
        const props = withEnv(validService(), "SECRET_KEY", "your-super-secret-key-change-in-production");
        assert.deepEqual(await runResourcePolicy(envNoPlaceholderValues, { props }), [
            "container `api-container` (service `api`) has a placeholder as the secret of `SECRET_KEY` (family `known-placeholder`); " +
                "replace it with the real value: declare it in `opsbook:services.api.secretEnv` (source `config`) and run " +
                "'pulumi config set --secret SECRET_KEY <value> --stack production', or set it in `opsbook:services.api.env` if it is not a secret.",
        ]);
    });

    it("checks plain env values too, and says so", async () => {
        const props = withEnv(validService(), "WEBHOOK_URL", "https://your-domain/webhook/telegram", true);
        const messages = await runResourcePolicy(envNoPlaceholderValues, { props });
        assert.equal(messages.length, 1);
        assert.match(messages[0], /has a placeholder as the env value of `WEBHOOK_URL` \(family `fill-in-here`\)/);
    });

    it("checks names outside the contract (the runbooks' optional keys)", async () => {
        const props = withEnv(validService(), "OPENAI_API_KEY", "sk-...");
        const messages = await runResourcePolicy(envNoPlaceholderValues, { props });
        assert.match(messages[0], /`OPENAI_API_KEY` \(family `truncated-example`\)/);
    });

    it("refuses an empty optional secret, but leaves an empty required one to env-required-present", async () => {
        const optional = withEnv(validService(), "FINNHUB_API_KEY", "");
        assert.match((await runResourcePolicy(envNoPlaceholderValues, { props: optional }))[0], /`FINNHUB_API_KEY` \(family `empty-secret`\)/);
        const required = withEnv(validService(), "API_KEY", "");
        assert.deepEqual(await runResourcePolicy(envNoPlaceholderValues, { props: required }), []);
    });

    it("allows plain settings that are weak only as secrets", async () => {
        const props = withEnv(validService(), "PLAID_ENV", "none", true);
        assert.deepEqual(await runResourcePolicy(envNoPlaceholderValues, { props }), []);
        const secret = withEnv(validService(), "ADMIN_API_KEY", "none");
        assert.match((await runResourcePolicy(envNoPlaceholderValues, { props: secret }))[0], /family `weak-secret`/);
    });

    it("extends the list from config: values and patterns", async () => {
        const value = withEnv(validService(), "ADMIN_API_KEY", "Opsbook-Demo-Key");
        assert.deepEqual(await runResourcePolicy(envNoPlaceholderValues, { props: value }), []);
        const byValue = await runResourcePolicy(envNoPlaceholderValues, { props: value, config: { extraPlaceholders: ["opsbook-demo-key"] } });
        assert.match(byValue[0], /`ADMIN_API_KEY` \(family `configured`\)/);
        const byPattern = await runResourcePolicy(envNoPlaceholderValues, { props: value, config: { extraPatterns: ["demo"] } });
        assert.match(byPattern[0], /`ADMIN_API_KEY` \(family `configured`\)/);
    });

    it("skips names the config ignores", async () => {
        const props = withEnv(validService(), "LEGACY_FLAG", "xxxx", true);
        assert.equal((await runResourcePolicy(envNoPlaceholderValues, { props })).length, 1);
        assert.deepEqual(await runResourcePolicy(envNoPlaceholderValues, { props, config: { ignoreNames: ["LEGACY_FLAG"] } }), []);
    });

    it("fails with the config key when a configured pattern is not a regular expression", async () => {
        await assert.rejects(
            runResourcePolicy(envNoPlaceholderValues, { props: validService(), config: { extraPatterns: ["ok", "(unclosed"] } }),
            /policy config `env-no-placeholder-values.extraPatterns\[1\]` is not a valid regular expression/,
        );
    });

    it("skips values not known during preview", async () => {
        const props = withEnv(validService(), "API_KEY", UNKNOWN_STRING);
        assert.deepEqual(await runResourcePolicy(envNoPlaceholderValues, { props }), []);
    });

    it("reports every placeholder of a container, never a value", async () => {
        let props = withEnv(validService(), "ALPACA_API_KEY", "PK...");
        props = withEnv(props, "TELEGRAM_BOT_TOKEN", "123456:ABC-DEF...");
        props = withEnv(props, "RETRY_TX", "TX_ID_HERE", true);
        const messages = await runResourcePolicy(envNoPlaceholderValues, { props });
        assert.equal(messages.length, 3);
        for (const m of messages) {
            for (const v of ["PK...", "123456:ABC-DEF...", "TX_ID_HERE", ...secretValuesOf(props)]) {
                assert.ok(!m.includes(v), `message leaks a value: ${m}`);
            }
        }
    });
});
