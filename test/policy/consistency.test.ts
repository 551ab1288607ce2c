import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { envEqualAcrossServices, noSecretInPlainSight } from "../../policies/consistency";
import {
    NAMES,
    SECRET_VALUES,
    apiSpec,
    changed,
    mountOf,
    secretNames,
    secretProps,
    serviceProps,
    validGateway,
    validMigration,
    validService,
    validStack,
    validWorker,
    workerSpec,
} from "./fixtures";
import { CONTAINER, ONE_SHOT, SECRET, SERVICE, UNKNOWN_STRING, runStackPolicy, urnOf } from "./harness";

/** The reality engine bound to its own secret `key` for REALITY_API_SECRET, holding `value`. */
function engineBoundTo(key: string, value: string) {
    const spec = workerSpec();
    const worker = serviceProps({ ...spec, secrets: mountOf(Object.keys(spec.secrets.bindings), { REALITY_API_SECRET: key }) });
    return { worker, extra: [{ name: secretNames(key).resourceName, type: SECRET, props: secretProps(key, value) }] };
}

describe("env-equal-across-services", () => {
    it("accepts services bound to the same docker.Secret (equal by construction), even with the value unknown", async () => {
        assert.deepEqual(await runStackPolicy(envEqualAcrossServices, { resources: validStack() }), []);
        const unknown = validStack().map((r) => (r.type === SECRET ? { ...r, props: { ...r.props, data: UNKNOWN_STRING } } : r));
        assert.deepEqual(await runStackPolicy(envEqualAcrossServices, { resources: unknown }), []);
    });

    it("names both services and both secret keys when they bind different secrets with different values, never the values", async () => {
        const { worker, extra } = engineBoundTo("REALITY_API_SECRET_B", "CANARY-reality-b-zq82");
        const violations = await runStackPolicy(envEqualAcrossServices, { resources: validStack({ worker, extra }) });
        assert.deepEqual(violations, [
            {
                message:
                    "`REALITY_API_SECRET` differs between swarm service `api-service` (service `api`) and swarm service `reality-engine-service` " +
                    "(service `reality-engine`) (they bind different secrets: `REALITY_API_SECRET` and `REALITY_API_SECRET_B`), but must be equal wherever it is set; " +
                    "give services `api` and `reality-engine` the same value, e.g. declare `REALITY_API_SECRET` with source `generated` in both " +
                    "(one generated value is shared by name).",
                urn: urnOf(SERVICE, NAMES.worker),
            },
        ]);
        assert.ok(!violations[0].message.includes("CANARY"));
    });

    it("accepts different secrets that hold the same value", async () => {
        const { worker, extra } = engineBoundTo("REALITY_API_SECRET_B", SECRET_VALUES.REALITY_API_SECRET);
        assert.deepEqual(await runStackPolicy(envEqualAcrossServices, { resources: validStack({ worker, extra }) }), []);
    });

    it("compares a plain value with a secret one", async () => {
        const spec = workerSpec();
        const worker = serviceProps({ ...spec, env: { ...spec.env, REALITY_API_SECRET: "plain-and-different-1" }, secrets: mountOf(["DATABASE_URL"]) });
        const violations = await runStackPolicy(envEqualAcrossServices, { resources: validStack({ worker }) });
        assert.equal(violations.length, 1);
        assert.match(violations[0].message, /differs between swarm service `api-service` \(service `api`\) and swarm service `reality-engine-service` \(service `reality-engine`\), but/);
    });

    it("skips a different secret whose value is not known during preview, and services that do not set the name", async () => {
        const { worker, extra } = engineBoundTo("REALITY_API_SECRET_B", "x");
        const unknown = [{ ...extra[0], props: { ...extra[0].props, data: UNKNOWN_STRING } }];
        assert.deepEqual(await runStackPolicy(envEqualAcrossServices, { resources: validStack({ worker, extra: unknown }) }), []);
        const without = serviceProps({ ...workerSpec(), secrets: mountOf(["DATABASE_URL"]) });
        assert.deepEqual(await runStackPolicy(envEqualAcrossServices, { resources: validStack({ worker: without }) }), []);
    });
});

