// The docker CLI as the stack's own code runs it (one-shot jobs, settle checks, backup records,
// image delivery, the program's engine check), against the stack's engine rather than whatever
// DOCKER_HOST the shell has. Over SSH the CLI cannot be given ssh options, so it runs with a small
// `ssh` wrapper first on its PATH that adds the stack's (host key checked against the stack's
// known_hosts line only, no prompts, the stack's identity file, one shared connection per engine:
// components/engineHost.ts sshOptions).
// Only Node built-ins: dynamic providers are serialized into the state and run in their own process.
import { execFile, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import type * as net from "net";
import * as os from "os";
import * as path from "path";

/** How to reach an engine other than the local default; what the state records (nothing secret). */
export interface EngineConnection {
    /** unix:///path, ssh://user@host[:port] or tcp://host:port. */
    host: string;
    /** For ssh:// hosts: the options every ssh connection gets (components/engineHost.ts sshOptions). */
    sshOptions: string[];
    /** For tcp:// hosts: the directory on this machine with the TLS material (components/engineTls.ts); a path, nothing secret. */
    tlsDir?: string;
}

export interface CliResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Single-quotes a word for /bin/sh. Pure. */
export function shellQuote(word: string): string {
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `ssh` wrapper's script: ssh with the stack's options, and a connection or session that the
 * server refused for load tried again. sshd's defaults refuse exactly what a deploy does: more than
 * 10 sessions on one shared connection (MaxSessions; the docker provider's calls and these share
 * it), and past 10 connections mid-handshake it drops new ones (MaxStartups 10:30:100). Both fail
 * before the remote command starts and before ssh reads its input, so running ssh again is safe;
 * any other failure (a wrong host, a refused key, a session cut mid-way) is passed on at once.
 * stderr is held until ssh ends (the docker CLI reads it only then); stdout passes through on fd 3. Pure.
 */
export function sshWrapperScript(realSsh: string, sshOptions: string[]): string {
    return `#!/bin/sh
# Written by opsbook: ssh with the stack's options, a refusal for load tried again (see providers/engineCli.ts).
exec 3>&1
attempt=1
while :; do
	err=$( { ${shellQuote(realSsh)} ${sshOptions.map(shellQuote).join(" ")} "$@" 2>&1 1>&3 3>&-; echo "opsbook-ssh-exit=$?"; } )
	code=\${err##*opsbook-ssh-exit=}
	err=\${err%opsbook-ssh-exit=*}
	case "$code:$err" in
	255:*kex_exchange_identification*|255:*"Session open refused"*|255:*"no more sessions"*)
		if [ "$attempt" -lt ${SSH_ATTEMPTS} ]; then
			# Backing off, spread by process: the refused callers do not all come back at once.
			tenths=$((attempt * 5 + ($$ + attempt) % 5))
			sleep "$((tenths / 10)).$((tenths % 10))"
			attempt=$((attempt + 1))
			continue
		fi
		printf '%sopsbook: the server refused this SSH connection or session %s times (sshd MaxStartups or MaxSessions)\\n' "$err" "$attempt" >&2
		exit "$code"
		;;
	esac
	printf '%s' "$err" >&2
	exit "$code"
done
`;
}

/** How many times the wrapper asks before it gives a refusal for load back (0.5 s more each time: 7.5 to 9.5 s in all). */
const SSH_ATTEMPTS = 6;

/** This machine's opsbook cache for the user: $OPSBOOK_CACHE, or ~/.cache/opsbook (as scripts/toolchain.sh has it). */
export function opsbookCacheDir(): string {
    return process.env.OPSBOOK_CACHE || path.join(os.homedir(), ".cache", "opsbook");
}

/**
 * This user's own directory for the ssh wrappers, ${OPSBOOK_CACHE:-~/.cache/opsbook}/ssh (0700).
 * Not /tmp: a wrapper's path there can be foreseen (it is named by its script), so another local
 * user could put a script there first and have it run with the deploy's SSH key. Refused, saying
 * how to fix it, when the directory is not this user's.
 */
function privateSshDir(): string {
    const dir = path.join(opsbookCacheDir(), "ssh");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = fs.lstatSync(dir);
    if (!stat.isDirectory() || stat.uid !== process.getuid?.()) {
        throw new Error(`${dir} is not a directory of this user's (it holds the ssh wrappers of ssh:// engines): remove it, or set OPSBOOK_CACHE to a directory of your own`);
    }
    if ((stat.mode & 0o077) !== 0) {
        fs.chmodSync(dir, 0o700);
    }
    return dir;
}

/** The directory holding the `ssh` wrapper for these options, written once per script. */
function sshWrapperDir(sshOptions: string[]): string {
    const root = privateSshDir();
    // The real ssh: not a wrapper that is already on PATH (this one's, or one an older opsbook put in /tmp).
    const realSsh = (process.env.PATH ?? "")
        .split(path.delimiter)
        .filter((d) => d !== "" && !d.startsWith(root) && !path.basename(d).startsWith("opsbook-ssh-"))
        .map((d) => path.join(d, "ssh"))
        .find((p) => fs.existsSync(p));
    if (!realSsh) {
        throw new Error("no `ssh` on PATH: an ssh:// engine needs the OpenSSH client (apt-get install openssh-client)");
    }
    const script = sshWrapperScript(realSsh, sshOptions);
    // Keyed by the whole script: a wrapper written by an older opsbook is never reused.
    const digest = crypto.createHash("sha256").update(script).digest("hex").slice(0, 16);
    const dir = path.join(root, `wrapper-${digest}`);
    const wrapper = path.join(dir, "ssh");
    if (!fs.existsSync(wrapper)) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        // Written aside and renamed: a concurrent caller never runs half a script.
        const partial = `${wrapper}.${process.pid}.partial`;
        fs.writeFileSync(partial, script, { mode: 0o700 });
        fs.renameSync(partial, wrapper);
    }
    return dir;
}

/** The files of a tcp:// engine's TLS material in its directory, as the docker CLI reads them (DOCKER_CERT_PATH). */
export const ENGINE_TLS_FILES = ["ca.pem", "cert.pem", "key.pem"] as const;

/** Whether `dir` holds every file of an engine's TLS material. */
export function hasEngineTls(dir: string): boolean {
    return ENGINE_TLS_FILES.every((file) => fs.existsSync(path.join(dir, file)));
}

/** The environment of a docker CLI call against `engine` (the process's own engine when undefined). */
export function dockerCliEnv(engine: EngineConnection | undefined): NodeJS.ProcessEnv {
    if (!engine) {
        return process.env;
    }
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: engine.host };
    delete env.DOCKER_CONTEXT;
    if (engine.host.startsWith("ssh://")) {
        env.PATH = `${sshWrapperDir(engine.sshOptions)}${path.delimiter}${process.env.PATH ?? ""}`;
    }
    if (engine.host.startsWith("tcp://")) {
        // Never without TLS, verified both ways: the docker CLI's own variables, on the stack's material.
        if (!engine.tlsDir || !hasEngineTls(engine.tlsDir)) {
            throw new Error(
                `the TLS material for ${engine.host} is not on this machine${engine.tlsDir ? ` (${engine.tlsDir})` : ""}: run \`pulumi preview\` of the stack here once ` +
                    "(the stack's program writes it from its ENGINE_TLS_CA, ENGINE_TLS_CERT and ENGINE_TLS_KEY secrets)",
            );
        }
        env.DOCKER_TLS_VERIFY = "1";
        env.DOCKER_CERT_PATH = engine.tlsDir;
    } else {
        delete env.DOCKER_TLS_VERIFY;
        delete env.DOCKER_CERT_PATH;
    }
    return env;
}

