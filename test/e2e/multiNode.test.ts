// A stack on a swarm of three servers (issue 10, part 3): a manager reached over SSH and two more
// servers named in `opsbook:engine.nodes`, each a Docker engine and an sshd in its own network
// namespace at its own address (test/hosts/server.sh), the two others in no swarm at first. One
// `pulumi up` over ssh:// joins them with the swarm's own worker join token, labels the nodes,
// gives each node the images it can run (copied, no registry), spreads the stateless api one
// replica per node and pins Postgres and the backup agent to the data node (the manager). Checked
// through the servers' addresses only:
//  a. the three nodes are one swarm, labelled for the stack; the join token is in no output or state;
//  b. the api's three replicas run on three different nodes; Postgres and the backup agent on the
//     data node; the gateway on the manager answers from every replica (the overlay across nodes);
//  c. a second `pulumi up` changes nothing; `opsbook exec` reaches a task on another node;
//  d. a release of a new tag under steady load through the gateway: 0 failed requests;
//  e. a worker drained under load: 0 failed requests, its task moves;
//  f. a worker's engine killed (SIGKILL) under load: its task is rescheduled; the failed requests
//     and the time back to three running replicas are reported (figures, not asserted);
//  g. a worker's link cut under load: its task is rescheduled, the node is back with its link;
//  h. the data node's engine killed and started again under a steady writer: writes resume and
//     every acknowledged write is still there;
//  i. destroy takes the stack's labels off and leaves the nodes in the swarm.
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { sshOptions } from "../../components/engineHost";
import { stackNodeLabels } from "../../components/naming";
import { EngineConnection, dockerCli, engineApi } from "../../providers/engineCli";
import { ANY_IMAGE_PORT, ANY_IMAGE_HEALTH_PATH, buildAnyImage, removeImages } from "../fixtures/any-image/image";
import { SERVER_SCRIPT, TestServer, startTestServer, stopTestServer } from "../hosts/server";
import { ROOT, TestStack, httpGet, requireEngines, run, waitFor } from "./harness";
import { underLoad } from "./loadProbe";

const MANAGER = { name: "opsbook-m51", address: "10.213.0.51" };
const WORKERS = [
    { node: "w52", name: "opsbook-w52", address: "10.213.0.52" },
    { node: "w53", name: "opsbook-w53", address: "10.213.0.53" },
];

/** SIGKILL of a test server's dockerd (as a crashed engine or a lost machine looks to the swarm). */
async function killEngine(server: string): Promise<void> {
    const res = await run("bash", ["-c", `kill -KILL "$(cat /run/opsbook-test-hosts/${server}/docker.pid)"`]);
    assert.equal(res.code, 0, `killing ${server}'s engine: ${res.stderr}`);
}

