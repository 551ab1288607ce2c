import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LABEL_ENV_CONTRACT } from "../../components/naming";
import { envEitherOrGroups, envNoSecretLookingPlainEnv, envRequiredPresent, envValueFormats } from "../../policies/env";
import {
    HEX64,
    NAMES,
    SECRET_VALUES,
    apiSpec,
    changed,
    postgresSpec,
    serviceProps,
    validGateway,
    validMigration,
    validPostgres,
    validService,
    validStack,
    withEnv,
} from "./fixtures";
import { CONTAINER, ONE_SHOT, SERVICE, UNKNOWN_STRING, runResourcePolicy, runStackPolicy, urnOf } from "./harness";

const api = (how: Parameters<typeof withEnv>[2], name: string) => serviceProps(withEnv(apiSpec(), name, how));

describe("env-required-present", () => {
    it("accepts the valid service and the valid database", async () => {
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props: validService() }), []);
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props: validPostgres(), name: NAMES.postgres }), []);
    });

    it("names a missing required secret, the service, and the command that sets it", async () => {
        const messages = await runResourcePolicy(envRequiredPresent, { props: api("absent", "API_KEY") });
        assert.deepEqual(messages, [
            "swarm service `api-service` (service `api`) needs `API_KEY`, which is not set (neither plain env `API_KEY` nor a secret file " +
                "`API_KEY_FILE` bound in its `opsbook.secrets` label); declare it in `opsbook:services.api.secretEnv` (source `config`) and run " +
                "'pulumi config set --secret API_KEY <value> --stack production', or set it in `opsbook:services.api.env` if it is not a secret.",
        ]);
    });

    it("refuses a required plain value that is empty or only whitespace", async () => {
        for (const empty of ["", "   "]) {
            const messages = await runResourcePolicy(envRequiredPresent, { props: api({ plain: empty }, "API_KEY") });
            assert.equal(messages.length, 1);
            assert.match(messages[0], /^swarm service `api-service` \(service `api`\) needs `API_KEY`, and its plain env `API_KEY` is empty; give it a real value: /);
        }
    });

    it("accepts a required name set in plain env", async () => {
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props: api({ plain: "opsbook-header" }, "API_KEY") }), []);
    });

    it("counts a secret file only when its binding, its NAME_FILE env and its mount agree", async () => {
        const noBinding = changed(validService(), (p) => {
            const label = p.labels!.find((l) => l!.label === "opsbook.secrets")!;
            const bindings = JSON.parse(label.value!) as Record<string, string>;
            delete bindings.API_KEY;
            label.value = JSON.stringify(bindings);
        });
        const noFileEnv = changed(validService(), (p) => delete p.taskSpec!.containerSpec!.env!.API_KEY_FILE);
        const noMount = changed(validService(), (p) => {
            p.taskSpec!.containerSpec!.secrets = p.taskSpec!.containerSpec!.secrets!.filter((s) => s!.fileName !== "/run/secrets/API_KEY");
        });
        for (const props of [noBinding, noFileEnv, noMount]) {
            const messages = await runResourcePolicy(envRequiredPresent, { props });
            assert.equal(messages.length, 1);
            assert.match(messages[0], /needs `API_KEY`, which is not set/);
        }
    });

    it("names the component of a service that is not an app service", async () => {
        const props = serviceProps({ ...postgresSpec(), envContract: { required: ["POSTGRES_PASSWORD"], anyOf: [], formats: {}, equalAcrossServices: [], requiredInProduction: [] }, secrets: { files: [], env: {}, bindings: {} } });
        const messages = await runResourcePolicy(envRequiredPresent, { props, name: NAMES.postgres });
        assert.deepEqual(messages, [
            "swarm service `postgres-server` (component `database`) needs `POSTGRES_PASSWORD`, which is not set (neither plain env `POSTGRES_PASSWORD` nor a secret file " +
                "`POSTGRES_PASSWORD_FILE` bound in its `opsbook.secrets` label); run 'pulumi config set --secret POSTGRES_PASSWORD <value> --stack production'.",
        ]);
    });

    it("counts a plain value not known during preview as set", async () => {
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props: api({ plain: UNKNOWN_STRING }, "API_KEY") }), []);
    });

    it("refuses a contract label that is not JSON", async () => {
        const props = changed(validService(), (p) => {
            p.labels!.find((l) => l!.label === LABEL_ENV_CONTRACT)!.value = "{required:";
        });
        const messages = await runResourcePolicy(envRequiredPresent, { props });
        assert.match(messages[0], /cannot be checked: its label `opsbook.env-contract` is not valid JSON/);
    });

    it("ignores other resource types", async () => {
        assert.deepEqual(await runResourcePolicy(envRequiredPresent, { props: api("absent", "API_KEY"), type: CONTAINER }), []);
    });
});

