// Off-site copies with the real engine and a real SSH host: an sshd-only host in its own network
// namespace (test/hosts/server.sh --sshd-only) is the other machine. A preview refuses an off-site
// target whose host key is not the configured one, that refuses the key, or that does not answer,
// naming the key. A stack's backups land there encrypted (no plaintext of the manifest or the rows
// in any file the host stores). Then the drill of issue 13: the stack's backup volume and database
// volume are destroyed with the stack, a fresh stack with only the same off-site config and
// secrets restores the rows from the off-site copy alone. Last, an off-site host that goes away
// turns the agent's health red, naming the key. Transfer time and size are printed, not asserted.
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { TestStack, backupCli, docker, httpGet, httpPost, postgresApiConfig, printed, requireEngines, run, taskContainer, waitFor } from "./harness";
import { TestServer, startOffsiteHost, stopTestServer } from "../hosts/server";

// An address of its own on the test bridge (.21 and .31 belong to other tests).
const HOST_NAME = "opsbook-os1";
const HOST_ADDRESS = "10.213.0.41";
// Nothing listens here: the unreachable case.
const NOBODY = "10.213.0.42";

/** The smallest stack with a database (postgresApiConfig), its backups copied off-site by this tree's agent image. */
function stackConfig(target: string, knownHosts: string): string {
    const image = process.env.OPSBOOK_IMAGE_BACKUP;
    assert.ok(image, "OPSBOOK_IMAGE_BACKUP is not set; run 'eval \"$(npm run -s toolchain)\"' first (npm test does this)");
    return postgresApiConfig({
        extra: `  opsbook:images:\n    backup: ${image}\n`,
        backups: `    offsite:\n      target: ${target}\n      knownHosts: "${knownHosts}"\n`,
    });
}


/** Sets the off-site secrets as an operator does: the key file and the key on stdin, never on a command line. */
async function setOffsiteSecrets(stack: TestStack, keyFile: string, encryptionKey: string): Promise<void> {
    const key = await stack.pulumi(["config", "set", "--secret", "OFFSITE_SSH_KEY"], fs.readFileSync(keyFile, "utf8"));
    assert.equal(key.code, 0, key.stderr);
    const enc = await stack.pulumi(["config", "set", "--secret", "OFFSITE_ENCRYPTION_KEY"], encryptionKey);
    assert.equal(enc.code, 0, enc.stderr);
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? filesUnder(path.join(dir, d.name)) : [path.join(dir, d.name)]));
}

