// The pack's metadata and its config files: what the engine checks at load time, checked here
// first, plus the house style (kebab-case names, sentence descriptions, explicit levels).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import type { EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { z } from "zod";
import * as consistency from "../../policies/consistency";
import * as containers from "../../policies/containers";
import * as env from "../../policies/env";
import { PACK_NAME, packArgs, policies } from "../../policies/pack";
import * as production from "../../policies/production";

const POLICY_DIR = path.join(__dirname, "..", "..", "policies");
const LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];
const PRODUCTION_ONLY = ["env-required-in-production", "backups-scheduled", "images-pinned", "monitoring-with-receiver", "data-network-encrypted"];

type AnyPolicy = ResourceValidationPolicy | StackValidationPolicy;

function isPolicy(value: unknown): value is AnyPolicy {
    return value !== null && typeof value === "object" && "name" in value && "description" in value && ("validateResource" in value || "validateStack" in value);
}

function readConfig(stack: string): Record<string, unknown> {
    return JSON.parse(fs.readFileSync(path.join(POLICY_DIR, "config", `${stack}.json`), "utf8")) as Record<string, unknown>;
}

/** A zod schema for one policy's config entry: its configSchema's properties, nothing else. */
function entrySchema(policy: AnyPolicy): z.ZodType {
    return z.fromJSONSchema({
        type: "object",
        additionalProperties: false,
        properties: { enforcementLevel: { type: "string", enum: LEVELS }, ...(policy.configSchema?.properties ?? {}) },
        required: policy.configSchema?.required ?? [],
    } as never);
}

describe("pack metadata", () => {
    it("is named opsbook and has a description", () => {
        assert.equal(PACK_NAME, "opsbook");
        assert.match(packArgs.description ?? "", /\.$/);
    });

    it("holds every exported policy of every concern file, each once", () => {
        const exported = [env, consistency, production, containers].flatMap((m) => Object.values(m).filter(isPolicy));
        assert.deepEqual(new Set(exported), new Set(policies));
        assert.equal(exported.length, policies.length);
    });

    it("has unique names", () => {
        const names = policies.map((p) => p.name);
        assert.equal(new Set(names).size, names.length);
    });

    for (const policy of policies) {
        it(`${policy.name}: kebab-case name, sentence description, explicit level, one kind of validation`, () => {
            assert.match(policy.name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
            assert.match(policy.description, /^[A-Z`].*\.$/s);
            assert.ok(policy.description.length >= 40, "a description of a few words is not a full sentence");
            assert.ok(Object.prototype.hasOwnProperty.call(policy, "enforcementLevel"), "enforcementLevel must be explicit");
            assert.ok(LEVELS.includes(policy.enforcementLevel!));
            const kinds = ["validateResource" in policy, "validateStack" in policy].filter(Boolean);
            assert.equal(kinds.length, 1);
            for (const [key, prop] of Object.entries(policy.configSchema?.properties ?? {})) {
                assert.ok(prop.description?.endsWith("."), `${key} needs a description`);
                assert.ok(prop.default !== undefined, `${key} needs a default, so the rule works without config`);
                // Defaults must satisfy the schema they belong to.
                assert.ok(entrySchema(policy).safeParse({ [key]: prop.default }).success, `${key}'s default does not match its schema`);
            }
        });
    }
});

describe("policy config files", () => {
    for (const stack of ["staging", "production"]) {
        it(`${stack}.json names only existing policies, every one of them, and validates against each configSchema`, () => {
            const config = readConfig(stack);
            const byName = new Map(policies.map((p) => [p.name, p]));
            for (const [name, entry] of Object.entries(config)) {
                const policy = byName.get(name);
                assert.ok(policy, `${stack}.json names \`${name}\`, which is not a policy of the pack`);
                const value = typeof entry === "string" ? { enforcementLevel: entry } : entry;
                const result = entrySchema(policy).safeParse(value);
                assert.ok(result.success, `${stack}.json: ${name}: ${result.success ? "" : result.error.message}`);
            }
            assert.deepEqual(Object.keys(config).sort(), [...byName.keys()].sort(), "every policy's level is explicit per stack");
        });
    }

    it("production makes every rule mandatory", () => {
        for (const [name, entry] of Object.entries(readConfig("production"))) {
            assert.equal((entry as { enforcementLevel: string }).enforcementLevel, "mandatory", name);
        }
    });

    it("staging waives the production-only rules and keeps the others mandatory", () => {
        for (const [name, entry] of Object.entries(readConfig("staging"))) {
            const level = (entry as { enforcementLevel: string }).enforcementLevel;
            if (PRODUCTION_ONLY.includes(name)) {
                assert.ok(level === "advisory" || level === "disabled", `${name} is ${level} in staging`);
            } else {
                assert.equal(level, "mandatory", name);
            }
        }
    });
});

describe("pack files", () => {
    it("PulumiPolicy.yaml names the nodejs runtime and a description", () => {
        const yaml = fs.readFileSync(path.join(POLICY_DIR, "PulumiPolicy.yaml"), "utf8");
        assert.match(yaml, /^runtime: nodejs$/m);
        assert.match(yaml, /^description: \S.+$/m);
    });

    it("package.json carries the version @pulumi/policy reads at start", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(POLICY_DIR, "package.json"), "utf8")) as { version?: string };
        assert.match(pkg.version ?? "", /^\d+\.\d+\.\d+$/);
    });

    it("the README documents every rule and every config property", () => {
        const readme = fs.readFileSync(path.join(POLICY_DIR, "README.md"), "utf8");
        for (const policy of policies) {
            assert.ok(readme.includes(`\`${policy.name}\``), `README misses ${policy.name}`);
            for (const key of Object.keys(policy.configSchema?.properties ?? {})) {
                assert.ok(readme.includes(`\`${key}\``), `README misses ${policy.name}.${key}`);
            }
        }
    });
});