describe("no-secret-in-plain-sight", () => {
    const run = (parts: Parameters<typeof validStack>[0]) => runStackPolicy(noSecretInPlainSight, { resources: validStack(parts) });

    it("accepts the valid stack, where every secret is a file", async () => {
        assert.deepEqual(await run({}), []);
    });

    it("refuses a secret's value in a service's plain env, naming the secret and the env name, never the value", async () => {
        const api = serviceProps({ ...apiSpec(), env: { ...apiSpec().env, DEBUG_COPY: SECRET_VALUES.API_KEY } });
        const violations = await run({ api });
        assert.deepEqual(violations, [
            {
                message:
                    "swarm service `api-service` (service `api`) shows the value of secret `API_KEY` (docker.Secret `opsbook-production-api-key`) in its plain env `DEBUG_COPY`; " +
                    "remove it from there and let the process read the secret from its file (/run/secrets/<NAME>, named by `<NAME>_FILE`).",
                urn: urnOf(SERVICE, NAMES.api),
            },
        ]);
        assert.ok(!violations[0].message.includes(SECRET_VALUES.API_KEY));
    });

    it("finds a secret inside a longer value, URL-encoded too", async () => {
        const api = serviceProps({ ...apiSpec(), env: { ...apiSpec().env, UPSTREAM: `https://hook.test/?t=${encodeURIComponent(SECRET_VALUES.EOD_CRON_SECRET)}` } });
        const violations = await run({ api });
        assert.equal(violations.length, 1);
        assert.match(violations[0].message, /secret `EOD_CRON_SECRET`.* in its plain env `UPSTREAM`/);
    });

    it("refuses a secret's value in a label and on a command line", async () => {
        const labelled = changed(validService(), (p) => p.labels!.push({ label: "team.note", value: `key ${SECRET_VALUES.API_KEY}` }));
        assert.match((await run({ api: labelled }))[0].message, /in its label `team.note`/);
        const commanded = serviceProps({ ...apiSpec(), command: ["node", "main.js", `--admin-token=${SECRET_VALUES.REALITY_API_SECRET}`] });
        assert.match((await run({ api: commanded }))[0].message, /secret `REALITY_API_SECRET`.* in its command line \(argument 3\)/);
    });

    it("checks the gateway container, one-shot jobs and other resources' labels", async () => {
        const gateway = validGateway({ envs: ["GATEWAY_ROUTES=x", `UPSTREAM_AUTH=${SECRET_VALUES.API_KEY}`] });
        const job = validMigration({ command: ["migrate", SECRET_VALUES.DATABASE_URL] });
        const violations = await run({
            omit: [NAMES.gateway, NAMES.migration],
            extra: [
                { name: NAMES.gateway, type: CONTAINER, props: gateway },
                { name: NAMES.migration, type: ONE_SHOT, props: job },
                { name: "volume-data", type: "docker:index/volume:Volume", props: { name: "v", labels: [{ label: "note", value: SECRET_VALUES.POSTGRES_PASSWORD }] } },
            ],
        });
        assert.deepEqual(
            violations.map((v) => v.urn),
            [urnOf(CONTAINER, NAMES.gateway), urnOf(ONE_SHOT, NAMES.migration), urnOf("docker:index/volume:Volume", "volume-data")],
        );
        for (const v of violations) {
            for (const value of Object.values(SECRET_VALUES)) {
                assert.ok(!v.message.includes(value), v.message);
            }
        }
    });

    it("skips secrets not known during preview and looks for short ones as whole values only", async () => {
        const resources = validStack({ api: serviceProps({ ...apiSpec(), env: { ...apiSpec().env, DEBUG_COPY: SECRET_VALUES.API_KEY } }) }).map((r) =>
            r.type === SECRET ? { ...r, props: { ...r.props, data: UNKNOWN_STRING } } : r,
        );
        assert.deepEqual(await runStackPolicy(noSecretInPlainSight, { resources }), []);
        const short = { name: secretNames("PIN").resourceName, type: SECRET, props: secretProps("PIN", "8080") };
        // PORT=8080 equals the value: refused; APP_ROLE contains "api" only.
        const violations = await run({ extra: [short] });
        assert.deepEqual(
            violations.map((v) => v.message.match(/plain env `[A-Z_]+`/)?.[0]),
            ["plain env `PORT`"],
        );
    });

    it("ignores a worker that shows nothing", async () => {
        assert.deepEqual(await run({ worker: validWorker() }), []);
    });
});
