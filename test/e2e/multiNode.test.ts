// The copy-trading preset (seed 001) on a swarm of three servers (issue 10, parts 3 and 4): a
// manager reached over SSH and two more servers named in `opsbook:engine.nodes`, each a Docker
// engine and an sshd in its own network namespace at its own address (test/hosts/server.sh), the
// two others in no swarm at first. w52 is the data node (Postgres, Redis, the backup agent); the
// manager and w53 receive traffic (a gateway each, w53's on its own address). One `pulumi up` over
// ssh:// joins the two with the swarm's own worker join token, labels the nodes, gives each node
// the images it can run (copied, no registry), spreads the stateless api and a team's own image
// ("echo", no Node.js inside) one replica per node, keeps the workers single and pins the data
// services to w52. Checked through the servers' addresses only:
//  a. the three nodes are one swarm, labelled for the stack; the join token is in no output or state;
//  b. the api and echo spread one replica per node; the data services on w52; one worker task; a
//     gateway on the manager and on w53 (none on w52), each answering from every echo replica;
//  c. a second `pulumi up` changes nothing; `opsbook exec` reaches a task on another node;
//  d. a release (a new app image and a new echo image) under steady load through w53's gateway:
//     0 failed requests; in the same deploy w52's key file moves (a key rotated), and the data
//     node keeps its labels and its running Postgres and Redis tasks;
//  e. w53 drained under load through its own gateway: 0 failed requests, its tasks move;
//  f. w53 lost under load through the manager's gateway (its engine SIGKILLed with everything it
//     runs, as a power loss): its tasks are rescheduled; failed requests and the time back to full
//     strength reported (figures, not asserted); its engine started again, the node and its
//     gateway come back;
//  g. w53's link cut under load: its tasks are rescheduled, the node is back with its link;
//  h. the data node lost the same way and started again under a steady writer: writes resume, no
//     acknowledged write is lost, the api serves again;
//  i. destroy first refuses to delete the protected trading key (seed 001: never lose it); once it
//     is unprotected, as the README says, destroy leaves no container of the stack on any node,
//     takes the labels off, and keeps the nodes in the swarm and the data volumes on the data node.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { sshOptions } from "../../components/engineHost";
import { stackNodeLabels } from "../../components/naming";
import { EngineConnection, dockerCli, engineApi } from "../../providers/engineCli";
import { ANY_IMAGE_PORT, ANY_IMAGE_HEALTH_PATH, buildAnyImage, removeImages } from "../fixtures/any-image/image";
import { SERVER_SCRIPT, TestServer, startTestServer, stopTestServer } from "../hosts/server";
import { ROOT, TASK_HISTORY_FORMAT, TestStack, containerEventLines, httpGet, pinnedImageTags, printed, requireEngines, run, waitFor } from "./harness";
import { underLoad } from "./loadProbe";

const MANAGER = { name: "opsbook-m51", address: "10.213.0.51" };
/** w52 holds the data; w53 receives traffic. */
const DATA = { node: "w52", name: "opsbook-w52", address: "10.213.0.52" };
const TRAFFIC = { node: "w53", name: "opsbook-w53", address: "10.213.0.53" };
const WORKERS = [DATA, TRAFFIC];

/**
 * A test server lost as a machine is: its dockerd SIGKILLed with everything it runs (containerd,
 * the shims, the containers). Killing dockerd alone is no machine's failure: its containers keep
 * running under their shims, and this test server's engine (which runs its own containerd) then
 * finds them gone at its restart without restarting them (seen: the gateway stayed "Exited (0)").
 */
async function powerOff(server: string): Promise<void> {
    const res = await run("bash", [SERVER_SCRIPT, "power-off", server]);
    assert.equal(res.code, 0, `powering off ${server}: ${res.stderr}`);
}

async function startEngine(server: { name: string; address: string }): Promise<void> {
    const start = await run("bash", [SERVER_SCRIPT, "start-engine", server.name, server.address]);
    assert.equal(start.code, 0, `starting ${server.name}'s engine again: ${start.stderr}`);
}

