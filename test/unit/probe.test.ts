// opsbook-probe (toolchain/probe/probe.c), built by scripts/lib/probe.sh, against local servers:
// exit 0 only on a 2xx status; 1 for other statuses (redirects included: they are not followed,
// a health URL that redirects is a wrong probe URL), refused connections, silence past the
// timeout and answers that are not HTTP. It prints one short line and never the body.
import { strict as assert } from "node:assert";
import { execFile, execFileSync } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..");

interface ProbeResult {
    code: number;
    stdout: string;
    stderr: string;
    ms: number;
}

let probePath = "";

/** Runs the probe without blocking the event loop (the servers under test live in this process). */
function probe(...args: string[]): Promise<ProbeResult> {
    const started = Date.now();
    return new Promise((resolve) => {
        execFile(probePath, args, { timeout: 15_000 }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - started });
        });
    });
}

function oneLine(r: ProbeResult): string {
    const lines = r.stdout.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, `expected one line on stdout, got ${JSON.stringify(r.stdout)}`);
    assert.ok(lines[0].length < 300, `the line is not short: ${lines[0]}`);
    return lines[0];
}

function listen(server: net.Server, host = "127.0.0.1"): Promise<number> {
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port));
    });
}

const BODY_MARK = "BODY-MUST-NOT-BE-PRINTED";

