// Which Docker engine a stack deploys to, and how it is reached: the rules of `opsbook:engine`,
// shared by the spec (which refuses a bad value before anything runs), the docker provider of the
// stack and every docker CLI call the stack makes (one-shot jobs, settle checks, image delivery).
// Pure: no engine, no Pulumi.

/** The local engine's socket: the default, what a stack on this machine talks to. */
export const LOCAL_ENGINE_HOST = "unix:///var/run/docker.sock";

export type EngineHost =
    | { kind: "unix"; host: string; socketPath: string }
    | { kind: "ssh"; host: string; user: string; hostname: string; port: number }
    | { kind: "tcp"; host: string; hostname: string; port: number };

/** The engine's TLS port by Docker's convention (2375 is its port without TLS, never accepted). */
export const ENGINE_TLS_PORT = 2376;

/**
 * Parses `opsbook:engine.host`. Returns the parsed host or the reason it is refused (a sentence
 * that says what is accepted). A tcp:// engine is always reached with TLS, verified both ways
 * (components/engineTls.ts): the engine API without TLS is never acceptable.
 */
export function parseEngineHost(value: string): EngineHost | { error: string } {
    const accepted =
        "use unix:///path/to/docker.sock (this machine's engine), ssh://user@host[:port] (a server's engine, reached over SSH) " +
        `or tcp://host[:port] (a server's engine with TLS, port ${ENGINE_TLS_PORT} by default)`;
    if (value.startsWith("unix://")) {
        const socketPath = value.slice("unix://".length);
        return socketPath.startsWith("/") ? { kind: "unix", host: value, socketPath } : { error: `names no absolute socket path; ${accepted}` };
    }
    if (value.startsWith("ssh://")) {
        const m = /^ssh:\/\/([A-Za-z0-9._-]+)@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?\/?$/.exec(value);
        if (!m) {
            return { error: `is not of the form ssh://user@host[:port] (a user is required: the engine runs as whoever SSH logs in as); ${accepted}` };
        }
        const port = m[3] ? Number(m[3]) : 22;
        if (port < 1 || port > 65535) {
            return { error: `has port ${port}, outside 1-65535; ${accepted}` };
        }
        return { kind: "ssh", host: value.replace(/\/$/, ""), user: m[1], hostname: m[2], port };
    }
    if (value.startsWith("tcp://")) {
        const m = /^tcp:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?\/?$/.exec(value);
        if (!m) {
            return { error: `is not of the form tcp://host[:port]; ${accepted}` };
        }
        const port = m[2] ? Number(m[2]) : ENGINE_TLS_PORT;
        if (port < 1 || port > 65535) {
            return { error: `has port ${port}, outside 1-65535; ${accepted}` };
        }
        if (port === 2375) {
            return { error: `names port 2375, Docker's port for an engine API without TLS, which opsbook never uses: listen with --tlsverify on ${ENGINE_TLS_PORT} (README, "A server over TLS"); ${accepted}` };
        }
        return { kind: "tcp", host: `tcp://${m[1]}:${port}`, hostname: m[1], port };
    }
    return { error: `is not an engine address; ${accepted}` };
}

/** How `ssh-keyscan` and known_hosts name a host: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: Pick<Extract<EngineHost, { kind: "ssh" }>, "hostname" | "port">): string {
    return host.port === 22 ? host.hostname : `[${host.hostname}]:${host.port}`;
}

/** The known_hosts line of `knownHosts` (comments and blank lines left out). */
function knownHostsLines(knownHosts: string): string[] {
    return knownHosts
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));
}

/**
 * Problems with `knownHosts` for an SSH host (empty when fine): exactly one line, naming the host
 * (plainly or hashed), with a key type and a base64 key. Without it the host key could not be
 * checked, and opsbook never turns host key checking off. One line, because ssh is then told to
 * ask the server for exactly that key type.
 */
export function knownHostsProblems(
    host: Pick<Extract<EngineHost, { kind: "ssh" }>, "hostname" | "port">,
    knownHosts: string | undefined,
    keys: { readonly knownHosts: string; readonly host: string; readonly what: string } = { knownHosts: "opsbook:engine.knownHosts", host: "opsbook:engine.host", what: "an ssh:// engine" },
): string[] {
    const name = knownHostsName(host);
    const scan = `ssh-keyscan -t ed25519 ${host.port === 22 ? "" : `-p ${host.port} `}${host.hostname}`;
    const how = `run \`${scan}\` from a network you trust, compare the fingerprint (\`ssh-keygen -lf <file>\`) with the one the server shows (\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on it), then \`pulumi config set --path ${keys.knownHosts} '<line>'\``;
    if (knownHosts === undefined || knownHosts.trim() === "") {
        return [`is required for ${keys.what}: the server's host key as a known_hosts line, so the connection is to that server and no other; ${how}`];
    }
    const lines = knownHostsLines(knownHosts);
    if (lines.length !== 1) {
        return [`must be exactly one known_hosts line (one key type, e.g. ssh-ed25519), not ${lines.length}; ${how}`];
    }
    const m = /^(\S+) (ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/]+={0,2}$/.exec(lines[0]);
    if (!m) {
        return [`is not \`<host> <key type> <base64 key>\` (as \`${scan}\` prints it, without a comment); ${how}`];
    }
    if (!m[1].split(",").some((n) => n === name || n.startsWith("|1|"))) {
        return [`names \`${m[1]}\`, not \`${name}\` (the host of \`${keys.host}\`); ${how}`];
    }
    return [];
}

/** A short, stable hash of a string (FNV-1a, 32 bits, hex): pure, no crypto module needed. */
function fnv1a(text: string): string {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
        h ^= text.charCodeAt(i);
        h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(16).padStart(8, "0");
}

/**
 * The ssh options of every connection to an SSH engine: the host key checked against the stack's
 * known_hosts line only (never the user's files, never "accept new"), no password prompt, and the
 * key from the SSH agent unless an identity file is named. Given to the docker provider
 * (`sshOpts`) and to the docker CLI (through a wrapper, see providers/engineCli.ts). Expects a
 * `knownHosts` that `knownHostsProblems` accepts.
 */
export function sshOptions(knownHosts: string, identityFile?: string): string[] {
    const line = knownHostsLines(knownHosts)[0];
    const keyType = line.split(" ")[1];
    // An RSA host key signs with SHA-2 (the SHA-1 `ssh-rsa` signature is off in OpenSSH 8.8+).
    const algorithms = keyType === "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256" : keyType;
    const opts = [
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "GlobalKnownHostsFile=/dev/null",
        // ssh runs this without a shell and reads host key lines from its output; the line holds
        // no \`%\` (ssh's token marker): host names and base64 have none.
        "-o", `KnownHostsCommand=/bin/echo ${line}`,
        "-o", `HostKeyAlgorithms=${algorithms}`,
        "-o", "ConnectTimeout=10",
        // One SSH connection per engine, shared by the provider's and the CLI's calls for 30 s
        // after the last: a deploy makes hundreds of engine calls. The socket's name covers these
        // options (a changed host key or key file never reuses a connection made under the old).
        "-o", "ControlMaster=auto",
        "-o", `ControlPath=/tmp/opsbook-ssh-${fnv1a(`${line}\n${identityFile ?? ""}`)}-%C`,
        "-o", "ControlPersist=30",
    ];
    if (identityFile) {
        opts.push("-o", "IdentitiesOnly=yes", "-i", identityFile);
    }
    return opts;
}
