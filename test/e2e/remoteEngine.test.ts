// A stack on a server's engine, reached over SSH: the server is a Docker engine (a one-node swarm)
// and an sshd in their own network namespace on this machine, at their own address, made and
// removed by test/hosts/server.sh. Everything the test checks on the server goes through that
// address over SSH, as the stack's own calls do. Checked:
//  a. a host that does not answer, and a host key that is not the server's, fail `pulumi preview`
//     fast, naming `opsbook:engine.host` / what was tried, with nothing created on the server;
//  b. `pulumi up` over ssh:// copies the images (no registry), runs the services on the server's
//     swarm (not on this machine's engine), and the api answers at the server's address;
//  c. secrets reach the server's containers only as files;
//  d. `npm run backup` works on the server's stack (status, a backup verified by a restore, list);
//  e. a second `pulumi up` changes nothing; `pulumi destroy` removes the services there and keeps
//     the data volume.
// The stack: Postgres (with its one-shot grants job), the backup agent (its first verified backup
// is part of the deploy) and one api from an image built here with neither Node.js nor curl in it.
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { sshOptions } from "../../components/engineHost";
import { EngineConnection, dockerCli } from "../../providers/engineCli";
import { ANY_IMAGE_HEALTH_PATH, buildAnyImage, removeImages, serverStackConfig } from "../fixtures/any-image/image";
import { TestServer, startTestServer, stopTestServer } from "../hosts/server";
import { ROOT, TestStack, everyServiceOn, httpGet, printed, requireEngines, run, stackSecretValues, waitFor } from "./harness";