describe("a stack on a swarm of three servers", { timeout: 40 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-nodes");
    const imageTag = `opsbook-e2e-nodes-api:${stack.name}`;
    const servers: Record<string, TestServer> = {};
    let manager: EngineConnection;
    let outputs: Record<string, any> = {};

    const onManager = async (...args: string[]) => {
        const res = await dockerCli(args, { engine: manager, timeoutMs: 120_000 });
        assert.equal(res.code, 0, `docker ${args.join(" ")} on the manager: ${res.stderr}`);
        return res.stdout.trim();
    };
    /** The node ID of every running task of a service. */
    const taskNodes = async (service: string) => {
        const ids = (await onManager("service", "ps", "-q", "--filter", "desired-state=running", service)).split("\n").filter(Boolean);
        return Promise.all(ids.map((id) => onManager("inspect", "--format", "{{.NodeID}}", id)));
    };
    const nodeLabels = async () => {
        const ids = (await onManager("node", "ls", "-q")).split("\n").filter(Boolean);
        return Promise.all(ids.map(async (id) => ({ id, labels: JSON.parse(await onManager("node", "inspect", "--format", "{{json .Spec.Labels}}", id)) as Record<string, string> })));
    };

    before(async () => {
        requireEngines();
        await buildAnyImage(imageTag, "v1");
        servers.manager = await startTestServer(MANAGER.name, MANAGER.address);
        for (const w of WORKERS) {
            servers[w.node] = await startTestServer(w.name, w.address, { noSwarm: true });
        }
        manager = { host: `ssh://root@${MANAGER.address}`, sshOptions: sshOptions(servers.manager.knownHosts, servers.manager.identityFile) };
        const nodesYaml = WORKERS.map(
            (w) => `      ${w.node}:\n        host: ssh://root@${w.address}\n        knownHosts: "${servers[w.node].knownHosts}"\n        identityFile: ${servers[w.node].identityFile}`,
        ).join("\n");
        await stack.init(`config:
  opsbook:engine:
    host: ${manager.host}
    knownHosts: "${servers.manager.knownHosts}"
    identityFile: ${servers.manager.identityFile}
    publishAddress: ${MANAGER.address}
    nodes:
${nodesYaml}
  opsbook:monitoring:
    enabled: false
  opsbook:redis:
    enabled: false
  opsbook:services:
    api:
      image: ${imageTag}
      port: ${ANY_IMAGE_PORT}
      healthPath: ${ANY_IMAGE_HEALTH_PATH}
      replicas: 3
      uses: [postgres]
`);
        // The content-addressed tags: another toolchain run on this machine re-points the stable ones.
        await stack.pinImages();
    });

    after(async () => {
        await stack.dispose();
        await stopTestServer(MANAGER.name);
        for (const w of WORKERS) {
            await stopTestServer(w.name);
        }
        await removeImages([imageTag]);
    });

    it("a. joins the two servers with the swarm's join token and labels every node for the stack", async () => {
        const started = Date.now();
        const res = await stack.up();
        stack.log(`[figure] pulumi up on three nodes over ssh://: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.equal(res.code, 0, `pulumi up failed:\n${res.stdout}\n${res.stderr}`);
        outputs = await stack.outputs();
        const nodes = await onManager("node", "ls", "--format", "{{.ID}} {{.Status}} {{.ManagerStatus}}");
        stack.log(`nodes:\n${nodes}`);
        assert.equal(nodes.split("\n").filter((l) => / Ready/.test(l)).length, 3, nodes);

        const labels = stackNodeLabels({ project: "opsbook", stack: stack.name });
        const labelled = await nodeLabels();
        assert.deepEqual(labelled.map((n) => n.labels[labels.node]).sort(), ["manager", "w52", "w53"]);
        assert.deepEqual(labelled.filter((n) => n.labels[labels.data] === "true").map((n) => n.labels[labels.node]), ["manager"]);

        const token = (await engineApi(manager, "GET", "/swarm")).json as { JoinTokens: { Worker: string; Manager: string } };
        const state = (await stack.pulumi(["stack", "export", "--show-secrets"])).stdout;
        for (const t of [token.JoinTokens.Worker, token.JoinTokens.Manager]) {
            assert.ok(!state.includes(t) && !res.stdout.includes(t) && !res.stderr.includes(t), "a join token is in the state or the output");
        }
    });

    it("b. spreads the api one replica per node, pins Postgres and the backup agent to the data node, and serves from every replica", async () => {
        const managerId = (await engineApi(manager, "GET", "/info")).json as { Swarm: { NodeID: string } };
        const apiNodes = await waitFor("three running api tasks", 120, () => taskNodes(outputs.services.api), (n) => n.length === 3);
        assert.equal(new Set(apiNodes).size, 3, `the api's replicas share nodes: ${apiNodes.join(", ")}`);
        for (const service of [outputs.postgresService, outputs.backups.agentService]) {
            assert.deepEqual(await taskNodes(service), [managerId.Swarm.NodeID], `${service} is not on the data node`);
        }
        const hosts = new Set<string>();
        await waitFor("answers from all three replicas through the gateway", 60, async () => {
            for (let i = 0; i < 12; i++) {
                const r = await httpGet(`${outputs.endpoints.api}/`);
                if (r.status === 200 && r.body?.host) {
                    hosts.add(r.body.host);
                }
            }
            return hosts.size;
        }, (n) => n === 3);
        stack.log(`the gateway at ${outputs.endpoints.api} reached replicas ${[...hosts].join(", ")}`);
    });

    it("c. a second pulumi up changes nothing", async () => {
        const again = await stack.pulumi(["preview", "--diff", "--non-interactive", "--expect-no-changes"]);
        assert.equal(again.code, 0, `a second deploy would change something:\n${again.stdout}\n${again.stderr}`);
    });

    it("c2. `opsbook exec` reaches a task that runs on another node than the manager", async () => {
        const labels = stackNodeLabels({ project: "opsbook", stack: stack.name });
        const w53 = (await nodeLabels()).find((n) => n.labels[labels.node] === "w53")!.id;
        // Out of band, for this check only: every api task on w53, none on the manager.
        const only53 = `node.labels.${labels.node}==w53`;
        await onManager("service", "update", "--detach", "--constraint-add", only53, outputs.services.api);
        try {
            await waitFor("the api's tasks on w53 only", 120, () => taskNodes(outputs.services.api), (n) => n.length === 3 && n.every((id) => id === w53));
            const exec = await run("node", [path.join(ROOT, "cli", "opsbook.js"), "--stack", stack.name, "exec", "api", "--", "cat", "/etc/hostname"], { env: stack.env });
            assert.equal(exec.code, 0, `opsbook exec failed:\n${exec.stdout}\n${exec.stderr}`);
            const onW53 = await dockerCli(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${outputs.services.api}`], { engine: { host: `ssh://root@${WORKERS[1].address}`, sshOptions: sshOptions(servers.w53.knownHosts, servers.w53.identityFile) } });
            assert.ok(onW53.stdout.split("\n").some((id) => id && exec.stdout.trim().startsWith(id.slice(0, 12))), `the hostname ${exec.stdout.trim()} is not a container on w53 (${onW53.stdout.trim()})`);
        } finally {
            // --force: Swarm does not move running tasks back by itself.
            await onManager("service", "update", "--detach", "--force", "--constraint-rm", only53, outputs.services.api);
            await waitFor("the api spread again", 120, () => taskNodes(outputs.services.api), (n) => n.length === 3 && new Set(n).size >= 2);
        }
    });

    it("d. releases a new tag on three nodes under steady load through the manager's gateway: 0 failed requests", async () => {
        await buildAnyImage(imageTag, "v2");
        const started = Date.now();
        const { result: res, load } = await underLoad(`${outputs.endpoints.api}/`, () => stack.up());
        stack.log(`[figure] release on three nodes: ${((Date.now() - started) / 1000).toFixed(1)} s; ${load.requests} requests, ${load.failed} failed, longest outage ${load.longestOutageMs} ms`);
        assert.equal(res.code, 0, `the release failed:\n${res.stdout}\n${res.stderr}`);
        assert.equal(load.failed, 0, `failed requests during the release: ${JSON.stringify(load.failures)}`);
        assert.equal(load.lastRelease, "v2");
        const apiNodes = await waitFor("three running v2 tasks", 60, () => taskNodes(outputs.services.api), (n) => n.length === 3);
        // Swarm's spread is a preference: a start-first update places each new task beside the old
        // ones still running, so after a release two replicas may share a node (seen). Never all three.
        stack.log(`after the release the api's replicas run on ${new Set(apiNodes).size} nodes`);
        assert.ok(new Set(apiNodes).size >= 2, `the release put every replica on one node: ${apiNodes.join(", ")}`);
    });

    it("e. drains a worker node under steady load: 0 failed requests, its task moves (the node is made active again after)", async () => {
        const w52 = (await nodeLabels()).find((n) => n.labels[stackNodeLabels({ project: "opsbook", stack: stack.name }).node] === "w52")!.id;
        const started = Date.now();
        const { result: moved, load } = await underLoad(`${outputs.endpoints.api}/`, async () => {
            await onManager("node", "update", "--availability", "drain", w52);
            return waitFor("the api's task off the drained node", 120, () => taskNodes(outputs.services.api), (n) => n.length === 3 && !n.includes(w52));
        });
        stack.log(`[figure] drain of a worker under load: tasks moved in ${((Date.now() - started) / 1000).toFixed(1)} s; ${load.requests} requests, ${load.failed} failed, longest outage ${load.longestOutageMs} ms`);
        assert.equal(load.failed, 0, `failed requests during the drain: ${JSON.stringify(load.failures)}`);
        assert.ok(!moved.includes(w52));
        await onManager("node", "update", "--availability", "active", w52);
    });

    it("f. a worker's engine killed (SIGKILL) under steady load: its task is rescheduled; failed requests and time back to full strength reported", async () => {
        const labels = stackNodeLabels({ project: "opsbook", stack: stack.name });
        const w53 = (await nodeLabels()).find((n) => n.labels[labels.node] === "w53")!.id;
        const before = await taskNodes(outputs.services.api);
        assert.ok(before.includes(w53), `no api task on w53 before the kill: ${before.join(", ")}`);
        const killedAt = Date.now();
        let backAfterS = 0;
        const { load } = await underLoad(`${outputs.endpoints.api}/`, async () => {
            await killEngine(WORKERS[1].name);
            const back = await waitFor("three running api tasks without w53", 180, () => taskNodes(outputs.services.api), (n) => n.length === 3 && !n.includes(w53));
            backAfterS = (Date.now() - killedAt) / 1000;
            return back;
        });
        stack.log(
            `[figure] worker engine killed under load: back to 3 running replicas in ${backAfterS.toFixed(1)} s; ${load.requests} requests, ${load.failed} failed ` +
                `(${JSON.stringify(load.failures)}), longest outage ${load.longestOutageMs} ms`,
        );
        assert.ok(load.requests > 0);
        const down = await onManager("node", "inspect", "--format", "{{.Status.State}}", w53);
        assert.equal(down, "down", "the swarm does not see the killed node as down");
    });

    it("g. a worker's link cut under steady load: its task is rescheduled; back when the link is; failed requests and times reported", async () => {
        const labels = stackNodeLabels({ project: "opsbook", stack: stack.name });
        const w52 = (await nodeLabels()).find((n) => n.labels[labels.node] === "w52")!.id;
        const veth = `th-${WORKERS[0].name}`;
        const cutAt = Date.now();
        let backAfterS = 0;
        const { load } = await underLoad(`${outputs.endpoints.api}/`, async () => {
            assert.equal((await run("ip", ["link", "set", veth, "down"])).code, 0);
            await waitFor("three running api tasks without w52", 180, () => taskNodes(outputs.services.api), (n) => n.length === 3 && !n.includes(w52));
            backAfterS = (Date.now() - cutAt) / 1000;
        });
        assert.equal((await run("ip", ["link", "set", veth, "up"])).code, 0);
        stack.log(
            `[figure] worker link cut under load: back to 3 running replicas in ${backAfterS.toFixed(1)} s; ${load.requests} requests, ${load.failed} failed ` +
                `(${JSON.stringify(load.failures)}), longest outage ${load.longestOutageMs} ms`,
        );
        const rejoinedAt = Date.now();
        await waitFor("w52 ready again", 120, () => onManager("node", "inspect", "--format", "{{.Status.State}}", w52), (state) => state === "ready");
        stack.log(`[figure] w52 ready again ${((Date.now() - rejoinedAt) / 1000).toFixed(1)} s after its link came back`);
    });

    it("h. the data node's engine killed and started again under a steady writer: writes resume, no acknowledged write lost", async () => {
        const postgresContainer = async () => (await onManager("ps", "-q", "--filter", `label=com.docker.swarm.service.name=${outputs.postgresService}`)).split("\n")[0];
        const psql = async (sql: string) =>
            dockerCli(["exec", "-u", "postgres", await postgresContainer(), "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "opsbook_admin", "-d", "app", "-c", sql], { engine: manager, timeoutMs: 20_000 });
        const created = await psql("CREATE TABLE drill (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())");
        assert.equal(created.code, 0, created.stderr);
        const acked: { id: number; at: number }[] = [];
        let failures = 0;
        let writing = true;
        let killedAt = 0;
        const writer = (async () => {
            while (writing) {
                const res = await psql("INSERT INTO drill DEFAULT VALUES RETURNING id").catch(() => undefined);
                if (res && res.code === 0 && /^\d+$/.test(res.stdout.trim())) {
                    acked.push({ id: Number(res.stdout.trim()), at: Date.now() });
                } else {
                    failures++;
                    await new Promise((r) => setTimeout(r, 500));
                }
            }
        })();
        try {
            await waitFor("writes acknowledged", 30, async () => acked.length, (n) => n >= 5);
            killedAt = Date.now();
            await killEngine(MANAGER.name);
            await new Promise((r) => setTimeout(r, 3000));
            const start = await run("bash", [SERVER_SCRIPT, "start-engine", MANAGER.name, MANAGER.address]);
            assert.equal(start.code, 0, `starting the manager's engine again: ${start.stderr}`);
            await waitFor("a write acknowledged after the restart", 240, async () => acked.filter((a) => a.at > killedAt + 3000).length, (n) => n >= 3);
        } finally {
            // The writer stops whatever happened, or it would keep the test process alive.
            writing = false;
            await writer;
        }
        const firstAfter = acked.find((a) => a.at > killedAt)!;
        const lastBefore = [...acked].reverse().find((a) => a.at <= killedAt)!;
        const ids = acked.map((a) => a.id);
        const found = await psql(`SELECT count(*) FROM drill WHERE id IN (${ids.join(",")})`);
        stack.log(
            `[figure] data node's engine killed and restarted: ${acked.length} writes acknowledged, ${failures} failed attempts, ` +
                `no write acknowledged for ${((firstAfter.at - lastBefore.at) / 1000).toFixed(1)} s; ${found.stdout.trim()} of ${ids.length} acknowledged rows found`,
        );
        assert.equal(Number(found.stdout.trim()), ids.length, "an acknowledged write was lost");
    });

    it("i. destroy takes the stack's labels off every node (a down one too) and leaves the nodes in the swarm", async () => {
        const down = await stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(down.code, 0, `destroy failed:\n${down.stdout}\n${down.stderr}`);
        const labels = stackNodeLabels({ project: "opsbook", stack: stack.name });
        const after = await nodeLabels();
        assert.equal(after.length, 3, "a node left the swarm");
        assert.ok(after.every((n) => !(labels.node in n.labels) && !(labels.data in n.labels)), JSON.stringify(after));
        assert.equal(await onManager("service", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`), "");
    });
});