describe("env-either-or-groups", () => {
    it("accepts the OIDC pair", async () => {
        assert.deepEqual(await runResourcePolicy(envEitherOrGroups, { props: validService() }), []);
    });

    it("accepts the client-certificate header instead of the OIDC pair", async () => {
        let spec = withEnv(apiSpec(), "OIDC_ISSUER", "absent");
        spec = withEnv(spec, "OIDC_AUDIENCE", "absent");
        spec = withEnv(spec, "CLIENT_CERT_SUBJECT_HEADER", { plain: "X-SSL-Client-S-DN" });
        assert.deepEqual(await runResourcePolicy(envEitherOrGroups, { props: serviceProps(spec) }), []);
    });

    it("accepts the DB_* trio instead of DATABASE_URL, the password as a secret file", async () => {
        let spec = withEnv(apiSpec(), "DATABASE_URL", "absent");
        spec = withEnv(spec, "DB_HOST", { plain: "postgres" });
        spec = withEnv(spec, "DB_USER", { plain: "opsbook_app" });
        spec = withEnv(spec, "DB_PASSWORD", "secret");
        assert.deepEqual(await runResourcePolicy(envEitherOrGroups, { props: serviceProps(spec) }), []);
    });

    it("refuses half of the OIDC pair and lists every alternative", async () => {
        const messages = await runResourcePolicy(envEitherOrGroups, { props: api("absent", "OIDC_AUDIENCE") });
        assert.deepEqual(messages, [
            "swarm service `api-service` (service `api`) needs one of: `CLIENT_CERT_SUBJECT_HEADER`; or `OIDC_ISSUER` and `OIDC_AUDIENCE`; " +
                "none of these is fully set. Set every name of one alternative (secrets with 'pulumi config set --secret NAME <value>').",
        ]);
    });

    it("counts an empty plain value as not set", async () => {
        assert.equal((await runResourcePolicy(envEitherOrGroups, { props: api({ plain: " " }, "OIDC_ISSUER") })).length, 1);
    });
});

