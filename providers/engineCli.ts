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

/** The directory holding the `ssh` wrapper for these options, written once per set of options. */
function sshWrapperDir(sshOptions: string[]): string {
    const digest = crypto.createHash("sha256").update(JSON.stringify(sshOptions)).digest("hex").slice(0, 16);
    const dir = path.join(os.tmpdir(), `opsbook-ssh-${digest}`);
    const wrapper = path.join(dir, "ssh");
    if (!fs.existsSync(wrapper)) {
        const realSsh = (process.env.PATH ?? "")
            .split(path.delimiter)
            .map((d) => path.join(d, "ssh"))
            .find((p) => !p.startsWith(os.tmpdir()) && fs.existsSync(p));
        if (!realSsh) {
            throw new Error("no `ssh` on PATH: an ssh:// engine needs the OpenSSH client (apt-get install openssh-client)");
        }
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const options = sshOptions;
        const script = `#!/bin/sh\n# Written by opsbook: ssh with the stack's options (see providers/engineCli.ts).\nexec ${shellQuote(realSsh)} ${options.map(shellQuote).join(" ")} "$@"\n`;
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
            dial.kill("SIGTERM");
            reject(new Error(`${where} gave no HTTP answer to ${method} ${apiPath}: ${e.message}; ${err.trim().split("\n").pop() ?? ""}`));
        });
        req.end(payload);
    });
}