/** Runs `docker ARGS` against `engine`; never throws, the exit code says how it went. */
export function dockerCli(args: string[], opts: { engine?: EngineConnection; timeoutMs?: number } = {}): Promise<CliResult> {
    let env: NodeJS.ProcessEnv;
    try {
        env = dockerCliEnv(opts.engine);
    } catch (err) {
        return Promise.resolve({ code: 1, stdout: "", stderr: err instanceof Error ? err.message : String(err) });
    }
    return new Promise((resolve) => {
        execFile("docker", args, { env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr || (err && !stderr ? err.message : "")) });
        });
    });
}

/**
 * `docker save REFERENCE` on this machine's engine piped into `docker load` on `engine`: how an
 * image built here reaches a server with no registry in between. Resolves with the load's result.
 */
export function copyImage(reference: string, engine: EngineConnection, timeoutMs = 30 * 60_000): Promise<CliResult> {
    let env: NodeJS.ProcessEnv;
    try {
        env = dockerCliEnv(engine);
    } catch (err) {
        return Promise.resolve({ code: 1, stdout: "", stderr: err instanceof Error ? err.message : String(err) });
    }
    return new Promise((resolve) => {
        const save = spawn("docker", ["save", reference], { stdio: ["ignore", "pipe", "pipe"] });
        const load = spawn("docker", ["load", "--quiet"], { env, stdio: ["pipe", "pipe", "pipe"] });
        let saveErr = "";
        let loadOut = "";
        let loadErr = "";
        save.stderr.on("data", (c: Buffer) => (saveErr += c.toString()));
        load.stdout.on("data", (c: Buffer) => (loadOut += c.toString()));
        load.stderr.on("data", (c: Buffer) => (loadErr += c.toString()));
        save.stdout.pipe(load.stdin);
        const timer = setTimeout(() => {
            save.kill("SIGTERM");
            load.kill("SIGTERM");
        }, timeoutMs);
        let saveCode: number | null = null;
        save.on("close", (code) => (saveCode = code));
        load.on("close", (code) => {
            clearTimeout(timer);
            const failed = saveCode !== 0 || code !== 0;
            resolve({
                code: failed ? 1 : 0,
                stdout: loadOut,
                stderr: failed ? `docker save ${reference}: ${saveErr.trim() || `exit ${saveCode}`}; docker load on ${engine.host}: ${loadErr.trim() || `exit ${code}`}` : "",
            });
        });
    });
}

