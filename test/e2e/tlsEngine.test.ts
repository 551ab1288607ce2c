// A stack on a server's engine reached over TCP with TLS, verified both ways (issue 10, part 1):
// the server is a Docker engine (a one-node swarm) in its own network namespace on this machine,
// listening on tcp://10.213.0.22:2376 with --tlsverify, its CA, certificate and one client
// certificate made by test/hosts/server.sh (--tls). The material reaches the stack only as the
// secrets ENGINE_TLS_CA, ENGINE_TLS_CERT and ENGINE_TLS_KEY. Checked:
//  a. without the secrets, and with a CA that did not sign the engine's certificate, `pulumi
//     preview` fails fast naming the key, with nothing created on the server;
//  b. `pulumi up` over tcp:// copies the images, runs the services on the server's swarm, and the
//     api answers at the server's address; `opsbook status` and `npm run backup -- status` reach it;
//  c. the client key is in no plain state field, no output and no command line of the stack;
//  d. a second `pulumi up` changes nothing; destroy removes the services there, keeps the data volume.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineConnection } from "../../providers/engineCli";
import { engineTlsDir } from "../../components/engineTls";
import { ANY_IMAGE_HEALTH_PATH, buildAnyImage, removeImages, serverStackConfig } from "../fixtures/any-image/image";
import { SERVER_SCRIPT, parseAssignments, stopTestServer } from "../hosts/server";
import { ROOT, TestStack, everyServiceOn, httpGet, printed, requireEngines, run, waitFor } from "./harness";

const SERVER = { name: "opsbook-t22", address: "10.213.0.22" };
const HOST = `tcp://${SERVER.address}:2376`;

