// A steady HTTP load from loopback that counts failed requests and the longest outage.
// Each request opens its own connection (no keep-alive), like many independent clients; a
// request fails on a network error, a timeout or any status other than the expected one.
import * as http from "node:http";

export interface ProbeResult {
    requests: number;
    failed: number;
    /** Longest stretch, in ms, from the first failed request to the next success. */
    longestOutageMs: number;
    /** What the failures were, counted by kind (status code or error code). */
    failures: Record<string, number>;
    /** The `release` field of the last successful JSON answer, when it has one. */
    lastRelease?: string;
}

export interface LoadProbe {
    stop(): Promise<ProbeResult>;
}

function once(url: URL, timeoutMs: number): Promise<{ ok: boolean; kind: string; body: string }> {
    return new Promise((resolve) => {
        const req = http.request(
            { host: url.hostname, port: url.port, path: url.pathname + url.search, method: "GET", agent: false, timeout: timeoutMs },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve({ ok: res.statusCode === 200, kind: String(res.statusCode), body: Buffer.concat(chunks).toString() }));
                res.on("error", (err: NodeJS.ErrnoException) => resolve({ ok: false, kind: err.code ?? "error", body: "" }));
            },
        );
        req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
        req.on("error", (err: NodeJS.ErrnoException) => resolve({ ok: false, kind: err.code ?? "error", body: "" }));
        req.end();
    });
}

/** Starts `concurrency` clients, each sending one request every `intervalMs` to `url`. */
export function startLoad(target: string, concurrency = 4, intervalMs = 20, timeoutMs = 5000): LoadProbe {
    const url = new URL(target);
    const result: ProbeResult = { requests: 0, failed: 0, longestOutageMs: 0, failures: {} };
    let running = true;
    let outageStart: number | undefined;
    const client = async () => {
        while (running) {
            const started = Date.now();
            const res = await once(url, timeoutMs);
            result.requests++;
            if (res.ok) {
                if (outageStart !== undefined) {
                    result.longestOutageMs = Math.max(result.longestOutageMs, Date.now() - outageStart);
                    outageStart = undefined;
                }
                try {
                    const release = (JSON.parse(res.body) as { release?: unknown }).release;
                    if (typeof release === "string") {
                        result.lastRelease = release;
                    }
                } catch {
                    // Not JSON: no release to read.
                }
            } else {
                result.failed++;
                result.failures[res.kind] = (result.failures[res.kind] ?? 0) + 1;
                outageStart ??= started;
            }
            const wait = intervalMs - (Date.now() - started);
            if (wait > 0) {
                await new Promise((r) => setTimeout(r, wait));
            }
        }
    };
    const clients = Array.from({ length: concurrency }, client);
    return {
        async stop() {
            running = false;
            await Promise.all(clients);
            if (outageStart !== undefined) {
                result.longestOutageMs = Math.max(result.longestOutageMs, Date.now() - outageStart);
            }
            return result;
        },
    };
}

/**
 * Runs `change` (a `pulumi up`, typically) while a steady load hits `url`, with a second of load
 * before and after, and returns what the load saw next to the command's result.
 */
export async function underLoad<T>(url: string, change: () => Promise<T>): Promise<{ result: T; load: ProbeResult }> {
    const probe = startLoad(url);
    await new Promise((r) => setTimeout(r, 1000));
    const result = await change();
    await new Promise((r) => setTimeout(r, 1000));
    return { result, load: await probe.stop() };
}
