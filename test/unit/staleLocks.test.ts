// scripts/lib/stale-locks.js, which deploy.sh runs before `pulumi up`: a lock left by a killed
// `pulumi up` is cleared, one whose process runs (or that another host took) is kept and named.
// The locks are fabricated in a temporary file backend, in the layout and format pulumi 3.259
// writes (`.pulumi/locks/organization/<project>/<stack>/<uuid>.json` + `.attrs`).
import { strict as assert } from "node:assert";
import { ChildProcess, execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const locks = require("../../scripts/lib/stale-locks.js") as {
    backendDir(url: string, home?: string, cwd?: string): string | undefined;
    projectSettings(text: string): { name?: string; url?: string };
    clearStaleLocks(args: { dir: string; project: string; stack: string; hostname?: string; say?: (line: string) => void }): {
        cleared: { file: string; pid: number }[];
        held: { file: string; pid?: number }[];
    };
};

const root = path.resolve(__dirname, "..", "..");
const script = path.join(root, "scripts", "lib", "stale-locks.js");

/** A pid that no process has: a child that has already exited. */
async function deadPid(): Promise<number> {
    const child = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => child.on("exit", resolve));
    return child.pid!;
}

function writeLock(backend: string, stack: string, id: string, content: Record<string, unknown>): string {
    const dir = path.join(backend, ".pulumi", "locks", "organization", "opsbook", stack);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${id}.json`);
    fs.writeFileSync(file, JSON.stringify(content));
    fs.writeFileSync(`${file}.attrs`, '{"user.content_type":"text/plain; charset=utf-8"}');
    return file;
}

function runScript(stack: string, backend: string): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) =>
        execFile(process.execPath, [script, stack], { env: { ...process.env, PULUMI_BACKEND_URL: `file://${backend}` } }, (err, _stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code) : 0, stderr }),
        ),
    );
}

describe("stale pulumi locks (scripts/lib/stale-locks.js)", () => {
    let backend: string;
    let sleeper: ChildProcess;
    const host = os.hostname();
    const since = new Date(Date.now() - 60_000).toISOString();

    before(() => {
        backend = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-locks-"));
        // A stand-in for a `pulumi up` that is still running; it started before its lock was taken.
        sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    });

    after(() => {
        sleeper.kill();
        fs.rmSync(backend, { recursive: true, force: true });
    });

    it("clears a lock whose process is gone, says so with its pid and time, and keeps one whose process runs", async () => {
        const dead = await deadPid();
        const stale = writeLock(backend, "staging", "11111111-aaaa", { pid: dead, username: "root", hostname: host, timestamp: since });
        const live = writeLock(backend, "staging", "22222222-bbbb", { pid: sleeper.pid, username: "root", hostname: host, timestamp: new Date().toISOString() });
        const lines: string[] = [];
        const result = locks.clearStaleLocks({ dir: backend, project: "opsbook", stack: "staging", say: (l) => lines.push(l) });

        assert.deepEqual(result.cleared.map((l) => l.pid), [dead]);
        assert.deepEqual(result.held.map((l) => l.pid), [sleeper.pid]);
        assert.equal(fs.existsSync(stale), false);
        assert.equal(fs.existsSync(`${stale}.attrs`), false, "the .attrs sidecar goes with its lock");
        assert.equal(fs.existsSync(live), true, "a live process's lock must stay");
        assert.match(lines.join("\n"), new RegExp(`cleared a stale lock on stack staging: pulumi pid ${dead} \\(root@${host}\\) took it at ${since.replace(/\./g, "\\.")} and is no longer running`));
        assert.match(lines.join("\n"), new RegExp(`stack staging is locked by a process that is still running \\(pid ${sleeper.pid}, root@${host}: sleep 60\\)`));
        fs.rmSync(live);
        fs.rmSync(`${live}.attrs`);
    });

    it("never removes a lock taken on another host", () => {
        const file = writeLock(backend, "staging", "33333333-cccc", { pid: 1, username: "ci", hostname: "not-this-host", timestamp: since });
        const lines: string[] = [];
        const result = locks.clearStaleLocks({ dir: backend, project: "opsbook", stack: "staging", say: (l) => lines.push(l) });
        assert.equal(result.cleared.length, 0);
        assert.equal(fs.existsSync(file), true);
        assert.match(lines[0], /locked by a pulumi on another host \(pid 1, ci@not-this-host\).*run 'pulumi cancel --stack staging'/);
        fs.rmSync(file);
        fs.rmSync(`${file}.attrs`);
    });

    it("takes a pid that a newer process has since been given for a gone holder", () => {
        // The sleeper started a minute after this lock was taken: it cannot be the lock's process.
        const file = writeLock(backend, "staging", "44444444-dddd", { pid: sleeper.pid, username: "root", hostname: host, timestamp: new Date(Date.now() - 3_600_000).toISOString() });
        const result = locks.clearStaleLocks({ dir: backend, project: "opsbook", stack: "staging", say: () => undefined });
        assert.deepEqual(result.cleared.map((l) => l.pid), [sleeper.pid]);
        assert.equal(fs.existsSync(file), false);
    });

    it("touches only the named stack's locks", async () => {
        const other = writeLock(backend, "production", "55555555-eeee", { pid: await deadPid(), username: "root", hostname: host, timestamp: since });
        locks.clearStaleLocks({ dir: backend, project: "opsbook", stack: "staging", say: () => undefined });
        assert.equal(fs.existsSync(other), true);
        fs.rmSync(other);
    });

    it("as deploy.sh runs it: exit 0 after clearing, 3 while a live lock remains, with the message on stderr", async () => {
        const dead = await deadPid();
        writeLock(backend, "staging", "66666666-ffff", { pid: dead, username: "root", hostname: host, timestamp: since });
        const cleared = await runScript("staging", backend);
        assert.equal(cleared.code, 0, cleared.stderr);
        assert.match(cleared.stderr, new RegExp(`^deploy: cleared a stale lock on stack staging: pulumi pid ${dead} `));

        const live = writeLock(backend, "staging", "77777777-0000", { pid: sleeper.pid, username: "root", hostname: host, timestamp: new Date().toISOString() });
        const held = await runScript("staging", backend);
        assert.equal(held.code, 3);
        assert.match(held.stderr, /is locked by a process that is still running/);
        assert.equal(fs.existsSync(live), true);
        fs.rmSync(live);

        assert.equal((await runScript("staging", backend)).code, 0, "no lock, nothing to say");
    });

    it("reads the backend from Pulumi.yaml and file:// URLs as pulumi does", () => {
        assert.deepEqual(locks.projectSettings(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")), { name: "opsbook", url: "file://~/.opsbook/state" });
        assert.equal(locks.backendDir("file://~/.opsbook/state", "/home/ops"), "/home/ops/.opsbook/state");
        assert.equal(locks.backendDir("file:///srv/state?no_tmp_dir=true"), "/srv/state");
        assert.equal(locks.backendDir("s3://bucket/state"), undefined);
    });

    it("is described by deploy.sh --help", async () => {
        const help = await new Promise<string>((resolve) => execFile("bash", [path.join(root, "scripts", "deploy.sh"), "--help"], (_err, stdout) => resolve(stdout)));
        assert.match(help, /a lock that a killed deploy left in the file state backend .* is cleared when its process is gone/s);
    });
});