describe("off-site copies over SFTP, encrypted, and a fresh stack restored from them alone", { timeout: 15 * 60 * 1000 }, () => {
    let host: TestServer;
    let target = "";
    const encryptionKey = crypto.randomBytes(36).toString("base64");
    const first = new TestStack("e2e-offsite");
    const fresh = new TestStack("e2e-offsite2");
    // Unique words in the rows: if the off-site host could read them, a grep would find them.
    const marker = `offsite-${crypto.randomBytes(6).toString("hex")}`;
    const rows = ["alpha", "beta", "gamma", "delta", "epsilon"].map((n) => `${marker}-${n}`);
    let backedUp = "";
    const figures: string[] = [];

    before(async () => {
        requireEngines();
        ({ host, target } = await startOffsiteHost(HOST_NAME, HOST_ADDRESS));
    });
    after(async () => {
        await first.dispose();
        await fresh.dispose();
        await stopTestServer(HOST_NAME);
        for (const f of figures) {
            process.stderr.write(`[e2e offsite] figure: ${f}\n`);
        }
    });

    it("refuses, before anything changes, a host key that is not the configured one, a refused key and a host that does not answer, naming the key", async () => {
        const otherKeyDir = fs.mkdtempSync(path.join(host.dataDir!, "..", "other-"));
        const otherKey = path.join(otherKeyDir, "key");
        const keygen = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey]);
        assert.equal(keygen.code, 0, keygen.stderr);
        const strangerLine = `${HOST_ADDRESS} ${fs.readFileSync(`${otherKey}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ")}`;

        // Through `pulumi preview`, as an operator meets it: the program stops before any resource.
        await first.init(stackConfig(target, strangerLine));
        await setOffsiteSecrets(first, host.identityFile, encryptionKey);
        const preview = await first.pulumi(["preview", "--non-interactive"]);
        const out = preview.stdout + preview.stderr;
        assert.notEqual(preview.code, 0, `preview passed with another host key:\n${out}`);
        assert.match(out, /`opsbook:backups\.offsite\.target` \(sftp:\/\/root@10\.213\.0\.41\/.*\) cannot be used/);
        assert.match(out, /presented a host key that is not the one in `opsbook:backups\.offsite\.knownHosts`; nothing was sent/);
        assert.match(out, /Tried: an SFTP session to root@10\.213\.0\.41:22 from this machine with the key `OFFSITE_SSH_KEY`/);
        assert.doesNotMatch(out, /BEGIN OPENSSH PRIVATE KEY|b3BlbnNzaC1rZXktdjE/, "the key is in the output");
        assert.ok(!out.includes(encryptionKey), "the encryption key is in the output");
        assert.deepEqual(await first.services(), [], "a refused preview created something");

        // The same check the program runs, for the other two ways (a preview each costs a program run).
        const { checkOffsiteTarget } = await import("../../components/offsitePreflight");
        const { parseOffsiteTarget } = await import("../../components/offsitePlan");
        const pulumi = await import("@pulumi/pulumi");
        const check = async (value: string, line: string, keyFile: string) => {
            const t = parseOffsiteTarget(value);
            assert.ok(!("error" in t));
            const started = Date.now();
            const err = await checkOffsiteTarget(t, line, pulumi.output(fs.readFileSync(keyFile, "utf8"))).then(
                () => undefined,
                (e: Error) => e,
            );
            first.log(`preflight ${value}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
            assert.ok(err, `${value}: the check passed`);
            return err.message;
        };
        const refused = await check(target, host.knownHosts, otherKey);
        assert.match(refused, /refused the key `OFFSITE_SSH_KEY`/);
        const nobody = await check(`sftp://root@${NOBODY}/srv/opsbook`, host.knownHosts.replace(HOST_ADDRESS, NOBODY), host.identityFile);
        assert.match(nobody, /no SSH server answered at root@10\.213\.0\.42:22 \(`opsbook:backups\.offsite\.target`\)/);
        const good = parseOffsiteTarget(target);
        assert.ok(!("error" in good));
        await checkOffsiteTarget(good, host.knownHosts, pulumi.output(fs.readFileSync(host.identityFile, "utf8")));
        assert.deepEqual(fs.readdirSync(host.dataDir!), [], "a refused check wrote to the off-site host");
        fs.rmSync(otherKeyDir, { recursive: true, force: true });
        // The good config for the rest of the test (the secrets live in the same file: set them again).
        fs.writeFileSync(first.configFile, stackConfig(target, host.knownHosts));
        await setOffsiteSecrets(first, host.identityFile, encryptionKey);
    });

    it("deploys with the off-site copy healthy: the first backup is copied, pruned and checked before `pulumi up` returns", async () => {
        const res = await first.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await first.outputs();
        assert.equal(outputs.backups.offsite.target, target);
        const status = JSON.parse((await backupCli(first, ["status"])).stdout);
        assert.equal(status.ok, true, JSON.stringify(status));
        assert.equal(status.offsite.ok, true, JSON.stringify(status.offsite));
        assert.match(status.offsite.lastSnapshot, /^[0-9a-f]{8}$/);
        // Secrets reach the agent as files only.
        const agent = await taskContainer(outputs.backups.agentService);
        const env = JSON.stringify((await docker("inspect", "-f", "{{json .Config.Env}}", agent)).stdout);
        assert.match(env, /BACKUP_OFFSITE_SSH_KEY_FILE=\/run\/secrets\/BACKUP_OFFSITE_SSH_KEY/);
        assert.ok(!env.includes(encryptionKey) && !env.includes("PRIVATE KEY"), "an off-site secret is in the agent's env");
        const ps = await docker("exec", agent, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
        assert.ok(!ps.stdout.includes(encryptionKey), "the encryption key is on a command line");
    });

    it("copies every backup off-site after it is verified; the host stores only ciphertext", async () => {
        const api = (await first.outputs()).endpoints.api;
        for (const name of rows) {
            const res = await httpPost(`${api}/items`, { name });
            assert.equal(res.status, 201, JSON.stringify(res.body));
        }
        const res = await backupCli(first, ["now"]);
        assert.equal(res.code, 0, `${printed(res)}`);
        assert.match(res.stdout, /^verified {2}postgres-app-\d{8}T\d{6}Z\.dump .* public\.items 5 rows$/m);
        assert.match(res.stdout, new RegExp(`^off-site  ${target.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} snapshot [0-9a-f]{8}: .* \\(checked\\)$`, "m"));
        backedUp = /postgres-app-\d{8}T\d{6}Z\.dump/.exec(res.stdout)![0];
        const status = JSON.parse((await backupCli(first, ["status"])).stdout);
        assert.equal(status.offsite.ok, true, JSON.stringify(status.offsite));
        figures.push(
            `off-site copy of the test database's backup directory: ${status.offsite.bytesProcessed} bytes in the directory, ${status.offsite.bytesAdded} bytes new in the repository, ` +
                `${(status.offsite.durationMs / 1000).toFixed(1)} s for backup + forget --prune + check (npm run backup -- now; \`status\`.offsite)`,
        );

        const repo = path.join(host.dataDir!, "opsbook");
        const files = filesUnder(repo);
        for (const part of ["config", "keys", "snapshots", "index", "data"]) {
            assert.ok(fs.existsSync(path.join(repo, part)), `no ${part} in the off-site repository`);
        }
        assert.ok(files.length >= 5, `only ${files.length} files off-site`);
        // The manifest names every backup in plain text and the rows hold the marker: neither may be readable there.
        for (const f of files) {
            const bytes = fs.readFileSync(f);
            for (const needle of [marker, backedUp, "postgres-app", "\"sha256\"", "PGDMP"]) {
                assert.ok(!bytes.includes(needle), `${path.relative(repo, f)} holds plaintext (${needle})`);
            }
        }
        const listed = JSON.parse((await backupCli(first, ["list", "--offsite", "--json"])).stdout);
        assert.ok(listed.backups.some((b: { name: string }) => b.name === backedUp), JSON.stringify(listed));
    });

    it("restores a fresh stack from the off-site copy alone, after its backup and database volumes are gone", async () => {
        const volumes = await first.volumes();
        assert.ok(volumes.includes(`opsbook-${first.name}-backups`) && volumes.some((v) => v.includes("postgres")), JSON.stringify(volumes));
        // The host is lost: the stack, its state, its backup volume and its database volume.
        await first.dispose();
        assert.deepEqual(await first.volumes(), []);
        assert.equal((await docker("volume", "inspect", `opsbook-${first.name}-backups`)).code, 1);

        // A fresh stack knows only the off-site config and the two secrets the operator kept.
        await fresh.init(stackConfig(target, host.knownHosts));
        await setOffsiteSecrets(fresh, host.identityFile, encryptionKey);
        const up = await fresh.up();
        assert.equal(up.code, 0, `pulumi up of the fresh stack failed:\n${printed(up)}`);
        const api = (await fresh.outputs()).endpoints.api;
        assert.deepEqual((await httpGet(`${api}/items`)).body.items, [], "the fresh stack is not empty");

        const started = Date.now();
        const res = await backupCli(fresh, ["restore", "--from-offsite"], `${fresh.name}\n`);
        const seconds = (Date.now() - started) / 1000;
        assert.equal(res.code, 0, `${printed(res)}`);
        assert.match(res.stderr, new RegExp(`fetched from the off-site copy: .*${backedUp}`));
        assert.match(res.stdout, new RegExp(`^Restored ${backedUp} into database app of stack ${fresh.name}\\.$`, "m"));
        const restored = await waitFor("the api reads the restored rows", 30, async () => (await httpGet(`${api}/items`)).body.items as { name: string }[], (r) => r.length === 5);
        assert.deepEqual(restored.map((r) => r.name), rows);
        const fetchedLine = /fetched from the off-site copy: .*\((\d+) bytes in ([\d.]+) s\)/.exec(res.stderr);
        figures.push(`restore --from-offsite into a fresh stack: ${seconds.toFixed(1)} s in all (fetch ${fetchedLine?.[2] ?? "?"} s for ${fetchedLine?.[1] ?? "?"} bytes, then safety backup and pg_restore)`);
    });

    it("turns the agent unhealthy, naming the key, when the off-site host stops answering", async () => {
        await stopTestServer(HOST_NAME);
        const res = await backupCli(fresh, ["now"]);
        assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
        assert.match(res.stdout, /^off-site  FAILED: .*no SSH server answered at root@10\.213\.0\.41:22 \(`opsbook:backups\.offsite\.target`\)/m);
        const agent = await taskContainer((await fresh.outputs()).backups.agentService);
        const health = await docker("exec", agent, "backup-agent", "health");
        assert.equal(health.code, 1, health.stdout);
        const line = JSON.parse(health.stdout);
        assert.equal(line.offsite.ok, false);
        assert.match(line.offsite.problem, /the last off-site copy failed: .*`opsbook:backups\.offsite\.target`/);
    });
});
