import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { envEqualAcrossServices } from "../../policies/consistency";
import { validPostgres, validService, validWorker, withEnv } from "./fixtures";
import { UNKNOWN_STRING, runStackPolicy, urnOf, CONTAINER } from "./harness";

const stack = (api = validService(), engine = validWorker()) => ({
    resources: [
        { name: "postgres-server", props: validPostgres() },
        { name: "api-container", props: api },
        { name: "reality-engine-container", props: engine },
    ],
});

describe("env-equal-across-services", () => {
    it("accepts services that share the value", async () => {
        assert.deepEqual(await runStackPolicy(envEqualAcrossServices, stack()), []);
    });

    it("names both services and the key, reports against the differing container, and never shows a value", async () => {
        const engine = withEnv(validWorker(), "REALITY_API_SECRET", "CANARY-reality-b-zq82");
        const api = withEnv(validService(), "REALITY_API_SECRET", "CANARY-reality-a-zq81");
        const violations = await runStackPolicy(envEqualAcrossServices, stack(api, engine));
        assert.deepEqual(violations, [
            {
                message:
                    "`REALITY_API_SECRET` differs between container `api-container` (service `api`) and container `reality-engine-container` " +
                    "(service `reality-engine`), but must be equal wherever it is set; give services `api` and `reality-engine` the same value, " +
                    "e.g. declare `REALITY_API_SECRET` with source `generated` in both (one generated value is shared by name).",
                urn: urnOf(CONTAINER, "reality-engine-container"),
            },
        ]);
        assert.ok(!violations[0].message.includes("CANARY"));
    });

    it("compares every container that sets the name, even one whose own contract does not list it", async () => {
        const web = withEnv(validWorker({ envContract: { ...validWorker().envContract, equalAcrossServices: [] } }), "REALITY_API_SECRET", "different-value-9Xq2");
        const violations = await runStackPolicy(envEqualAcrossServices, {
            resources: [
                { name: "api-container", props: validService() },
                { name: "web-container", props: { ...web, labels: { ...web.labels, "opsbook.service": "web" } } },
            ],
        });
        assert.equal(violations.length, 1);
        assert.match(violations[0].message, /between container `api-container` \(service `api`\) and container `web-container` \(service `web`\)/);
    });

    it("tells replicas of one service apart by container", async () => {
        const replica = withEnv(validService(), "REALITY_API_SECRET", "another-value-7Hk3");
        const violations = await runStackPolicy(envEqualAcrossServices, {
            resources: [
                { name: "api-container-0", props: validService() },
                { name: "api-container-1", props: replica },
            ],
        });
        assert.equal(violations.length, 1);
        assert.match(violations[0].message, /between container `api-container-0` \(service `api`\) and container `api-container-1` \(service `api`\), but must be equal wherever it is set; give both the same value\.$/);
    });

    it("ignores containers that do not set the name, and values unknown during preview", async () => {
        const engine = withEnv(validWorker(), "REALITY_API_SECRET", UNKNOWN_STRING);
        assert.deepEqual(await runStackPolicy(envEqualAcrossServices, stack(validService(), engine)), []);
        const without = withEnv(validWorker(), "REALITY_API_SECRET", undefined);
        assert.deepEqual(await runStackPolicy(envEqualAcrossServices, stack(validService(), without)), []);
    });

    it("reports a name once per differing container", async () => {
        const b = withEnv(validWorker(), "REALITY_API_SECRET", "value-b-1111x");
        const c = { ...withEnv(validWorker(), "REALITY_API_SECRET", "value-c-2222y"), labels: { ...validWorker().labels, "opsbook.service": "backend" } };
        const violations = await runStackPolicy(envEqualAcrossServices, {
            resources: [
                { name: "api-container", props: validService() },
                { name: "reality-engine-container", props: b },
                { name: "backend-container", props: c },
            ],
        });
        assert.deepEqual(
            violations.map((v) => v.urn),
            [urnOf(CONTAINER, "reality-engine-container"), urnOf(CONTAINER, "backend-container")],
        );
    });
});
