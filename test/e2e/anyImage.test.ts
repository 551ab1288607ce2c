// The stack deploys any team's image, not only the reference app: a stack whose only service is an
// image built here (Debian minbase + a Perl HTTP server, no Node.js, no curl, non-root) deploys,
// serves through the gateway, and releases a new tag under load with 0 failed requests on the same
// URL. Nothing can be pulled: the images are built with the classic builder from a local base.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { ANY_IMAGE_HEALTH_PATH, ANY_IMAGE_PORT, buildAnyImage, removeImages, toolsInImage } from "../fixtures/any-image/image";
import { TestStack, docker, httpGet, printed, requireEngines, waitFor } from "./harness";
import { underLoad } from "./loadProbe";

describe("any image: a Perl server with neither Node.js nor curl, no database", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-any");
    const repo = `opsbook-e2e-any-${stack.name}`;
    const v1 = `${repo}:v1`;
    const v2 = `${repo}:v2`;
    let endpoint = "";
    let serviceName = "";

    before(async () => {
        requireEngines();
        await buildAnyImage(v1, "v1");
        // The check must be able to find a tool at all (perl is there), or "not found" proves nothing.
        assert.deepEqual(await toolsInImage(v1, ["perl"]), ["perl (/usr/bin/perl)"], "the tool check cannot see what is in the image");
        assert.deepEqual(await toolsInImage(v1), [], "the test image must have neither Node.js nor curl nor wget");
        await stack.init(`config:
  opsbook:monitoring:
    enabled: false
  opsbook:postgres:
    enabled: false
  opsbook:redis:
    enabled: false
  opsbook:services:
    web:
      image: ${v1}
      port: ${ANY_IMAGE_PORT}
      healthPath: ${ANY_IMAGE_HEALTH_PATH}
`);
    });

    after(async () => {
        await stack.dispose();
        await removeImages([v1, v2]);
    });

    it("deploys and serves the image through the gateway", async () => {
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        endpoint = outputs.endpoints.web;
        serviceName = outputs.services.web;
        assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.equal(outputs.postgresService, undefined, "a stack without Postgres exported one");
        assert.equal(outputs.backups, undefined, "a stack with nothing to back up has a backup agent");

        const root = await httpGet(`${endpoint}/`);
        assert.equal(root.status, 200, JSON.stringify(root.body));
        // `host` is the answering task's container hostname (the multi-node test counts replicas by it).
        const { host, ...rest } = root.body as { host: string };
        assert.deepEqual(rest, { release: "v1", server: "perl", uid: 10001 });
        assert.match(host, /^[0-9a-f]{12}$/, "the fixture names no container");
        assert.equal((await httpGet(`${endpoint}${ANY_IMAGE_HEALTH_PATH}`)).status, 200);

        // The engine judged the task healthy with the stack's probe, not with anything of the image.
        const task = await docker("ps", "-q", "--filter", `label=com.docker.swarm.service.name=${serviceName}`, "--filter", "status=running");
        const container = task.stdout.trim().split("\n")[0];
        assert.ok(container, `no running task of ${serviceName}`);
        const health = JSON.parse((await docker("inspect", "-f", "{{json .State.Health}}", container)).stdout) as { Status: string; Log: { Output: string }[] };
        assert.equal(health.Status, "healthy");
        assert.match(health.Log[health.Log.length - 1].Output, new RegExp(`^opsbook-probe: healthy: HTTP 200 OK from 127\\.0\\.0\\.1:${ANY_IMAGE_PORT}${ANY_IMAGE_HEALTH_PATH}`));
    });

    it("releases v2 under load with 0 failed requests, on the same URL", async () => {
        await buildAnyImage(v2, "v2");
        assert.deepEqual(await toolsInImage(v2), []);
        const set = await stack.pulumi(["config", "set", "--path", "opsbook:services.web.image", v2]);
        assert.equal(set.code, 0, set.stderr);

        const { result: res, load } = await underLoad(`${endpoint}/`, () => stack.up());
        stack.log(`release v2: ${load.requests} requests, ${load.failed} failed ${JSON.stringify(load.failures)}, longest outage ${load.longestOutageMs} ms`);
        assert.equal(res.code, 0, `pulumi up of v2 failed:\n${printed(res)}`);
        assert.ok(load.requests > 100, `too little load to prove anything: ${load.requests} requests`);
        assert.equal(load.failed, 0, `failed requests during the release: ${JSON.stringify(load.failures)}`);
        assert.equal(load.lastRelease, "v2", "the load never saw v2");

        const outputs = await stack.outputs();
        assert.equal(outputs.endpoints.web, endpoint, "the release changed the URL");
        const root = await waitFor("v2 served", 10, () => httpGet(`${endpoint}/`), (r) => r.status === 200);
        assert.equal(root.body.release, "v2");
        const spec = await docker("service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", serviceName);
        const v2Id = (await docker("image", "inspect", "-f", "{{.Id}}", v2)).stdout.trim();
        assert.equal(spec.stdout.trim(), v2Id, "the service does not run v2's image ID");
    });
});