describe("opsbook-probe", () => {
    const servers: net.Server[] = [];
    const sockets = new Set<net.Socket>();
    let port = 0;
    const seen: Array<{ method?: string; url?: string; httpVersion: string; host?: string }> = [];

    before(async () => {
        const out = execFileSync("bash", [path.join(ROOT, "scripts/lib/probe.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
        const m = /^export OPSBOOK_PROBE="([^"]+)"\n$/.exec(out);
        assert.ok(m, `probe.sh must print exactly one export line, got ${JSON.stringify(out)}`);
        probePath = m[1];

        const server = http.createServer((req, res) => {
            seen.push({ method: req.method, url: req.url, httpVersion: req.httpVersion, host: req.headers.host });
            const route = (req.url ?? "").split("?")[0];
            if (route === "/health") {
                res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
            } else if (route === "/empty") {
                res.writeHead(204).end();
            } else if (route === "/down") {
                res.writeHead(503, { "content-type": "application/json" }).end(`{"status":"down","detail":"${BODY_MARK}"}`);
            } else if (route === "/moved") {
                res.writeHead(301, { location: "/health" }).end();
            } else if (route === "/big") {
                res.writeHead(200, { "content-type": "text/plain", "x-secret-header": BODY_MARK });
                res.end(`${BODY_MARK}\n`.repeat(200_000));
            } else {
                res.writeHead(404).end("not found");
            }
        });
        server.on("connection", (s) => sockets.add(s));
        // The probe stops reading after the status line; the server may see a reset.
        server.on("clientError", (_err, s) => s.destroy());
        servers.push(server);
        port = await listen(server);
    });

    /** A raw TCP server; the probe may reset connections it has read enough of. */
    function raw(onConnection: (s: net.Socket) => void): net.Server {
        const server = net.createServer((s) => {
            sockets.add(s);
            s.on("error", () => undefined);
            onConnection(s);
        });
        servers.push(server);
        return server;
    }

    after(() => {
        for (const s of sockets) s.destroy();
        for (const s of servers) s.close();
    });

    it("exits 0 on 200 and sends one HTTP/1.0 GET with a Host header", async () => {
        const r = await probe(`http://127.0.0.1:${port}/health`);
        assert.equal(r.code, 0, r.stdout);
        assert.match(oneLine(r), /^opsbook-probe: healthy: HTTP 200 OK from 127\.0\.0\.1:\d+\/health in \d+ ms$/);
        assert.equal(r.stderr, "");
        const last = seen[seen.length - 1];
        assert.deepEqual(last, { method: "GET", url: "/health", httpVersion: "1.0", host: `127.0.0.1:${port}` });
    });

    it("accepts localhost, a query string, and any 2xx (204)", async () => {
        const a = await probe(`http://localhost:${port}/health?from=probe#ignored`);
        assert.equal(a.code, 0, a.stdout);
        assert.equal(seen[seen.length - 1].url, "/health?from=probe");
        const b = await probe(`http://127.0.0.1:${port}/empty`);
        assert.equal(b.code, 0, b.stdout);
        assert.match(oneLine(b), /HTTP 204/);
    });

    it("exits 1 on 503 and 404, naming the status, never the body", async () => {
        const r = await probe(`http://127.0.0.1:${port}/down`);
        assert.equal(r.code, 1);
        assert.match(oneLine(r), /unhealthy: HTTP 503 Service Unavailable/);
        assert.ok(!r.stdout.includes(BODY_MARK));
        const nf = await probe(`http://127.0.0.1:${port}/nope`);
        assert.equal(nf.code, 1);
        assert.match(oneLine(nf), /HTTP 404/);
    });

    it("exits 1 on 301: redirects are not followed (a health URL that redirects is the wrong URL)", async () => {
        const r = await probe(`http://127.0.0.1:${port}/moved`);
        assert.equal(r.code, 1);
        assert.match(oneLine(r), /HTTP 301 .*redirects are not followed/);
    });

    it("does not print a big body nor its headers", async () => {
        const r = await probe(`http://127.0.0.1:${port}/big`);
        assert.equal(r.code, 0, r.stdout.slice(0, 200));
        assert.match(oneLine(r), /HTTP 200/);
        assert.ok(!r.stdout.includes(BODY_MARK) && !r.stderr.includes(BODY_MARK));
    });

    it("exits 1 when the connection is refused", async () => {
        const closed = net.createServer();
        const free = await listen(closed);
        await new Promise<void>((r) => closed.close(() => r()));
        const r = await probe(`http://127.0.0.1:${free}/health`);
        assert.equal(r.code, 1);
        assert.match(oneLine(r), /cannot connect to 127\.0\.0\.1:\d+: Connection refused/);
    });

    it("exits 1 within the timeout when the server accepts but never answers", async () => {
        const silent = raw((s) => s.resume());
        const p = await listen(silent);
        const r = await probe(`http://127.0.0.1:${p}/health`, "--timeout", "1");
        assert.equal(r.code, 1);
        assert.match(oneLine(r), /no answer within 1 s from 127\.0\.0\.1:\d+\/health \(waiting for the status line\)/);
        assert.ok(r.ms >= 900 && r.ms < 3000, `took ${r.ms} ms`);
        // The default is 3 s.
        const d = await probe(`http://127.0.0.1:${p}/health`);
        assert.equal(d.code, 1);
        assert.match(oneLine(d), /no answer within 3 s/);
        assert.ok(d.ms >= 2900 && d.ms < 5500, `took ${d.ms} ms`);
    });

    it("exits 1 on a response that is not HTTP, and on a connection closed without an answer", async () => {
        const garbage = raw((s) => s.end("SSH-2.0-OpenSSH_9.2\r\nsome more\r\n"));
        const endless = raw((s) => s.on("data", () => s.write("x".repeat(4096))));
        const hangup = raw((s) => s.once("data", () => s.end()));
        const g = await probe(`http://127.0.0.1:${await listen(garbage)}/health`);
        assert.equal(g.code, 1);
        assert.match(oneLine(g), /not an HTTP response .*malformed status line/);
        assert.ok(!g.stdout.includes("SSH"), "the garbage is not echoed");
        const e = await probe(`http://127.0.0.1:${await listen(endless)}/health`, "--timeout", "2");
        assert.equal(e.code, 1);
        assert.match(oneLine(e), /not an HTTP response .*without a complete status line/);
        const h = await probe(`http://127.0.0.1:${await listen(hangup)}/health`);
        assert.equal(h.code, 1);
        assert.match(oneLine(h), /closed the connection without answering/);
    });

    it("reaches [::1] when the host has IPv6 loopback", async (t) => {
        const v6 = http.createServer((_req, res) => res.writeHead(200).end("ok"));
        let p: number;
        try {
            p = await listen(v6, "::1");
        } catch {
            t.skip("no IPv6 loopback on this host");
            return;
        }
        servers.push(v6);
        const r = await probe(`http://[::1]:${p}/health`);
        assert.equal(r.code, 0, r.stdout);
        assert.match(oneLine(r), /from \[::1\]:\d+\/health/);
    });

    it("refuses bad arguments with exit 1 (never 2, which Docker reserves) and a usage line", async () => {
        for (const args of [
            [],
            ["https://127.0.0.1:8443/health"],
            ["http://db.internal:8080/health"],
            ["http://127.0.0.1:99999/health"],
            ["http://127.0.0.1:8080/he alth"],
            [`http://127.0.0.1:${port}/health`, "--timeout", "0"],
            [`http://127.0.0.1:${port}/health`, "--timeout"],
            [`http://127.0.0.1:${port}/health`, "--verbose"],
        ]) {
            const r = await probe(...args);
            assert.equal(r.code, 1, `${JSON.stringify(args)}: ${r.stdout}`);
            assert.match(oneLine(r), /\(usage: opsbook-probe /, JSON.stringify(args));
        }
    });
});
