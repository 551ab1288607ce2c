// A small client for the Docker Engine API over its unix socket.
//
// Why not the docker CLI: `docker run -e KEY=VALUE` would put secret values on a command line,
// where `ps` and shell history see them. The API takes them in a request body instead.
// Why not @pulumi/docker: its plugin cannot be built from the package sources this project
// may use (see README, "Toolchain"), so the stack talks to the engine itself.
//
// Everything here uses only Node built-ins, because dynamic providers are serialized into the
// state and re-run in a separate process where only built-ins and node_modules resolve.
import * as http from "http";

export interface DockerEndpoint {
    /** Unix socket path of the engine. Default: taken from DOCKER_HOST, else /var/run/docker.sock. */
    readonly socketPath?: string;
}

/**
 * An engine error carries the HTTP status. Deliberately a plain Error with a property, not a
 * subclass: dynamic providers are serialized, and a serialized subclass of a built-in loses its
 * prototype chain, so `instanceof` checks on it silently fail in the provider process.
 */
export type DockerApiError = Error & { statusCode: number };

function dockerApiError(message: string, statusCode: number): DockerApiError {
    return Object.assign(new Error(message), { statusCode });
}

/** The engine's HTTP status of a failed request, if `err` is one. */
export function dockerStatus(err: unknown): number | undefined {
    const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
    return typeof status === "number" ? status : undefined;
}

/** Resolves the engine's socket the way the docker CLI does for unix sockets. */
export function dockerSocketPath(explicit?: string): string {
    if (explicit) {
        return explicit;
    }
    const host = process.env.DOCKER_HOST ?? "";
    if (host.startsWith("unix://")) {
        return host.slice("unix://".length);
    }
    if (host !== "") {
        throw new Error(`DOCKER_HOST=${host} is not a unix socket; opsbook talks to a local engine over its unix socket.`);
    }
    return "/var/run/docker.sock";
}

/**
 * Sends one request to the engine and parses a JSON answer. Non-2xx answers become
 * DockerApiError with the engine's own message, which names the object and the problem.
 */
export function dockerRequest<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: { socketPath?: string; timeoutMs?: number; rawBody?: Buffer; contentType?: string } = {},
): Promise<T> {
    const payload = opts.rawBody ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
    return new Promise<T>((resolve, reject) => {
        const req = http.request(
            {
                socketPath: dockerSocketPath(opts.socketPath),
                method,
                path,
                headers: payload
                    ? { "Content-Type": opts.contentType ?? "application/json", "Content-Length": payload.length }
                    : {},
                timeout: opts.timeoutMs ?? 120_000,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    const status = res.statusCode ?? 0;
                    if (status < 200 || status >= 300) {
                        let message = text.trim();
                        try {
                            message = (JSON.parse(text) as { message?: string }).message ?? message;
                        } catch {
                            // Not JSON: keep the raw text.
                        }
                        reject(dockerApiError(`docker ${method} ${path.split("?")[0]}: ${message} (HTTP ${status})`, status));
                        return;
                    }
                    if (text === "") {
                        resolve(undefined as T);
                        return;
                    }
                    try {
                        resolve(JSON.parse(text) as T);
                    } catch {
                        resolve(text as unknown as T);
                    }
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error(`docker ${method} ${path}: no answer within ${opts.timeoutMs ?? 120_000} ms`)));
        req.on("error", (err: NodeJS.ErrnoException) => {
            if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
                reject(new Error(`cannot reach the Docker engine at ${dockerSocketPath(opts.socketPath)} (${err.code}); start it with 'npm run -s toolchain'.`));
            } else {
                reject(err);
            }
        });
        if (payload) {
            req.write(payload);
        }
        req.end();
    });
}

/** True when the engine answered 404 for the object: it is gone. */
export function isNotFound(err: unknown): boolean {
    return dockerStatus(err) === 404;
}

/**
 * Reads a container's logs (stdout and stderr, demultiplexed) for error reports.
 * Only the tail is kept: enough to say why a start or a migration failed.
 */