describe("env-value-formats", () => {
    const run = (secrets: Record<string, string | undefined>, apiProps = validService()) =>
        runStackPolicy(envValueFormats, { resources: validStack({ secrets, api: apiProps }) });

    it("accepts the valid stack", async () => {
        assert.deepEqual(await run({}), []);
    });

    it("reads a secret's value from the docker.Secret the service binds, and names the secret, never the value", async () => {
        for (const bad of [HEX64.slice(0, 63), `${HEX64}0`, `${HEX64.slice(0, 63)}g`]) {
            const violations = await run({ TRADING_KEY_ENCRYPTION_KEY: bad });
            assert.deepEqual(violations, [
                {
                    message:
                        "`TRADING_KEY_ENCRYPTION_KEY` (secret `TRADING_KEY_ENCRYPTION_KEY`, docker.Secret `opsbook-production-trading-key-encryption-key`) of " +
                        "swarm service `api-service` (service `api`) must be exactly 64 hexadecimal characters (a 32-byte key); " +
                        "generate one with 'openssl rand -hex 32', or declare it with source `generated-hex64`.",
                    urn: urnOf(SERVICE, NAMES.api),
                },
            ]);
        }
    });

    it("accepts upper-case hex", async () => {
        assert.deepEqual(await run({ TRADING_KEY_ENCRYPTION_KEY: HEX64.toUpperCase() }), []);
    });

    it("refuses a Telegram secret token with a character Telegram rejects, or longer than 256", async () => {
        for (const bad of ["tg token", "tg.token", "t".repeat(257)]) {
            const violations = await run({ TELEGRAM_WEBHOOK_SECRET: bad });
            assert.equal(violations.length, 1, bad);
            assert.match(violations[0].message, /^`TELEGRAM_WEBHOOK_SECRET` \(secret .*\) of swarm service `api-service` \(service `api`\) must be 1 to 256 characters from A-Z, a-z, 0-9, `_` and `-`/);
        }
        assert.deepEqual(await run({ TELEGRAM_WEBHOOK_SECRET: "A-z_0".padEnd(256, "9") }), []);
    });

    it("refuses a DATABASE_URL without a scheme or with spaces; accepts sqlite:///", async () => {
        for (const bad of ["postgres:5432/app", "postgres://user:pw@host/app name"]) {
            const violations = await run({ DATABASE_URL: bad });
            assert.equal(violations.length, 1, bad);
            assert.match(violations[0].message, /^`DATABASE_URL` \(secret `DATABASE_URL`.*must be a URL with a scheme/);
        }
        assert.deepEqual(await run({ DATABASE_URL: "sqlite:///./data/signal_sentinel.db" }), []);
    });

    it("checks a plain value too", async () => {
        const violations = await run({}, api({ plain: "postgres:5432/app" }, "DATABASE_URL"));
        assert.equal(violations.length, 1);
        assert.match(violations[0].message, /^`DATABASE_URL` of swarm service `api-service`/);
    });

    it("skips a secret value not known during preview, an absent secret and an empty one", async () => {
        for (const value of [UNKNOWN_STRING, undefined, ""]) {
            const resources = validStack({ secrets: { TRADING_KEY_ENCRYPTION_KEY: value } }).map((r) =>
                value === UNKNOWN_STRING && r.name === "opsbook-production-trading-key-encryption-key" ? { ...r, props: { ...r.props, data: UNKNOWN_STRING } } : r,
            );
            assert.deepEqual(await runStackPolicy(envValueFormats, { resources }), [], String(value));
        }
    });

    it("refuses a format the pack does not know", async () => {
        const props = serviceProps({ ...apiSpec(), envContract: { ...apiSpec().envContract!, formats: { API_KEY: "base58" as never } } });
        const violations = await run({}, props);
        assert.match(violations[0].message, /declares format `base58` for `API_KEY`, which this policy pack does not know; use one of `hex64`, `telegram-secret-token` or `url`\.$/);
    });
});

describe("env-no-secret-looking-plain-env", () => {
    it("accepts the valid service, gateway and migration", async () => {
        assert.deepEqual(await runResourcePolicy(envNoSecretLookingPlainEnv, { props: validService() }), []);
        assert.deepEqual(await runResourcePolicy(envNoSecretLookingPlainEnv, { props: validGateway(), type: CONTAINER, name: NAMES.gateway }), []);
        assert.deepEqual(await runResourcePolicy(envNoSecretLookingPlainEnv, { props: validMigration(), type: ONE_SHOT, name: NAMES.migration }), []);
    });

    it("refuses a secret-looking name in a service's plain env and points to secretEnv, without the value", async () => {
        const messages = await runResourcePolicy(envNoSecretLookingPlainEnv, { props: api({ plain: "Kx9mP2vQ7rT4wZ8bN3cF6hJ1" }, "JWT_SECRET") });
        assert.deepEqual(messages, [
            "swarm service `api-service` (service `api`) has `JWT_SECRET` in its plain env, which looks like a secret: plain env is shown by 'docker inspect' " +
                "and kept in clear in the stack's state; move it to `opsbook:services.api.secretEnv.JWT_SECRET` (source `config`, or `generated`) and run " +
                "'pulumi config set --secret JWT_SECRET <value> --stack production'; the service then reads it from /run/secrets/JWT_SECRET (`JWT_SECRET_FILE` in its env).",
        ]);
    });

    it("refuses a URL with a password in plain env", async () => {
        const messages = await runResourcePolicy(envNoSecretLookingPlainEnv, { props: api({ plain: SECRET_VALUES.DATABASE_URL }, "DATABASE_URL") });
        assert.equal(messages.length, 1);
        assert.match(messages[0], /has `DATABASE_URL` in its plain env, which is a URL with a password in it:/);
        assert.ok(!messages[0].includes(SECRET_VALUES.DATABASE_URL));
    });

    it("judges a name whose value is not known yet by the name alone", async () => {
        assert.equal((await runResourcePolicy(envNoSecretLookingPlainEnv, { props: api({ plain: UNKNOWN_STRING }, "ADMIN_TOKEN") })).length, 1);
        assert.deepEqual(await runResourcePolicy(envNoSecretLookingPlainEnv, { props: api({ plain: UNKNOWN_STRING }, "BACKUP_LOCATION") }), []);
    });

    it("leaves NAME_FILE paths and names about a secret alone", async () => {
        for (const name of ["JWT_SECRET_FILE", "TOKEN_TTL", "DYNAMIC_PUBLIC_KEY", "API_KEY_HEADER"]) {
            assert.deepEqual(await runResourcePolicy(envNoSecretLookingPlainEnv, { props: api({ plain: "/run/secrets/x" }, name) }), [], name);
        }
    });

    it("checks the gateway container and one-shot jobs too", async () => {
        const gateway = validGateway({ envs: ["GATEWAY_ROUTES=x", "ADMIN_PASSWORD=hunter22hunter"] });
        const g = await runResourcePolicy(envNoSecretLookingPlainEnv, { props: gateway, type: CONTAINER, name: NAMES.gateway });
        assert.deepEqual(g, [
            "container `gateway-nginx` (component `gateway`) has `ADMIN_PASSWORD` in its plain env, which looks like a secret: plain env is shown by 'docker inspect' " +
                "and kept in clear in the stack's state; deliver it as a secret file instead (its component mounts a docker.Secret with secretMount and sets `ADMIN_PASSWORD_FILE`).",
        ]);
        const job = validMigration({ env: { APP_ROLE: "migrate", MIGRATOR_PASSWORD: "x" } });
        const j = await runResourcePolicy(envNoSecretLookingPlainEnv, { props: job, type: ONE_SHOT, name: NAMES.migration });
        assert.match(j[0], /^one-shot job `migration-migrate` \(component `migration`\) has `MIGRATOR_PASSWORD` in its plain env/);
    });
});
