// The test servers of test/hosts/server.sh, from TypeScript: made, described and removed. Used by
// the e2e tests and the benchmarks that deploy to a server over SSH.
import * as path from "node:path";
import { ROOT, run } from "../e2e/harness";

export const SERVER_SCRIPT = path.join(ROOT, "test", "hosts", "server.sh");

/** What `server.sh up` prints: the server's address, its host key as a known_hosts line, the client key. */
export interface TestServer {
    readonly name: string;
    readonly address: string;
    readonly knownHosts: string;
    readonly identityFile: string;
    /** `--sshd-only` hosts: the empty directory on this machine's filesystem that the host serves over SFTP. */
    readonly dataDir?: string;
}

/** `server.sh up`'s KEY=value lines (values single-quoted or bare). Pure. */
export function parseAssignments(text: string): Record<string, string> {
    return Object.fromEntries(
        text
            .split("\n")
            .map((l) => /^([A-Z_]+)=(?:'(.*)'|(.*))$/.exec(l))
            .filter((m): m is RegExpExecArray => m !== null)
            .map((m) => [m[1], m[2] ?? m[3]]),
    );
}

/**
 * Makes the server (removing one an interrupted run left); throws with the script's output when it
 * fails. `sshdOnly`: sshd with SFTP and no engine (an off-site backup host). `noSwarm`: an engine
 * in no swarm (a server a stack joins as a node).
 */
export async function startTestServer(name: string, address: string, opts: { sshdOnly?: boolean; noSwarm?: boolean } = {}): Promise<TestServer> {
    const up = await run("bash", [SERVER_SCRIPT, "up", name, address, ...(opts.sshdOnly ? ["--sshd-only"] : []), ...(opts.noSwarm ? ["--no-swarm"] : [])]);
    if (up.code !== 0) {
        throw new Error(`making the test server ${name} failed:\n${up.stderr}`);
    }
    const vars = parseAssignments(up.stdout);
    if (!vars.SERVER_KNOWN_HOSTS || !vars.SERVER_IDENTITY_FILE) {
        throw new Error(`the test server printed no known_hosts line or key:\n${up.stdout}`);
    }
    return { name, address, knownHosts: vars.SERVER_KNOWN_HOSTS, identityFile: vars.SERVER_IDENTITY_FILE, ...(vars.SERVER_DATA_DIR ? { dataDir: vars.SERVER_DATA_DIR } : {}) };
}

/** An sshd-only host that holds off-site copies, and the `backups.offsite.target` of a stack on it. */
export async function startOffsiteHost(name: string, address: string): Promise<{ host: TestServer; target: string }> {
    const host = await startTestServer(name, address, { sshdOnly: true });
    if (!host.dataDir) {
        throw new Error(`the sshd-only host ${name} reported no data directory`);
    }
    return { host, target: `sftp://root@${address}${host.dataDir}/opsbook` };
}

/** Removes the server; what its sshd refused for load goes into the test's output. */
export async function stopTestServer(name: string): Promise<void> {
    const down = await run("bash", [SERVER_SCRIPT, "down", name]);
    for (const line of down.stderr.split("\n").filter((l) => l.includes("sshd refused"))) {
        process.stderr.write(`${line}\n`);
    }
}