describe("a stack on a server's engine over TCP with TLS", { timeout: 30 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-tls");
    const imageTag = `opsbook-e2e-tls-api:${stack.name}`;
    let tlsDir = "";
    let engine: EngineConnection;
    let outputs: Record<string, any> = {};

    /** `pulumi config set --secret NAME < file`, as the README says. */
    const setSecretFromFile = async (name: string, file: string) => {
        const res = await stack.pulumi(["config", "set", "--secret", name], fs.readFileSync(file, "utf8"));
        assert.equal(res.code, 0, `pulumi config set --secret ${name}: ${res.stderr}`);
    };

    before(async () => {
        requireEngines();
        await buildAnyImage(imageTag, "v1");
        const up = await run("bash", [SERVER_SCRIPT, "up", SERVER.name, SERVER.address, "--tls"]);
        assert.equal(up.code, 0, `making the test server ${SERVER.name} failed:\n${up.stderr}`);
        tlsDir = parseAssignments(up.stdout).SERVER_TLS_DIR;
        assert.ok(tlsDir && fs.existsSync(path.join(tlsDir, "key.pem")), `the test server printed no TLS directory:\n${up.stdout}`);
        // The tests' own view of the server: the same material, from where server.sh made it.
        engine = { host: HOST, sshOptions: [], tlsDir };
        stack.onEngines(engine);
        await stack.init(serverStackConfig(`    host: ${HOST}\n    publishAddress: ${SERVER.address}`, imageTag));
        await stack.pinImages();
    });

    after(async () => {
        await stack.dispose();
        await stopTestServer(SERVER.name);
        await removeImages([imageTag]);
        fs.rmSync(engineTlsDir(HOST), { recursive: true, force: true });
    });

    it("a. refuses a stack without the TLS secrets, and a CA that did not sign the engine's certificate, before anything changes", async () => {
        const missing = await stack.pulumi(["preview", "--non-interactive"]);
        const missingText = `${missing.stdout}\n${missing.stderr}`;
        assert.notEqual(missing.code, 0);
        for (const key of ["ENGINE_TLS_CA", "ENGINE_TLS_CERT", "ENGINE_TLS_KEY"]) {
            assert.match(missingText, new RegExp(`\`opsbook:${key}\` is required for a tcp:// engine`), key);
        }

        // The client certificate as the CA: it signed nothing, so the engine's certificate does not verify.
        await setSecretFromFile("ENGINE_TLS_CA", path.join(tlsDir, "cert.pem"));
        await setSecretFromFile("ENGINE_TLS_CERT", path.join(tlsDir, "cert.pem"));
        await setSecretFromFile("ENGINE_TLS_KEY", path.join(tlsDir, "key.pem"));
        const started = Date.now();
        const wrongCa = await stack.pulumi(["preview", "--non-interactive"]);
        const wrongCaText = `${wrongCa.stdout}\n${wrongCa.stderr}`;
        stack.log(`a CA that did not sign the engine's certificate: exit ${wrongCa.code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.notEqual(wrongCa.code, 0);
        assert.match(wrongCaText, /`opsbook:engine\.host` \(tcp:\/\/10\.213\.0\.22:2376\) does not answer: the engine's certificate is not signed by the CA in `opsbook:ENGINE_TLS_CA`/);
        assert.match(wrongCaText, /Tried: `docker info` at 10\.213\.0\.22:2376 over TLS/);
        assert.deepEqual(await everyServiceOn(engine), [], "something was created on the server by a refused preview");
        await setSecretFromFile("ENGINE_TLS_CA", path.join(tlsDir, "ca.pem"));
    });

    it("b. deploys over tcp:// with TLS: images copied, services on the server's swarm, the api at the server's address; the CLI and npm run backup reach it", async () => {
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up over tcp:// failed:\n${printed(res)}`);
        outputs = await stack.outputs();
        assert.match(outputs.endpoints.api, new RegExp(`^http://${SERVER.address.replace(/\./g, "\\.")}:\\d+$`));
        const health = await waitFor(`the api at ${outputs.endpoints.api}`, 60, () => httpGet(`${outputs.endpoints.api}${ANY_IMAGE_HEALTH_PATH}`), (r) => r.status === 200);
        assert.equal(health.status, 200);
        assert.deepEqual(await stack.services(), [outputs.postgresService, outputs.services.api, outputs.backups.agentService].sort());
        const local = await run("docker", ["service", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`]);
        assert.equal(local.stdout.trim(), "", "the stack's services run on this machine's engine too");

        const status = await run("node", [path.join(ROOT, "cli", "opsbook.js"), "--stack", stack.name, "status", "--json"], { env: stack.env });
        assert.equal(status.code, 0, `opsbook status over tcp:// failed:\n${printed(status)}`);
        const services = (JSON.parse(status.stdout).services as { name: string; running: number }[]).map((s) => `${s.name}:${s.running}`);
        stack.log(`opsbook status: ${services.join(", ")}`);
        assert.ok(services.includes("api:1"), status.stdout);

        const backup = await run("bash", [path.join(ROOT, "scripts", "backup.sh"), "status", "--stack", stack.name, "--json"], { env: stack.env });
        assert.equal(backup.code, 0, `npm run backup -- status over tcp:// failed:\n${backup.stderr}`);
        assert.equal(JSON.parse(backup.stdout).ok, true, backup.stdout);
    });

    it("c. the client key is in no plain state field and no output; the stack's docker calls carry it in no command line", async () => {
        const key = fs.readFileSync(path.join(tlsDir, "key.pem"), "utf8");
        const body = key.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
        const state = (await stack.pulumi(["stack", "export"])).stdout;
        assert.ok(state.length > 1000, "the state export is empty");
        assert.ok(!state.includes(body.slice(0, 40)) && !state.includes(JSON.stringify(key).slice(1, 60)), "the client key is in the state in plain text");
        const shown = (await stack.pulumi(["stack", "output", "--json", "--show-secrets"])).stdout;
        assert.ok(!shown.includes(body.slice(0, 40)), "the client key is in the stack's outputs");
        // What the docker CLI calls get: a directory, the material in files only the user can read.
        const dir = engineTlsDir(HOST);
        assert.equal(outputs.engine.tlsDir, dir);
        assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
        assert.equal(fs.statSync(path.join(dir, "key.pem")).mode & 0o777, 0o600);
    });

    it("d. a second pulumi up changes nothing; destroy removes the services there and keeps the data volume", async () => {
        const noop = await stack.up(["--expect-no-changes"]);
        assert.equal(noop.code, 0, `the second pulumi up over tcp:// found changes:\n${printed(noop)}`);
        const destroy = await stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(destroy.code, 0, `pulumi destroy over tcp:// failed:\n${printed(destroy)}`);
        assert.deepEqual(await stack.services(), []);
        assert.ok((await stack.volumes()).includes(outputs.postgresVolume), "the Postgres volume is gone from the server after destroy");
    });
});