/** One answer of the Engine API. */
export interface EngineApiAnswer {
    status: number;
    /** The body parsed as JSON (undefined when empty or not JSON). */
    json: unknown;
    /** The body as text (the engine's own message on an error). */
    text: string;
}

/**
 * One Engine API request over `docker system dial-stdio` (the docker CLI's own way to the engine,
 * over SSH for an ssh:// engine): for what must not go on a command line, such as a swarm join
 * token, which travels in the request body only. Rejects when the engine cannot be reached.
 */
export function engineApi(engine: EngineConnection | undefined, method: "GET" | "POST", apiPath: string, body?: unknown, timeoutMs = 60_000): Promise<EngineApiAnswer> {
    return new Promise((resolve, reject) => {
        let env: NodeJS.ProcessEnv;
        try {
            env = dockerCliEnv(engine);
        } catch (err) {
            reject(err);
            return;
        }
        const payload = body === undefined ? "" : JSON.stringify(body);
        const dial = spawn("docker", ["system", "dial-stdio"], { env, stdio: ["pipe", "pipe", "pipe"] });
        let err = "";
        dial.stderr.on("data", (c: Buffer) => (err += c.toString()));
        dial.stdin.on("error", () => undefined); // reported through the failed request below
        const where = `the engine at ${engine?.host ?? "the local socket"}`;
        // Node's own HTTP client over the dial's stdin and stdout (it handles chunked answers).
        // `stream` is required here, not imported at the top: Pulumi's closure serializer cannot
        // serialize the module object of `stream` (Node 20.20: "Remote object was not 'function'"),
        // and every dynamic provider that uses this file captures its top-level imports.
        const { Duplex } = require("stream") as typeof import("stream");
        const req = http.request(
            {
                method,
                path: apiPath,
                host: "docker",
                headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload), Connection: "close" },
                createConnection: () => Duplex.from({ readable: dial.stdout, writable: dial.stdin }) as net.Socket,
                timeout: timeoutMs,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => {
                    dial.kill("SIGTERM");
                    const text = Buffer.concat(chunks).toString("utf8").trim();
                    let json: unknown;
                    try {
                        json = text === "" ? undefined : JSON.parse(text);
                    } catch {
                        json = undefined;
                    }
                    resolve({ status: res.statusCode ?? 0, json, text });
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error(`${where} did not answer ${method} ${apiPath} within ${timeoutMs / 1000} s`)));
        req.on("error", (e) => {
            // What ssh or the docker CLI said comes on stderr as they end: wait for it (a little),
            // it is what names the cause (a refused key, an sshd refusing for load).
            let told = false;
            const tell = () => {
                if (told) return;
                told = true;
                const said = err.trim().split("\n").slice(-2).join(" ");
                reject(new Error(`${where} gave no HTTP answer to ${method} ${apiPath}: ${e.message}${said ? `; ${said}` : ""}`));
            };
            dial.on("close", tell);
            setTimeout(() => {
                dial.kill("SIGTERM");
                tell();
            }, dial.exitCode === null ? 2_000 : 0).unref();
        });
        req.end(payload);
    });
}