export async function containerLogs(id: string, tail = 40, socketPath?: string): Promise<string> {
    const raw = await new Promise<Buffer>((resolve, reject) => {
        const req = http.request(
            {
                socketPath: dockerSocketPath(socketPath),
                method: "GET",
                path: `/containers/${id}/logs?stdout=1&stderr=1&tail=${tail}`,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve(Buffer.concat(chunks)));
            },
        );
        req.on("error", reject);
        req.end();
    });
    return demultiplex(raw).trimEnd();
}

export interface ImageSummary {
    Id: string;
    RepoTags?: string[];
}

/** Looks an image up locally by name; never pulls (no registry is assumed reachable). */
export async function inspectImage(name: string, socketPath?: string): Promise<ImageSummary | undefined> {
    try {
        return await dockerRequest<ImageSummary>("GET", `/images/${encodeURIComponent(name)}/json`, undefined, { socketPath });
    } catch (err) {
        if (isNotFound(err)) {
            return undefined;
        }
        throw err;
    }
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

/** Splits the engine's multiplexed stdout/stderr stream (8-byte frame headers) into text. */
function demultiplex(raw: Buffer): string {
    const out: string[] = [];
    let offset = 0;
    while (offset + 8 <= raw.length) {
        const size = raw.readUInt32BE(offset + 4);
        out.push(raw.subarray(offset + 8, offset + 8 + size).toString("utf8"));
        offset += 8 + size;
    }
    return out.join("");
}

/** Runs a command in a running container and returns its exit code and output. */
export async function execInContainer(id: string, cmd: string[], socketPath?: string): Promise<{ exitCode: number; output: string }> {
    const exec = await dockerRequest<{ Id: string }>("POST", `/containers/${id}/exec`, { Cmd: cmd, AttachStdout: true, AttachStderr: true }, { socketPath });
    const raw = await new Promise<Buffer>((resolve, reject) => {
        const body = Buffer.from(JSON.stringify({ Detach: false, Tty: false }));
        const req = http.request(
            {
                socketPath: dockerSocketPath(socketPath),
                method: "POST",
                path: `/exec/${exec.Id}/start`,
                headers: { "Content-Type": "application/json", "Content-Length": body.length },
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve(Buffer.concat(chunks)));
            },
        );
        req.on("error", reject);
        req.end(body);
    });
    const info = await dockerRequest<{ ExitCode: number }>("GET", `/exec/${exec.Id}/json`, undefined, { socketPath });
    return { exitCode: info.ExitCode, output: demultiplex(raw).trimEnd() };
}

/** A one-file tar archive (ustar), enough for the engine's archive upload. */
export function singleFileTar(name: string, content: string, mode = 0o644): Buffer {
    const data = Buffer.from(content, "utf8");
    const header = Buffer.alloc(512, 0);
    const field = (value: string, offset: number, length: number) => header.write(value, offset, length, "ascii");
    const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0") + "\0";
    field(name, 0, 100);
    field(octal(mode, 8), 100, 8);
    field(octal(0, 8), 108, 8);
    field(octal(0, 8), 116, 8);
    field(octal(data.length, 12), 124, 12);
    field(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
    field("        ", 148, 8); // checksum is computed with its own field as spaces
    field("0", 156, 1);
    field("ustar\0", 257, 6);
    field("00", 263, 2);
    let sum = 0;
    for (const byte of header) {
        sum += byte;
    }
    field(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
    const padding = Buffer.alloc((512 - (data.length % 512)) % 512, 0);
    return Buffer.concat([header, data, padding, Buffer.alloc(1024, 0)]);
}

/** Writes one file into a container (a volume path works even when the root is read-only). */
export async function putFile(id: string, dir: string, name: string, content: string, socketPath?: string): Promise<void> {
    await dockerRequest("PUT", `/containers/${id}/archive?path=${encodeURIComponent(dir)}`, undefined, {
        socketPath,
        rawBody: singleFileTar(name, content),
        contentType: "application/x-tar",
    });
}
