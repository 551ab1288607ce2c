// Issue 6 with the real engines: a release and a rollback of an http service under steady load
// from loopback, through the stack's gateway, with zero failed requests. Each is a start-first
// update of the api's swarm service that Swarm completes (no automatic rollback).
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { TestStack, httpGet, inspect, printed, requireEngines, taskContainers, waitFor } from "./harness";
import { underLoad } from "./loadProbe";

// Two api replicas behind the gateway, Postgres and Redis; the release label is the only change.
const SPEC = `config:
  opsbook:monitoring:
    enabled: false
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
        assert.equal(res.code, 0, `first pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        api = outputs.endpoints.api;
        apiService = outputs.services.api;
        tasks = await taskContainers(apiService);
        assert.equal(tasks.length, 2, `the api runs ${tasks.length} tasks: ${tasks.join(", ")}`);
    });
    after(() => stack.dispose());

    /** What Swarm says of the api's update, and which tasks run. */
    async function updateState() {
        const service = await inspect(apiService, "service");
        return { update: service.UpdateStatus as { State?: string; Message?: string } | undefined, tasks: await taskContainers(apiService), spec: service.Spec };
    }

    async function releaseUnderLoad(release: string) {
        const set = await stack.pulumi(["config", "set", "opsbook:release", release]);
        assert.equal(set.code, 0, set.stderr);
        const before = await taskContainers(apiService);
        // The load runs until Swarm has finished the update, not only until `pulumi up` returns:
        // a task stopped after the deploy returned counts too.
        const { result, load } = await underLoad(`${api}/health`, async () => {
            const res = await stack.up();
            const atReturn = await updateState();
            const settled = await waitFor("Swarm ends the api's update", 120, () => updateState(), (s) => s.update?.State !== "updating");
            return { res, atReturn, settled };
        });
        const { res, atReturn, settled } = result;
        assert.equal(res.code, 0, `pulumi up of release ${release} failed:\n${printed(res)}`);
        stack.log(
            `release ${release}: ${load.requests} requests, ${load.failed} failed, longest outage ${load.longestOutageMs} ms; ` +
                `update ${atReturn.update?.State} when pulumi up returned (${atReturn.tasks.filter((t) => before.includes(t)).length} old tasks running), then ${settled.update?.State}`,
        );
        assert.equal(settled.update?.State, "completed", `Swarm did not complete the update of release ${release}: ${JSON.stringify(settled.update)}`);
        assert.ok((settled.spec.TaskTemplate.ContainerSpec.Env as string[]).includes(`APP_RELEASE=${release}`), `the service does not run release ${release}`);
        return { load, atReturn, before };
    }

    /** `pulumi up` must return only once the release is done: no old task runs, and Swarm cannot still roll it back. */
    function assertDoneWhenUpReturned(release: string, atReturn: Awaited<ReturnType<typeof updateState>>, before: string[]) {
        assert.deepEqual(atReturn.tasks.filter((t) => before.includes(t)), [], `tasks of the previous release still ran when pulumi up of release ${release} returned`);
        assert.equal(
            atReturn.update?.State,
            "completed",
            `pulumi up of release ${release} returned while Swarm was still updating the api (it could still roll back): ${JSON.stringify(atReturn.update)}`,
        );
    }

    it("moves to release 2 under load with zero failed requests, on the same URL", async () => {
        const { load, atReturn, before } = await releaseUnderLoad("2");
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
        assertDoneWhenUpReturned("2", atReturn, before);
    });

    it("rolls back to release 1 with the same guarantee", async () => {
        const { load, atReturn, before } = await releaseUnderLoad("1");
        assert.equal(load.failed, 0, `failed requests during the rollback: ${JSON.stringify(load.failures)}`);
        assert.equal(load.lastRelease, "1");
        assert.equal((await httpGet(`${api}/health`)).body.release, "1");
        const now = await taskContainers(apiService);
        assert.equal(now.length, 2);
        assert.deepEqual(now.filter((c) => before.includes(c)), [], "tasks of release 2 still run");
        assertDoneWhenUpReturned("1", atReturn, before);
    });
});