/** A release of the reference app: a layer on the pinned app image, so the image ID is new and every node needs it. */
async function buildAppRelease(tag: string, release: string): Promise<void> {
    const res = await run("docker", ["build", "--quiet", "-t", tag, "-"], {
        env: { ...process.env, DOCKER_BUILDKIT: "0" },
        input: `FROM ${pinnedImageTags().app}\nLABEL opsbook.test=nodes-release-${release}\n`,
    });
    assert.equal(res.code, 0, `docker build of ${tag} failed:\n${res.stderr}${res.stdout}`);
}

describe("the copy-trading preset on a swarm of three servers", { timeout: 45 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-nodes");
    const echoTag = `opsbook-e2e-nodes-echo:${stack.name}`;
    const appV2Tag = `opsbook-e2e-nodes-app:${stack.name}-v2`;
    const servers: Record<string, TestServer> = {};
    const connections: Record<string, EngineConnection> = {};
    let manager: EngineConnection;
    let outputs: Record<string, any> = {};

    const onEngine = async (engine: EngineConnection, ...args: string[]) => {
        const res = await dockerCli(args, { engine, timeoutMs: 120_000 });
        assert.equal(res.code, 0, `docker ${args.join(" ")} on ${engine.host}: ${res.stderr}`);
        return res.stdout.trim();
    };
    const onManager = (...args: string[]) => onEngine(manager, ...args);
    const lines = (text: string) => text.split("\n").filter(Boolean);
    /** The IDs of a service's tasks that should be running, sorted. */
    const runningTasks = async (service: string) => lines(await onManager("service", "ps", "-q", "--filter", "desired-state=running", service)).sort();
    /** The node ID of every running task of a service. */
    const taskNodes = async (service: string) => Promise.all((await runningTasks(service)).map((id) => onManager("inspect", "--format", "{{.NodeID}}", id)));
    const nodeLabels = async () => {
        const ids = lines(await onManager("node", "ls", "-q"));
        return Promise.all(ids.map(async (id) => ({ id, labels: JSON.parse(await onManager("node", "inspect", "--format", "{{json .Spec.Labels}}", id)) as Record<string, string> })));
    };
    const labels = stackNodeLabels({ project: "opsbook", stack: stack.name });
    const nodeId = async (node: string) => (await nodeLabels()).find((n) => n.labels[labels.node] === node)!.id;
    /** The api and echo: the stateless services spread over the nodes. */
    const spread = () => [outputs.services.api, outputs.services.echo] as string[];
    /** Three running tasks of each spread service, none on `away` when given. */
    const fullStrength = async (away?: string) => {
        const nodes = await Promise.all(spread().map(taskNodes));
        return nodes.every((n) => n.length === 3 && (away === undefined || !n.includes(away)));
    };
    /**
     * A node that is back gets no task by itself (Swarm does not move running tasks): the README's
     * runbook spreads the services again with a forced update, as here, until `node` runs some.
     */
    const spreadOnto = async (node: string) => {
        for (const service of spread()) {
            await onManager("service", "update", "--detach=false", "--force", service);
        }
        await waitFor(`a task of the api or echo on ${node}`, 120, async () => (await Promise.all(spread().map(taskNodes))).flat(), (n) => n.includes(node));
    };
    /**
     * What the engines saw between `sinceSec` and now, for a drill that lost requests: the
     * services' task histories, every node's container events (start, die, kill, health; not the
     * health checks' execs) and the gateway's error lines on the traffic node. Read after the
     * drill, so the reading adds no load during it.
     */
    const whatHappened = async (sinceSec: number, services: string[]) => {
        const until = String(Math.ceil(Date.now() / 1000));
        const parts: string[] = [];
        for (const service of services) {
            const tasks = await onManager("service", "ps", "--no-trunc", "--format", TASK_HISTORY_FORMAT, service);
            parts.push(`--- ${service}: tasks\n${tasks}`);
        }
        for (const [node, engine] of [["manager", manager] as const, ...Object.entries(connections)]) {
            const events = await dockerCli(
                ["events", "--since", String(sinceSec), "--until", until, "--filter", "type=container", "--filter", `label=opsbook.stack=${stack.name}`, "--format", "{{json .}}"],
                { engine, timeoutMs: 60_000 },
            );
            parts.push(`--- ${node}: ${containerEventLines(lines(events.stdout))}${events.code === 0 ? "" : events.stderr}`);
        }
        const gateway = lines(await stackContainers(connections[TRAFFIC.node])).find((n) => n.includes("gateway"));
        if (gateway) {
            const logs = await dockerCli(["logs", "--since", String(sinceSec), gateway], { engine: connections[TRAFFIC.node], timeoutMs: 60_000 });
            parts.push(`--- ${TRAFFIC.node}'s gateway: error lines\n${lines(logs.stdout + logs.stderr).filter((l) => /\[(error|warn|crit)\]/.test(l)).slice(-40).join("\n")}`);
        }
        return parts.join("\n");
    };
    const stackContainers = (engine: EngineConnection) => onEngine(engine, "ps", "-a", "--filter", `label=opsbook.stack=${stack.name}`, "--format", "{{.Names}}");

    before(async () => {
        requireEngines();
        await buildAnyImage(echoTag, "v1");
        servers.manager = await startTestServer(MANAGER.name, MANAGER.address);
        for (const w of WORKERS) {
            servers[w.node] = await startTestServer(w.name, w.address, { noSwarm: true });
        }
        manager = { host: `ssh://root@${MANAGER.address}`, sshOptions: sshOptions(servers.manager.knownHosts, servers.manager.identityFile) };
        for (const w of WORKERS) {
            connections[w.node] = { host: `ssh://root@${w.address}`, sshOptions: sshOptions(servers[w.node].knownHosts, servers[w.node].identityFile) };
        }
        // The stack's listings and its clean-up look at the three servers, not this machine's engine.
        stack.onEngines(manager, ...Object.values(connections));
        const nodeYaml = (w: (typeof WORKERS)[number], extra: string) =>
            `      ${w.node}:\n        host: ssh://root@${w.address}\n        knownHosts: "${servers[w.node].knownHosts}"\n        identityFile: ${servers[w.node].identityFile}\n${extra}`;
        await stack.init(`config:
  opsbook:preset: copy-trading
  opsbook:engine:
    host: ${manager.host}
    knownHosts: "${servers.manager.knownHosts}"
    identityFile: ${servers.manager.identityFile}
    publishAddress: ${MANAGER.address}
    dataNode: ${DATA.node}
    trafficNodes: [manager, ${TRAFFIC.node}]
    # This machine's kernel has no IPsec ESP (CONFIG_INET_ESP and CONFIG_CRYPTO_GCM unset): an
    # encrypted overlay carries nothing between these nodes (dockerd: "Failed Adding SA ...
    # rfc4106(gcm(aes)) ... function not implemented"). Real servers' kernels have it.
    encryptDataNetwork: false
    nodes:
${nodeYaml(DATA, "")}${nodeYaml(TRAFFIC, `        publishAddress: ${TRAFFIC.address}\n`)}
  opsbook:monitoring:
    enabled: false
  opsbook:services:
    api:
      replicas: 3
    echo:
      image: ${echoTag}
      port: ${ANY_IMAGE_PORT}
      healthPath: ${ANY_IMAGE_HEALTH_PATH}
      replicas: 3
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
        await removeImages([echoTag, appV2Tag]);
    });

    it("a. joins the two servers with the swarm's join token and labels every node for the stack", async () => {
        const started = Date.now();
        const res = await stack.up();
        stack.log(`[figure] pulumi up of the copy-trading preset on three nodes over ssh://: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        outputs = await stack.outputs();
        const nodes = await onManager("node", "ls", "--format", "{{.ID}} {{.Status}} {{.ManagerStatus}}");
        stack.log(`nodes:\n${nodes}`);
        assert.equal(lines(nodes).filter((l) => / Ready/.test(l)).length, 3, nodes);

        const labelled = await nodeLabels();
        assert.deepEqual(labelled.map((n) => n.labels[labels.node]).sort(), ["manager", "w52", "w53"]);
        assert.deepEqual(labelled.filter((n) => n.labels[labels.data] === "true").map((n) => n.labels[labels.node]), [DATA.node]);

        const token = (await engineApi(manager, "GET", "/swarm")).json as { JoinTokens: { Worker: string; Manager: string } };
        const state = (await stack.pulumi(["stack", "export", "--show-secrets"])).stdout;
        for (const t of [token.JoinTokens.Worker, token.JoinTokens.Manager]) {
            assert.ok(!state.includes(t) && !res.stdout.includes(t) && !res.stderr.includes(t), "a join token is in the state or the output");
        }
    });

    it("b. spreads the api and echo one replica per node, keeps the workers single, pins the data services to w52, and serves through a gateway on each traffic node", async () => {
        const w52 = await nodeId(DATA.node);
        for (const service of spread()) {
            const nodes = await waitFor(`three running tasks of ${service}`, 120, () => taskNodes(service), (n) => n.length === 3);
            assert.equal(new Set(nodes).size, 3, `${service}'s replicas share nodes: ${nodes.join(", ")}`);
        }
        for (const service of [outputs.postgresService, outputs.redisService, outputs.backups.agentService]) {
            assert.deepEqual(await taskNodes(service), [w52], `${service} is not on the data node`);
        }
        assert.equal((await taskNodes(outputs.services.workers)).length, 1, "the workers are not single");

        const gatewayOn = async (engine: EngineConnection) => lines(await stackContainers(engine)).filter((n) => n.includes("gateway"));
        assert.equal((await gatewayOn(manager)).length, 1, "no gateway on the manager");
        assert.equal((await gatewayOn(connections[TRAFFIC.node])).length, 1, "no gateway on w53, a traffic node");
        assert.deepEqual(await gatewayOn(connections[DATA.node]), [], "a gateway on w52, which is no traffic node");
        assert.deepEqual(Object.keys(outputs.trafficEndpoints).sort(), ["manager", TRAFFIC.node]);
        assert.ok(outputs.trafficEndpoints.w53.echo.startsWith(`http://${TRAFFIC.address}:`), JSON.stringify(outputs.trafficEndpoints));

        for (const [node, urls] of Object.entries(outputs.trafficEndpoints as Record<string, Record<string, string>>)) {
            const hosts = new Set<string>();
            await waitFor(`answers from all three echo replicas through ${node}'s gateway`, 60, async () => {
                for (let i = 0; i < 12; i++) {
                    const r = await httpGet(`${urls.echo}/`);
                    if (r.status === 200 && r.body?.host) {
                        hosts.add(r.body.host);
                    }
                }
                return hosts.size;
            }, (n) => n === 3);
            const health = await waitFor(`the api's health through ${node}'s gateway`, 60, () => httpGet(`${urls.api}/health`), (r) => r.status === 200);
            assert.equal(health.body?.database, "connected", JSON.stringify(health.body));
            stack.log(`${node}'s gateway reached echo replicas ${[...hosts].join(", ")}; the api's health: ${JSON.stringify(health.body)}`);
        }
    });

    it("c. a second pulumi up changes nothing", async () => {
        const again = await stack.pulumi(["preview", "--diff", "--non-interactive", "--expect-no-changes"]);
        assert.equal(again.code, 0, `a second deploy would change something:\n${printed(again)}`);
    });

    it("c2. `opsbook exec` reaches a task that runs on another node than the manager", async () => {
        const w53 = await nodeId(TRAFFIC.node);
        // Out of band, for this check only: every api task on w53, none on the manager.
        const only53 = `node.labels.${labels.node}==${TRAFFIC.node}`;
        await onManager("service", "update", "--detach", "--constraint-add", only53, outputs.services.api);
        try {
            await waitFor("the api's tasks on w53 only", 120, () => taskNodes(outputs.services.api), (n) => n.length === 3 && n.every((id) => id === w53));
            const exec = await run("node", [path.join(ROOT, "cli", "opsbook.js"), "--stack", stack.name, "exec", "api", "--", "cat", "/etc/hostname"], { env: stack.env });
            assert.equal(exec.code, 0, `opsbook exec failed:\n${printed(exec)}`);
            const onW53 = await onEngine(connections[TRAFFIC.node], "ps", "-q", "--filter", `label=com.docker.swarm.service.name=${outputs.services.api}`);
            assert.ok(lines(onW53).some((id) => exec.stdout.trim().startsWith(id.slice(0, 12))), `the hostname ${exec.stdout.trim()} is not a container on w53 (${onW53})`);
        } finally {
            // --force: Swarm does not move running tasks back by itself.
            await onManager("service", "update", "--detach", "--force", "--constraint-rm", only53, outputs.services.api);
            await waitFor("the api spread again", 120, () => taskNodes(outputs.services.api), (n) => n.length === 3 && new Set(n).size >= 2);
        }
    });

    it("d. releases a new app image and a new echo image on three nodes under steady load through w53's gateway: 0 failed requests", async () => {
        await buildAppRelease(appV2Tag, "2");
        await buildAnyImage(echoTag, "v2");
        for (const [key, value] of [["opsbook:images.app", appV2Tag], ["opsbook:release", "2"]]) {
            const set = await stack.pulumi(["config", "set", "--path", key, value]);
            assert.equal(set.code, 0, set.stderr);
        }
        // In the same deploy w52's key file moves (as when a key is rotated): only the way to reach
        // the data node changes, so its labels, and the data services they place on it, must stay.
        const movedKey = `${servers[DATA.node].identityFile}-moved`;
        fs.copyFileSync(servers[DATA.node].identityFile, movedKey);
        fs.chmodSync(movedKey, 0o600);
        const keySet = await stack.pulumi(["config", "set", "--path", `opsbook:engine.nodes.${DATA.node}.identityFile`, movedKey]);
        assert.equal(keySet.code, 0, keySet.stderr);
        const dataServices = [outputs.postgresService, outputs.redisService] as string[];
        const dataTasksBefore = await Promise.all(dataServices.map(runningTasks));
        const urls = outputs.trafficEndpoints[TRAFFIC.node];
        const started = Date.now();
        const { result: api, load: echoLoad } = await underLoad(`${urls.echo}/`, () => underLoad(`${urls.api}/`, () => stack.up()));
        const { result: res, load: apiLoad } = api;
        stack.log(
            `[figure] release on three nodes through w53's gateway: ${((Date.now() - started) / 1000).toFixed(1)} s; api ${apiLoad.requests} requests, ${apiLoad.failed} failed, ` +
                `longest outage ${apiLoad.longestOutageMs} ms; echo ${echoLoad.requests} requests, ${echoLoad.failed} failed`,
        );
        if (apiLoad.failed + echoLoad.failed > 0) {
            stack.log(`what the engines saw during the release:\n${await whatHappened(Math.floor(started / 1000), [...spread(), ...dataServices])}`);
        }
        assert.equal(res.code, 0, `the release failed:\n${printed(res)}`);
        assert.equal(apiLoad.failed, 0, `failed api requests during the release: ${JSON.stringify(apiLoad.failures)}`);
        assert.equal(echoLoad.failed, 0, `failed echo requests during the release: ${JSON.stringify(echoLoad.failures)}`);
        assert.equal(apiLoad.lastRelease, "2");
        assert.equal(echoLoad.lastRelease, "v2");
        const dataLabelled = (await nodeLabels()).filter((n) => n.labels[labels.data] === "true").map((n) => n.labels[labels.node]);
        assert.deepEqual(dataLabelled, [DATA.node], "the data node lost its label when only its key file moved");
        assert.deepEqual(await Promise.all(dataServices.map(runningTasks)), dataTasksBefore, "Postgres or Redis was stopped or restarted when only w52's key file moved");
        for (const service of spread()) {
            const nodes = await waitFor(`three running tasks of ${service}`, 60, () => taskNodes(service), (n) => n.length === 3);
            // Swarm's spread is a preference: a start-first update places each new task beside the old
            // ones still running, so after a release two replicas may share a node (seen). Never all three.
            stack.log(`after the release ${service}'s replicas run on ${new Set(nodes).size} nodes`);
            assert.ok(new Set(nodes).size >= 2, `the release put every replica of ${service} on one node: ${nodes.join(", ")}`);
        }
    });

    it("e. drains w53 under steady load through its own gateway: 0 failed requests, its tasks move (the node is made active again after)", async () => {
        const w53 = await nodeId(TRAFFIC.node);
        await spreadOnto(w53);
        const urls = outputs.trafficEndpoints[TRAFFIC.node];
        const started = Date.now();
        const { load } = await underLoad(`${urls.api}/`, async () => {
            await onManager("node", "update", "--availability", "drain", w53);
            return waitFor("the api and echo off the drained node", 120, () => fullStrength(w53), (ok) => ok);
        });
        stack.log(`[figure] drain of w53 under load through its gateway: tasks moved in ${((Date.now() - started) / 1000).toFixed(1)} s; ${load.requests} requests, ${load.failed} failed, longest outage ${load.longestOutageMs} ms`);
        assert.equal(load.failed, 0, `failed requests during the drain: ${JSON.stringify(load.failures)}`);
        await onManager("node", "update", "--availability", "active", w53);
    });

    it("f. w53 lost (engine and everything it runs SIGKILLed) under steady load: its tasks are rescheduled; failed requests and time back to full strength reported; the node and its gateway come back", async () => {
        const w53 = await nodeId(TRAFFIC.node);
        await spreadOnto(w53);
        const killedAt = Date.now();
        let backAfterS = 0;
        const { load } = await underLoad(`${outputs.endpoints.api}/`, async () => {
            await powerOff(TRAFFIC.name);
            await waitFor("three running tasks of the api and echo without w53", 180, () => fullStrength(w53), (ok) => ok);
            backAfterS = (Date.now() - killedAt) / 1000;
        });
        stack.log(
            `[figure] w53 lost under load (through the manager's gateway): back to full strength in ${backAfterS.toFixed(1)} s; ${load.requests} requests, ${load.failed} failed ` +
                `(${JSON.stringify(load.failures)}), longest outage ${load.longestOutageMs} ms`,
        );
        assert.ok(load.requests > 0);
        assert.equal(await onManager("node", "inspect", "--format", "{{.Status.State}}", w53), "down", "the swarm does not see the killed node as down");

        const restartedAt = Date.now();
        await startEngine(TRAFFIC);
        await waitFor("w53 ready again", 120, () => onManager("node", "inspect", "--format", "{{.Status.State}}", w53), (state) => state === "ready");
        const gateway = await waitFor("w53's gateway serving again", 120, () => httpGet(`${outputs.trafficEndpoints[TRAFFIC.node].api}/health`), (r) => r.status === 200);
        stack.log(`[figure] w53 ready and its gateway serving (${gateway.status}) ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after its engine was started again`);
    });

    it("g. w53's link cut under steady load: its tasks are rescheduled; back when the link is; failed requests and times reported", async () => {
        const w53 = await nodeId(TRAFFIC.node);
        await spreadOnto(w53);
        const veth = `th-${TRAFFIC.name}`;
        const cutAt = Date.now();
        let backAfterS = 0;
        const { load } = await underLoad(`${outputs.endpoints.api}/`, async () => {
            assert.equal((await run("ip", ["link", "set", veth, "down"])).code, 0);
            await waitFor("three running tasks of the api and echo without w53", 180, () => fullStrength(w53), (ok) => ok);
            backAfterS = (Date.now() - cutAt) / 1000;
        });
        assert.equal((await run("ip", ["link", "set", veth, "up"])).code, 0);
        stack.log(
            `[figure] w53's link cut under load: back to full strength in ${backAfterS.toFixed(1)} s; ${load.requests} requests, ${load.failed} failed ` +
                `(${JSON.stringify(load.failures)}), longest outage ${load.longestOutageMs} ms`,
        );
        const rejoinedAt = Date.now();
        await waitFor("w53 ready again", 120, () => onManager("node", "inspect", "--format", "{{.Status.State}}", w53), (state) => state === "ready");
        stack.log(`[figure] w53 ready again ${((Date.now() - rejoinedAt) / 1000).toFixed(1)} s after its link came back`);
    });

    it("h. the data node lost (engine and everything it runs SIGKILLed) and started again under a steady writer: writes resume, no acknowledged write lost, the api serves again", async () => {
        const onData = connections[DATA.node];
        const postgresContainer = async () => lines(await onEngine(onData, "ps", "-q", "--filter", `label=com.docker.swarm.service.name=${outputs.postgresService}`))[0];
        const psql = async (sql: string) =>
            dockerCli(["exec", "-u", "postgres", await postgresContainer(), "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "opsbook_admin", "-d", "app", "-c", sql], { engine: onData, timeoutMs: 20_000 });
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
            await powerOff(DATA.name);
            await new Promise((r) => setTimeout(r, 3000));
            await startEngine(DATA);
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
            `[figure] data node lost and restarted: ${acked.length} writes acknowledged, ${failures} failed attempts, ` +
                `no write acknowledged for ${((firstAfter.at - lastBefore.at) / 1000).toFixed(1)} s; ${found.stdout.trim()} of ${ids.length} acknowledged rows found`,
        );
        assert.equal(Number(found.stdout.trim()), ids.length, "an acknowledged write was lost");
        const health = await waitFor("the api healthy again through the manager's gateway", 180, () => httpGet(`${outputs.endpoints.api}/health`), (r) => r.status === 200 && r.body?.database === "connected");
        stack.log(`[figure] the api healthy again ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the data node was lost: ${JSON.stringify(health.body)}`);
    });

    it("i. destroy refuses the protected trading key; once unprotected, it leaves no container of the stack on any node, takes the labels off, keeps the nodes in the swarm and the data volumes", async () => {
        const refused = await stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.notEqual(refused.code, 0, "destroy deleted the protected TRADING_KEY_ENCRYPTION_KEY");
        assert.match(`${refused.stdout}\n${refused.stderr}`, /secrets-trading-key-encryption-key.*cannot be deleted/);
        const unprotect = await stack.pulumi(["state", "unprotect", "--all", "--yes"]);
        assert.equal(unprotect.code, 0, unprotect.stderr);
        const down = await stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(down.code, 0, `destroy failed:\n${printed(down)}`);
        const after = await nodeLabels();
        assert.equal(after.length, 3, "a node left the swarm");
        assert.ok(after.every((n) => !(labels.node in n.labels) && !(labels.data in n.labels)), JSON.stringify(after));
        assert.equal(await onManager("service", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`), "");
        for (const engine of [manager, ...Object.values(connections)]) {
            assert.equal(await stackContainers(engine), "", `containers of the stack left on ${engine.host}`);
        }
        const kept = lines(await onEngine(connections[DATA.node], "volume", "ls", "-q"));
        stack.log(`volumes kept on the data node: ${kept.join(", ")}`);
        assert.ok(kept.includes(outputs.postgresVolume), `the Postgres volume ${outputs.postgresVolume} is not kept on the data node`);
    });
});