const SERVER = { name: "opsbook-r1", address: "10.213.0.21" };
describe("a stack on a server's engine over SSH", { timeout: 30 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-remote");
    const imageTag = `opsbook-e2e-remote-api:${stack.name}`;
    let server: TestServer;
    let engine: EngineConnection;
    let outputs: Record<string, any> = {};

    /** docker on the server, over SSH with the stack's own options. */
    const onServer = (...args: string[]) => dockerCli(args, { engine, timeoutMs: 120_000 });

    // Monitoring is off: this file counts the services and image deliveries on the server.
    const config = (engineYaml: string) => serverStackConfig(engineYaml, imageTag);
    const engineYaml = (host: string, knownHosts: string) =>
        `    host: ${host}\n    knownHosts: "${knownHosts}"\n    identityFile: ${server.identityFile}\n    publishAddress: ${SERVER.address}`;

    before(async () => {
        requireEngines();
        await buildAnyImage(imageTag, "v1");
        server = await startTestServer(SERVER.name, SERVER.address);
        engine = { host: `ssh://root@${SERVER.address}`, sshOptions: sshOptions(server.knownHosts, server.identityFile) };
        // The stack's listings and its clean-up look at the server's engine, not this machine's.
        stack.onEngines(engine);
        await stack.init(config(engineYaml(engine.host, server.knownHosts)));
    });

    after(async () => {
        await stack.dispose();
        await stopTestServer(SERVER.name);
        await removeImages([imageTag]);
    });

    it("a. refuses a host that does not answer and a host key that is not the server's, before anything changes", async () => {
        // A free address on the bridge: nothing answers there (its known_hosts line must name it,
        // or the spec refuses the config before any connection is tried).
        await stack.pulumi(["config", "set", "--path", "opsbook:engine.host", "ssh://root@10.213.0.99"]);
        await stack.pulumi(["config", "set", "--path", "opsbook:engine.knownHosts", server.knownHosts.replace(SERVER.address, "10.213.0.99")]);
        const started = Date.now();
        const unreachable = await stack.pulumi(["preview", "--non-interactive"]);
        const unreachableS = (Date.now() - started) / 1000;
        const unreachableText = `${unreachable.stdout}\n${unreachable.stderr}`;
        stack.log(`unreachable host: exit ${unreachable.code} after ${unreachableS.toFixed(1)} s`);
        assert.notEqual(unreachable.code, 0);
        assert.match(unreachableText, /`opsbook:engine\.host` \(ssh:\/\/root@10\.213\.0\.99\) does not answer/);
        assert.match(unreachableText, /Tried: ssh to root@10\.213\.0\.99:22/);
        // ssh gives up after its 10 s connect timeout; the rest is the preview starting.
        assert.ok(unreachableS < 120, `the unreachable host took ${unreachableS} s to be reported`);

        await stack.pulumi(["config", "set", "--path", "opsbook:engine.host", engine.host]);
        // Another server's key (a well-formed line for this address that is not its key).
        const wrongKey = server.knownHosts.replace(/[A-Za-z0-9+/]{8}$/, "AAAAAAAA");
        await stack.pulumi(["config", "set", "--path", "opsbook:engine.knownHosts", wrongKey]);
        const spoofed = await stack.pulumi(["preview", "--non-interactive"]);
        const spoofedText = `${spoofed.stdout}\n${spoofed.stderr}`;
        assert.notEqual(spoofed.code, 0);
        assert.match(spoofedText, /host key is not the one in `opsbook:engine\.knownHosts`/);

        await stack.pulumi(["config", "rm", "--path", "opsbook:engine.knownHosts"]);
        const missing = await stack.pulumi(["preview", "--non-interactive"]);
        assert.notEqual(missing.code, 0);
        assert.match(`${missing.stdout}\n${missing.stderr}`, /`opsbook:engine\.knownHosts` is required for an ssh:\/\/ engine/);

        await stack.pulumi(["config", "set", "--path", "opsbook:engine.knownHosts", server.knownHosts]);
        assert.deepEqual(await everyServiceOn(engine), [], "something was created on the server by a refused preview");
    });

    it("b. deploys over ssh://: images copied, services on the server's swarm, the api at the server's address", async () => {
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up over ssh failed:\n${printed(res)}`);
        outputs = await stack.outputs();
        assert.match(outputs.endpoints.api, new RegExp(`^http://${SERVER.address.replace(/\./g, "\\.")}:\\d+$`));
        const health = await waitFor(`the api at ${outputs.endpoints.api}`, 60, () => httpGet(`${outputs.endpoints.api}${ANY_IMAGE_HEALTH_PATH}`), (r) => r.status === 200);
        assert.equal(health.status, 200);
        const root = await httpGet(`${outputs.endpoints.api}/`);
        assert.equal(root.body.release, "v1");

        const onServerServices = await stack.services();
        assert.deepEqual(onServerServices, [outputs.postgresService, outputs.services.api, outputs.backups.agentService].sort());
        const local = await run("docker", ["service", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`]);
        assert.equal(local.stdout.trim(), "", "the stack's services run on this machine's engine too");

        const state = JSON.parse((await stack.pulumi(["stack", "export"])).stdout);
        const deliveries = state.deployment.resources.filter((r: any) => r.type === "pulumi-nodejs:dynamic/opsbook:ImageDelivery");
        stack.log(`image deliveries: ${deliveries.map((d: any) => `${d.outputs.reference} ${d.outputs.delivery}`).join(", ")}`);
        assert.equal(deliveries.length, 4, "one delivery per image (api, postgres, gateway, backup agent)");
        for (const d of deliveries) {
            const has = await onServer("image", "inspect", "--format", "{{.Id}}", d.outputs.imageId);
            assert.equal(has.stdout.trim(), d.outputs.imageId, `the server lacks ${d.outputs.reference}`);
        }
    });

    it("c. secrets reach the server's containers only as files", async () => {
        const { all } = await stackSecretValues(stack);
        assert.ok(all.length >= 2, `only ${all.length} secret values in the state`);
        const ps = await onServer("ps", "-aq", "--filter", `label=opsbook.stack=${stack.name}`);
        const ids = ps.stdout.split("\n").filter(Boolean);
        assert.ok(ids.length >= 3, `too few containers on the server: ${ids.length}`);
        for (const id of ids) {
            const c = JSON.parse((await onServer("inspect", id)).stdout)[0];
            const text = JSON.stringify({ env: c.Config.Env, cmd: c.Config.Cmd, entrypoint: c.Config.Entrypoint, args: c.Args, labels: c.Config.Labels });
            assert.ok(!all.some((v) => text.includes(v) || text.includes(encodeURIComponent(v))), `container ${c.Name} on the server shows a secret value`);
        }
        const secrets = await stack.secrets();
        assert.ok(secrets.length >= 2, `the server has ${secrets.length} swarm secrets of the stack`);
    });

    it("d. npm run backup reaches the agent on the server: status, a backup verified by a restore, the list", async () => {
        // As a person runs `npm run backup`, with this stack's state and passphrase.
        const backup = (...args: string[]) => run("bash", [path.join(ROOT, "scripts", "backup.sh"), ...args, "--stack", stack.name, "--json"], { env: stack.env });
        const status = await backup("status");
        assert.equal(status.code, 0, `npm run backup -- status failed:\n${status.stderr}`);
        assert.equal(JSON.parse(status.stdout).ok, true, status.stdout);
        const now = await backup("now");
        assert.equal(now.code, 0, `npm run backup -- now failed:\n${now.stderr}`);
        const list = await backup("list");
        assert.equal(list.code, 0, list.stderr);
        const verified = (JSON.parse(list.stdout).backups as { status: string }[]).filter((b) => b.status === "verified");
        stack.log(`backups on the server: ${verified.length} verified`);
        assert.ok(verified.length >= 2, `expected the deploy's and this backup, verified: ${list.stdout}`);
    });

    it("e. a second pulumi up changes nothing; destroy removes the services there and keeps the data volume", async () => {
        const noop = await stack.up(["--expect-no-changes"]);
        assert.equal(noop.code, 0, `the second pulumi up over ssh found changes:\n${printed(noop)}`);
        const destroy = await stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(destroy.code, 0, `pulumi destroy over ssh failed:\n${printed(destroy)}`);
        assert.deepEqual(await stack.services(), []);
        assert.ok((await stack.volumes()).includes(outputs.postgresVolume), "the Postgres volume is gone from the server after destroy");
    });
});
