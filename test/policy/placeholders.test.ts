import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { envNoPlaceholderValues } from "../../policies/env";
import { KNOWN_PLACEHOLDER_VALUES, PLACEHOLDER_FAMILIES, placeholderFamily } from "../../policies/placeholders";
import { HEX64, NAMES, SECRET_VALUES, apiSpec, mountOf, secretNames, secretProps, serviceProps, validStack, withEnv } from "./fixtures";
import { SECRET, SERVICE, UNKNOWN_STRING, runStackPolicy, urnOf } from "./harness";

/** The valid stack with the api binding one more secret, SOME_TOKEN, holding `value`. */
function withSecretToken(value: string) {
    const spec = withEnv(apiSpec(), "SOME_TOKEN", "secret");
    return validStack({ api: serviceProps(spec), extra: [{ name: secretNames("SOME_TOKEN").resourceName, type: SECRET, props: secretProps("SOME_TOKEN", value) }] });
}

describe("placeholder families", () => {
    for (const family of PLACEHOLDER_FAMILIES) {
        it(`${family.id}: catches its examples, through the policy, and names the family`, async () => {
            assert.ok(family.examples.length > 0);
            // The message depends on the name and the family only: every example yields the same text.
            const seen = new Set<string>();
            for (const example of family.examples) {
                assert.equal(placeholderFamily(example, true), family.id, JSON.stringify(example));
                const violations = await runStackPolicy(envNoPlaceholderValues, { resources: withSecretToken(example) });
                assert.equal(violations.length, 1, JSON.stringify(example));
                assert.ok(violations[0].message.includes(`(family \`${family.id}\`)`), violations[0].message);
                seen.add(violations[0].message);
            }
            assert.equal(seen.size, 1, [...seen].join("\n"));
        });
    }

    it("catches every runbook example named in the brief", () => {
        for (const example of [
            "your-super-secret-key-change-in-production",
            "changeme",
            "sk-...",
            "PK...",
            "123456:ABC-DEF...",
            "<new-secret>",
            "TX_ID_HERE",
            "...",
            "xxxxxxxx",
            "replace-me",
            "todo",
        ]) {
            assert.ok(placeholderFamily(example, false), example);
        }
    });

    it("catches every curated value in any case", () => {
        for (const value of KNOWN_PLACEHOLDER_VALUES) {
            assert.equal(placeholderFamily(value.toUpperCase(), false), "known-placeholder", value);
            assert.equal(placeholderFamily(` ${value} `, false), "known-placeholder", value);
        }
    });

    it("applies secret-only families to secrets only", () => {
        for (const value of ["none", "password", "0000", "PK", ""]) {
            assert.equal(placeholderFamily(value, false), undefined, value);
            assert.ok(placeholderFamily(value, true), value);
        }
    });

    it("leaves real-looking values alone", () => {
        for (const value of [
            HEX64,
            "postgres://opsbook_admin:Q7vL2pXk9RmT4wYz@postgres:5432/app",
            "redis://:H3nB8cJ5sV1qW6eR@redis:6379/0",
            "sqlite:///./data/signal_sentinel.db",
            "https://api.mirrormarkets.xyz/admin",
            "https://auth.opsbook.test/realms/trading",
            "sk-proj-Kx9mP2vQ7rT4wZ8bN3cF6hJ1",
            "PKA1B2C3D4E5F6G7H8I9",
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "tg_Wq8Lm3Nz5Rb2Xc7V",
            "X-SSL-Client-S-DN",
            "opsbook-api",
            "sandbox",
            "somewhere",
            "exchange",
        ]) {
            assert.equal(placeholderFamily(value, true), undefined, value);
        }
    });
});

describe("env-no-placeholder-values", () => {
    it("accepts the valid stack", async () => {
        assert.deepEqual(await runStackPolicy(envNoPlaceholderValues, { resources: validStack() }), []);
    });

    it("reads a bound secret from its docker.Secret and names the service, the secret and the family, never the value", async () => {
        const violations = await runStackPolicy(envNoPlaceholderValues, { resources: validStack({ secrets: { API_KEY: "your-super-secret-key-change-in-production" } }) });
        assert.deepEqual(violations, [
            {
                message:
                    "swarm service `api-service` (service `api`) has a placeholder as the secret (docker.Secret `opsbook-production-api-key`) of `API_KEY` " +
                    "(family `known-placeholder`); replace it with the real value: declare it in `opsbook:services.api.secretEnv` (source `config`) and run " +
                    "'pulumi config set --secret API_KEY <value> --stack production', or set it in `opsbook:services.api.env` if it is not a secret.",
                urn: urnOf(SERVICE, NAMES.api),
            },
        ]);
    });

    it("refuses an empty required secret (the required rule sees only that it is bound)", async () => {
        const violations = await runStackPolicy(envNoPlaceholderValues, { resources: validStack({ secrets: { API_KEY: "" } }) });
        assert.equal(violations.length, 1);
        assert.match(violations[0].message, /secret .* of `API_KEY` \(family `empty-secret`\)/);
    });

    it("refuses a placeholder in plain env, and applies secret-only families to secrets only", async () => {
        const plainPlaceholder = serviceProps(withEnv(apiSpec(), "OIDC_AUDIENCE", { plain: "TX_ID_HERE" }));
        const violations = await runStackPolicy(envNoPlaceholderValues, { resources: validStack({ api: plainPlaceholder }) });
        assert.match(violations[0].message, /has a placeholder as the plain env value of `OIDC_AUDIENCE` \(family `fill-in-here`\)/);
        const plainWeak = serviceProps(withEnv(apiSpec(), "CACHE", { plain: "none" }));
        assert.deepEqual(await runStackPolicy(envNoPlaceholderValues, { resources: validStack({ api: plainWeak }) }), []);
    });

    it("takes extra values, patterns and ignored names from config", async () => {
        const resources = withSecretToken("acme-staging-token-1");
        assert.equal((await runStackPolicy(envNoPlaceholderValues, { resources, config: { extraPatterns: ["^acme-staging-"] } })).length, 1);
        assert.equal((await runStackPolicy(envNoPlaceholderValues, { resources, config: { extraPlaceholders: ["ACME-STAGING-TOKEN-1"] } })).length, 1);
        const ignored = withSecretToken("changeme");
        assert.deepEqual(await runStackPolicy(envNoPlaceholderValues, { resources: ignored, config: { ignoreNames: ["SOME_TOKEN"] } }), []);
    });

    it("skips a secret not known during preview", async () => {
        const resources = withSecretToken("changeme").map((r) => (r.name === secretNames("SOME_TOKEN").resourceName ? { ...r, props: { ...r.props, data: UNKNOWN_STRING } } : r));
        assert.deepEqual(await runStackPolicy(envNoPlaceholderValues, { resources }), []);
    });

    it("follows a binding to a key of another name", async () => {
        const spec = apiSpec();
        const api = serviceProps({ ...spec, secrets: mountOf(Object.keys(spec.secrets.bindings), { API_KEY: "PARTNER_KEY" }) });
        const extra = [{ name: secretNames("PARTNER_KEY").resourceName, type: SECRET, props: secretProps("PARTNER_KEY", "sk-...") }];
        const violations = await runStackPolicy(envNoPlaceholderValues, { resources: validStack({ api, extra }) });
        assert.equal(violations.length, 1);
        assert.match(violations[0].message, /docker.Secret `opsbook-production-partner-key`\) of `API_KEY` \(family `truncated-example`\)/);
        assert.ok(!violations[0].message.includes(SECRET_VALUES.API_KEY));
    });
});
