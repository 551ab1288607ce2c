// Issue 4 with the real engine: the policy pack runs before anything changes. A fresh stack of
// the production spec with one required secret unset is refused, with a message that names the
// key and the fix; nothing is created. A secret given as plain config fails the preview.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT, TestStack, requireEngines } from "./harness";

const PRODUCTION_POLICY = ["--policy-pack", "policies", "--policy-pack-config", "policies/config/production.json"];

describe("the policy pack refuses an unsafe production deploy", { timeout: 10 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-prod");

    before(async () => {
        requireEngines();
        await stack.init(fs.readFileSync(path.join(ROOT, "Pulumi.production.yaml"), "utf8"));
        // Pinned as production pins them, so that the missing secret is the one thing wrong.
        await stack.pinImages();
    });
    after(() => stack.dispose());

    it("refuses `pulumi up` when DYNAMIC_PUBLIC_KEY is unset, names the key and the fix, and creates nothing", async () => {
        const res = await stack.up(PRODUCTION_POLICY);
        const out = res.stdout + res.stderr;
        assert.notEqual(res.code, 0, `pulumi up was not refused:\n${out}`);
        assert.match(out, /env-required-present/);
        assert.match(out, /DYNAMIC_PUBLIC_KEY/);
        assert.match(out, /pulumi config set --secret DYNAMIC_PUBLIC_KEY/);
        assert.doesNotMatch(out, /images-pinned/, "the stack was refused for its images, not (only) for the missing secret");
        assert.deepEqual(await stack.containers(), [], "containers were created despite the violation");
        assert.deepEqual(await stack.services(), [], "swarm services were created despite the violation");
        assert.deepEqual(await stack.secrets(), [], "swarm secrets were created despite the violation");
        assert.deepEqual(await stack.networks(), [], "networks were created despite the violation");
        const exported = await stack.pulumi(["stack", "export"]);
        const resources = JSON.parse(exported.stdout).deployment.resources ?? [];
        // Not one resource of a provider (docker, random, the dynamic ones) nor a default provider.
        const custom = resources.filter((r: { type: string; custom?: boolean }) => r.custom).map((r: { type: string }) => r.type);
        assert.deepEqual(custom, [], "resources were registered in the state");
    });

    it("refuses a secret stored as plain config before registering anything, naming `pulumi config set --secret`", async () => {
        const set = await stack.pulumi(["config", "set", "DYNAMIC_PUBLIC_KEY", "pk_live_0f3c9a1b2d4e6f80"]);
        assert.equal(set.code, 0, set.stderr);
        const res = await stack.pulumi(["preview", "--non-interactive", ...PRODUCTION_POLICY]);
        const out = res.stdout + res.stderr;
        assert.notEqual(res.code, 0, out);
        assert.match(out, /`opsbook:DYNAMIC_PUBLIC_KEY` is a secret but is stored in plain text; run 'pulumi config set --secret DYNAMIC_PUBLIC_KEY <value>'/);
        assert.doesNotMatch(out, /pk_live_0f3c9a1b2d4e6f80/, "the value was printed");
    });
});

describe("a spec mistake stops `pulumi preview` before anything is registered", { timeout: 5 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-badspec");

    before(async () => {
        requireEngines();
        await stack.init(`config:
  opsbook:services:
    api:
      prot: 8080
      replicas: 0
`);
    });
    after(() => stack.dispose());

    it("prints every problem under its key and registers no resource", async () => {
        const res = await stack.pulumi(["preview", "--non-interactive"]);
        const out = res.stdout + res.stderr;
        assert.notEqual(res.code, 0, out);
        assert.match(out, /`opsbook:services.api`: unknown key\(s\) `prot`/);
        assert.match(out, /`opsbook:services.api.replicas`/);
        assert.doesNotMatch(out, /at Object\.|\.ts:\d+:\d+/, "a stack trace was printed instead of the message alone");
        // Only the stack itself appears; no Docker object, secret or step was registered.
        assert.doesNotMatch(out, /dynamic\/opsbook:|opsbook:index:|docker:index\/|random:index\//, "resources were registered");
    });
});
