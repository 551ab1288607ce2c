import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { envNoPlaceholderValues } from "../../policies/env";
import { KNOWN_PLACEHOLDER_VALUES, PLACEHOLDER_FAMILIES, placeholderFamily } from "../../policies/placeholders";
import { HEX64, validService, withEnv } from "./fixtures";
import { runResourcePolicy } from "./harness";

describe("placeholder families", () => {
    for (const family of PLACEHOLDER_FAMILIES) {
        it(`${family.id}: catches its examples, through the policy, and names the family`, async () => {
            assert.ok(family.examples.length > 0);
            // The message depends on the name and the family only: every example yields the same text.
            const seen = new Set<string>();
            for (const example of family.examples) {
                assert.equal(placeholderFamily(example, true), family.id, JSON.stringify(example));
                const props = withEnv(validService(), "SOME_TOKEN", example);
                const messages = await runResourcePolicy(envNoPlaceholderValues, { props });
                assert.equal(messages.length, 1, JSON.stringify(example));
                assert.ok(messages[0].includes(`(family \`${family.id}\`)`), messages[0]);
                seen.add(messages[0]);
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
