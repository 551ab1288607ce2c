// Issue 6 with the real engines: a release and a rollback of an http service under steady load
// from loopback, through the stack's gateway, with zero failed requests. Each is a start-first
// update of the api's swarm service that Swarm completes (no automatic rollback).
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { TestStack, httpGet, inspect, requireEngines, taskContainers } from "./harness";
import { underLoad } from "./loadProbe";

// Two api replicas behind the gateway, Postgres and Redis; the release label is the only change.
const SPEC = `config:
  opsbook:release: "1"
  opsbook:services:
    api:
      replicas: 2
      env:
        APP_ROLE: api
      uses: [postgres, redis]
`;

describe("releases and rollbacks with no failed request", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-rel");
    let api = "";
    let apiService = "";
    let tasks: string[] = [];

    before(async () => {
        requireEngines();
        await stack.init(SPEC);
        const res = await stack.up();
        assert.equal(res.code, 0, `first pulumi up failed:\n${res.stdout}\n${res.stderr}`);
        const outputs = await stack.outputs();
        api = outputs.endpoints.api;
        apiService = outputs.services.api;
        tasks = await taskContainers(apiService);
        assert.equal(tasks.length, 2, `the api runs ${tasks.length} tasks: ${tasks.join(", ")}`);
    });
    after(() => stack.dispose());

    async function releaseUnderLoad(release: string) {
        const set = await stack.pulumi(["config", "set", "opsbook:release", release]);
        assert.equal(set.code, 0, set.stderr);
        const { result: res, load } = await underLoad(`${api}/health`, () => stack.up());
        assert.equal(res.code, 0, `pulumi up of release ${release} failed:\n${res.stdout}\n${res.stderr}`);
        stack.log(`release ${release}: ${load.requests} requests, ${load.failed} failed, longest outage ${load.longestOutageMs} ms`);
        const service = await inspect(apiService, "service");
        assert.equal(service.UpdateStatus?.State, "completed", `the update of release ${release} did not complete: ${JSON.stringify(service.UpdateStatus)}`);
        assert.ok(
            (service.Spec.TaskTemplate.ContainerSpec.Env as string[]).includes(`APP_RELEASE=${release}`),
            `the service does not run release ${release}`,
        );
        return load;
    }

    it("moves to release 2 under load with zero failed requests, on the same URL", async () => {
        const load = await releaseUnderLoad("2");
        assert.ok(load.requests > 100, `too little load to prove anything: ${load.requests} requests`);
        assert.equal(load.failed, 0, `failed requests during the release: ${JSON.stringify(load.failures)}`);
        assert.equal(load.lastRelease, "2");
        const outputs = await stack.outputs();
        assert.equal(outputs.endpoints.api, api, "the release changed the URL");
        assert.equal(outputs.services.api, apiService, "the release renamed the service");
        const now = await taskContainers(apiService);
        assert.equal(now.length, 2, `the api runs ${now.length} tasks after the release: ${now.join(", ")}`);
        assert.deepEqual(now.filter((c) => tasks.includes(c)), [], "tasks of release 1 still run");
        assert.equal((await httpGet(`${api}/health`)).body.release, "2");
    });

    it("rolls back to release 1 with the same guarantee", async () => {
        const load = await releaseUnderLoad("1");
        assert.equal(load.failed, 0, `failed requests during the rollback: ${JSON.stringify(load.failures)}`);
        assert.equal(load.lastRelease, "1");
        assert.equal((await httpGet(`${api}/health`)).body.release, "1");
        assert.equal((await taskContainers(apiService)).length, 2);
    });
});
