// Release benchmark: opsbook against Docker Compose (v1) on the same engine, the same images and
// the same topology (Postgres, Redis, one api of the reference app reachable from 127.0.0.1).
// Run it with `npm run bench` (bench/run.sh prepares the toolchain and docker-compose first).
//
// Per tool and run: cold deploy (nothing -> /health 200 on the published URL), no-op deploy (the
// same command again with no change), release (APP_RELEASE 1 -> 2) under a steady load from
// loopback, counting failed requests and the longest outage, then a check that release 2 is what
// answers. Everything (containers, networks, volumes, state) is removed after each run; images
// stay. Nothing is asserted: the figures are printed and written to bench/results/latest.json.
// The exit status is non-zero only when a tool failed to deploy (or never served its release).
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { CliResult, ROOT, TestStack, run } from "../test/e2e/harness";
import { ProbeResult, startLoad } from "../test/e2e/loadProbe";

const USAGE = `Usage: npm run bench [-- OPTIONS]
       node --import tsx bench/release.ts [OPTIONS]    (in a shell prepared by the toolchain)

Deploys the same stack (Postgres, Redis, one api) with opsbook and with Docker Compose, several
times each, and prints per tool the median (min-max) of: cold deploy s, no-op deploy s, release s
(APP_RELEASE 1 -> 2 under load), failed requests and longest outage ms during the release, then
the opsbook/Compose ratios of the times. The same figures go to bench/results/latest.json.

Options:
  --runs N         runs per tool (default 3)
  --only TOOL      only one tool: opsbook or compose
  --out FILE       where to write the JSON (default bench/results/latest.json)
  -h, --help       this text

Load during a release: 4 clients from 127.0.0.1, one GET /health every 20 ms each, a new
connection per request (test/e2e/loadProbe.ts). Runs of the two tools alternate in order.
Exit status: 0 when every deploy succeeded, 1 when a tool failed to deploy, 2 on bad options.`;

type Tool = "opsbook" | "compose";
const TOOLS: Tool[] = ["opsbook", "compose"];

interface Options {
    runs: number;
    tools: Tool[];
    out: string;
}

function parseArgs(argv: string[]): Options | "help" {
    const opts: Options = { runs: 3, tools: [...TOOLS], out: path.join(ROOT, "bench", "results", "latest.json") };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined) {
                throw new UsageError(`${arg} needs a value`);
            }
            return v;
        };
        if (arg === "-h" || arg === "--help") {
            return "help";
        } else if (arg === "--runs") {
            const n = Number(value());
            if (!Number.isInteger(n) || n < 1 || n > 50) {
                throw new UsageError("--runs takes a whole number from 1 to 50");
            }
            opts.runs = n;
        } else if (arg === "--only") {
            const tool = value();
            if (!TOOLS.includes(tool as Tool)) {
                throw new UsageError(`--only takes ${TOOLS.join(" or ")}, not '${tool}'`);
            }
            opts.tools = [tool as Tool];
        } else if (arg === "--out") {
            opts.out = path.resolve(value());
        } else {
            throw new UsageError(`unknown option '${arg}'`);
        }
    }
    return opts;
}

class UsageError extends Error {}

/** A tool that did not deploy (or whose release never answered): the run's figures are void. */
class ToolFailure extends Error {
    constructor(
        readonly tool: Tool,
        readonly phase: string,
        detail: string,
    ) {
        super(`${tool}: ${phase} failed: ${detail}`);
    }
}

// ---------------------------------------------------------------------------------------------
// Progress and small helpers

const T0 = Date.now();
function progress(step: string): void {
    process.stderr.write(`[bench] ${step} (${Math.round((Date.now() - T0) / 1000)}s)\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (fromMs: number, toMs = Date.now()) => (toMs - fromMs) / 1000;

function tail(res: CliResult, lines = 40): string {
    return `${res.stdout}\n${res.stderr}`.trim().split("\n").slice(-lines).join("\n");
}

/** A port on 127.0.0.1 that nothing listens on right now. */
function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
        });
    });
}

/** One GET with its own connection; never throws. */
function probe(url: string, timeoutMs = 2000): Promise<{ status: number; release?: string }> {
    return new Promise((resolve) => {
        const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("error", () => resolve({ status: 0 }));
            res.on("end", () => {
                let release: string | undefined;
                try {
                    const body = JSON.parse(Buffer.concat(chunks).toString()) as { release?: unknown };
                    release = typeof body.release === "string" ? body.release : undefined;
                } catch {
                    // not JSON
                }
                resolve({ status: res.statusCode ?? 0, release });
            });
        });
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve({ status: 0 }));
    });
}

/** Polls every 100 ms until GET answers 200 (and, when given, with that release). */
async function waitServed(url: string, seconds: number, release?: string): Promise<number> {
    const deadline = Date.now() + seconds * 1000;
    let last = "no answer";
    while (Date.now() < deadline) {
        const res = await probe(url);
        if (res.status === 200 && (release === undefined || res.release === release)) {
            return Date.now();
        }
        last = res.status ? `HTTP ${res.status}, release ${res.release ?? "?"}` : "no answer";
        await sleep(100);
    }
    throw new Error(`${url} did not answer 200${release ? ` with release ${release}` : ""} within ${seconds}s (last: ${last})`);
}

/** Watches for the first answer carrying `release` while something else runs (every 100 ms). */
function watchRelease(url: string, release: string): { stop(): number | undefined } {
    let seenAt: number | undefined;
    let running = true;
    void (async () => {
        while (running && seenAt === undefined) {
            const started = Date.now();
            const res = await probe(url, 1000);
            if (res.status === 200 && res.release === release) {
                seenAt = started;
            }
            await sleep(100);
        }
    })();
    return {
        stop() {
            running = false;
            return seenAt;
        },
    };
}

// ---------------------------------------------------------------------------------------------
// The two tools behind one interface

interface Subject {
    readonly tool: Tool;
    /** Untimed preparation: the stack and its config, or the project directory and .env. */
    setup(): Promise<void>;
    /** `pulumi up --yes` / `docker-compose up -d` with whatever the config says now. */
    deploy(): Promise<CliResult>;
    /** Sets APP_RELEASE (config or file), then deploys. */
    release(value: string): Promise<CliResult>;
    /** Base URL of the api on 127.0.0.1. */
    url(): Promise<string>;
    /** What the last deploy changed, as the tool reports it (for checking that a no-op was one). */
    changes(res: CliResult): string;
    /** Removes containers, networks, volumes and state. */
    teardown(): Promise<void>;
}

const OPSBOOK_CONFIG = `config:
  opsbook:release: "1"
  opsbook:services:
    api:
      env:
        APP_ROLE: api
      uses: [postgres, redis]
`;

/** A throwaway opsbook stack (own state dir and passphrase), as the e2e tests use. */
class OpsbookSubject implements Subject {
    readonly tool = "opsbook" as const;
    private stack: TestStack | undefined;

    async setup(): Promise<void> {
        // The `e2e-` prefix keeps the stack's Pulumi.<stack>.yaml under the repo's .gitignore.
        this.stack = new TestStack("e2e-bench");
        await this.stack.init(OPSBOOK_CONFIG);
    }

    private get s(): TestStack {
        if (!this.stack) {
            throw new Error("setup() first");
        }
        return this.stack;
    }

    deploy(): Promise<CliResult> {
        return this.s.up();
    }

    async release(value: string): Promise<CliResult> {
        const set = await this.s.pulumi(["config", "set", "opsbook:release", value]);
        if (set.code !== 0) {
            return set;
        }
        return this.s.up();
    }

    async url(): Promise<string> {
        const outputs = await this.s.outputs();
        const url = outputs.endpoints?.api;
        if (typeof url !== "string") {
            throw new ToolFailure("opsbook", "stack output", `no endpoints.api in ${JSON.stringify(Object.keys(outputs))}`);
        }
        return url;
    }

    changes(res: CliResult): string {
        // The "Resources:" block of `pulumi up` and its "Duration:" (the update, without preview).
        const out = res.stdout.split("\n");
        // The last one: the preview prints its own block first.
        const start = out.map((l) => l.trim()).lastIndexOf("Resources:");
        if (start < 0) {
            return "?";
        }
        const block: string[] = [];
        for (const line of out.slice(start + 1)) {
            if (line.trim() !== "") {
                block.push(line.trim());
            }
            if (line.startsWith("Duration")) {
                break;
            }
        }
        return block.join("; ");
    }

    async teardown(): Promise<void> {
        // Cleared first: an interrupt may call this while a run's own teardown is under way.
        const stack = this.stack;
        this.stack = undefined;
        await stack?.dispose();
    }
}

/** A Compose project in a private directory: the file from bench/ and an .env with secrets. */
class ComposeSubject implements Subject {
    readonly tool = "compose" as const;
    private dir = "";
    private project = "";
    private port = 0;
    private tearingDown = false;

    async setup(): Promise<void> {
        this.project = `opsbook-bench-${crypto.randomBytes(3).toString("hex")}`;
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-bench-compose-"));
        fs.chmodSync(this.dir, 0o700);
        this.port = await freePort();
        fs.copyFileSync(path.join(ROOT, "bench", "compose.yml"), path.join(this.dir, "compose.yml"));
        const secret = () => crypto.randomBytes(24).toString("hex");
        // Compose reads .env from the project directory (the compose file's); never printed.
        fs.writeFileSync(
            path.join(this.dir, ".env"),
            `POSTGRES_PASSWORD=${secret()}\nREDIS_PASSWORD=${secret()}\nBENCH_API_PORT=${this.port}\n`,
            { mode: 0o600 },
        );
    }

    private compose(args: string[]): Promise<CliResult> {
        // The shell's own values would win over .env: keep them out.
        const env = { ...process.env };
        for (const key of ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "BENCH_API_PORT", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE"]) {
            delete env[key];
        }
        return run("docker-compose", ["-p", this.project, "-f", path.join(this.dir, "compose.yml"), ...args], {
            cwd: this.dir,
            env: { ...env, COMPOSE_INTERACTIVE_NO_CLI: "1" },
        });
    }

    deploy(): Promise<CliResult> {
        return this.compose(["up", "-d"]);
    }

    async release(value: string): Promise<CliResult> {
        const file = path.join(this.dir, "compose.yml");
        const text = fs.readFileSync(file, "utf8");
        const next = text.replace(/^(\s+APP_RELEASE: )"[^"]*"$/m, `$1"${value}"`);
        if (next === text) {
            throw new Error(`no APP_RELEASE line to change in ${file}`);
        }
        fs.writeFileSync(file, next);
        return this.deploy();
    }

    async url(): Promise<string> {
        return `http://127.0.0.1:${this.port}`;
    }

    changes(res: CliResult): string {
        // Compose v1 reports each object once or twice ("Creating x ..." then "Creating x ... done")
        // and "x is up-to-date" for an unchanged container: count objects, not lines.
        const seen = new Set<string>();
        const counts: Record<string, number> = {};
        for (const line of `${res.stdout}\n${res.stderr}`.split("\n")) {
            const m = /^(Creating|Recreating|Starting|Stopping|Removing) (.+?)(?: \.\.\..*)?$|^(\S+) is (up-to-date)$/.exec(line.trim());
            if (m) {
                const verb = (m[1] ?? m[4]).toLowerCase();
                const key = `${verb} ${(m[2] ?? m[3]).trim()}`;
                if (!seen.has(key)) {
                    seen.add(key);
                    counts[verb] = (counts[verb] ?? 0) + 1;
                }
            }
        }
        return (
            Object.entries(counts)
                .map(([verb, n]) => `${n} ${verb}`)
                .join(", ") || "?"
        );
    }

    async teardown(): Promise<void> {
        if (!this.dir || this.tearingDown) {
            return;
        }
        this.tearingDown = true;
        const down = await this.compose(["down", "-v", "--remove-orphans", "-t", "10"]);
        if (down.code !== 0) {
            progress(`compose: down failed (exit ${down.code}):\n${tail(down, 10)}`);
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
        this.dir = "";
    }
}

// ---------------------------------------------------------------------------------------------
// One run of one tool

interface RunResult {
    tool: Tool;
    run: number;
    ok: boolean;
    error?: string;
    /** Load average and running containers (all, from any stack) when the run started. */
    loadAverage1m: number;
    runningContainersAtStart: number;
    /** See sourceFingerprint(): equal across runs when they measured the same code and images. */
    sourceFingerprint: string;
    coldS?: number;
    /** Of coldS: the deploy command alone; the rest is waiting for the first 200. */
    coldCommandS?: number;
    coldChanges?: string;
    noopS?: number;
    noopChanges?: string;
    /** Time from the release command's start until it exited and release 2 answered. */
    releaseS?: number;
    /** Of releaseS: the command alone (config set + up for opsbook; up -d for Compose). */
    releaseCommandS?: number;
    /** When release 2 first answered, from the command's start (before the command exits for opsbook). */
    releaseFirstServedS?: number;
    releaseChanges?: string;
    requests?: number;
    failed?: number;
    longestOutageMs?: number;
    failures?: Record<string, number>;
    releaseServed?: boolean;
    urlUnchanged?: boolean;
    teardownS?: number;
}

const LOAD = { concurrency: 4, intervalMs: 20 };
const NEW_RELEASE = "2";

/**
 * A hash of what the Pulumi program reads (program, components, providers, presets, policies,
 * project file, lockfile) and of the local images it deploys. Recorded per run: when it changes
 * during a benchmark (someone edits the tree or rebuilds an image), the runs are not comparable.
 */
async function sourceFingerprint(): Promise<string> {
    const files: string[] = [];
    const walk = (rel: string) => {
        const full = path.join(ROOT, rel);
        if (!fs.existsSync(full)) {
            return;
        }
        if (fs.statSync(full).isDirectory()) {
            for (const entry of fs.readdirSync(full)) {
                walk(path.join(rel, entry));
            }
        } else {
            files.push(rel);
        }
    };
    for (const rel of ["index.ts", "config.ts", "Pulumi.yaml", "package-lock.json", "components", "providers", "presets", "policies"]) {
        walk(rel);
    }
    const hash = crypto.createHash("sha256");
    for (const rel of files.sort()) {
        hash.update(`${rel}\0`).update(fs.readFileSync(path.join(ROOT, rel))).update("\0");
    }
    const images = await run("docker", ["image", "inspect", "--format", "{{.Id}}", ...IMAGES]);
    hash.update(images.stdout);
    return hash.digest("hex").slice(0, 12);
}

const IMAGES = ["opsbook/postgres:15", "opsbook/redis:7", "opsbook/app:reference", "opsbook/gateway:1"];

async function runningContainers(): Promise<number> {
    const res = await run("docker", ["ps", "-q"]);
    return res.stdout.split("\n").filter(Boolean).length;
}

let current: Subject | undefined;
let interrupted = false;

async function measure(subject: Subject, runNo: number, runs: number): Promise<RunResult> {
    const label = `${subject.tool} run ${runNo}/${runs}`;
    const result: RunResult = {
        tool: subject.tool,
        run: runNo,
        ok: false,
        loadAverage1m: Number(os.loadavg()[0].toFixed(2)),
        runningContainersAtStart: await runningContainers(),
        sourceFingerprint: await sourceFingerprint(),
    };
    current = subject;
    try {
        progress(`${label}: setup`);
        await subject.setup();

        progress(`${label}: cold deploy`);
        const coldStart = Date.now();
        const cold = await subject.deploy();
        result.coldCommandS = seconds(coldStart);
        if (cold.code !== 0) {
            throw new ToolFailure(subject.tool, "cold deploy", `exit ${cold.code}\n${tail(cold)}`);
        }
        result.coldChanges = subject.changes(cold);
        const base = await subject.url();
        await waitServed(`${base}/health`, 180).catch((err: Error) => {
            throw new ToolFailure(subject.tool, "cold deploy", err.message);
        });
        result.coldS = seconds(coldStart);
        progress(`${label}: cold deploy ${result.coldS.toFixed(1)}s (command ${result.coldCommandS.toFixed(1)}s)`);

        progress(`${label}: no-op deploy`);
        const noopStart = Date.now();
        const noop = await subject.deploy();
        result.noopS = seconds(noopStart);
        if (noop.code !== 0) {
            throw new ToolFailure(subject.tool, "no-op deploy", `exit ${noop.code}\n${tail(noop)}`);
        }
        result.noopChanges = subject.changes(noop);
        progress(`${label}: no-op deploy ${result.noopS.toFixed(1)}s (${result.noopChanges})`);

        progress(`${label}: release ${NEW_RELEASE} under load`);
        const load = startLoad(`${base}/health`, LOAD.concurrency, LOAD.intervalMs);
        const watcher = watchRelease(`${base}/health`, NEW_RELEASE);
        await sleep(1000);
        const releaseStart = Date.now();
        let rel: CliResult;
        let servedAt: number | undefined;
        let stats: ProbeResult;
        try {
            rel = await subject.release(NEW_RELEASE);
            result.releaseCommandS = seconds(releaseStart);
            if (rel.code === 0) {
                servedAt = await waitServed(`${base}/health`, 60, NEW_RELEASE).catch(() => undefined);
            }
            await sleep(1000);
        } finally {
            stats = await load.stop();
            const firstSeen = watcher.stop();
            result.releaseFirstServedS = firstSeen !== undefined ? seconds(releaseStart, firstSeen) : undefined;
        }
        if (rel.code !== 0) {
            throw new ToolFailure(subject.tool, "release", `exit ${rel.code}\n${tail(rel)}`);
        }
        result.releaseChanges = subject.changes(rel);
        result.requests = stats.requests;
        result.failed = stats.failed;
        result.longestOutageMs = stats.longestOutageMs;
        result.failures = stats.failures;
        const after = await probe(`${base}/health`);
        result.releaseServed = servedAt !== undefined && after.status === 200 && after.release === NEW_RELEASE && stats.lastRelease === NEW_RELEASE;
        result.urlUnchanged = (await subject.url()) === base;
        if (!result.releaseServed || servedAt === undefined) {
            throw new ToolFailure(
                subject.tool,
                "release",
                `release ${NEW_RELEASE} is not what answers afterwards (GET /health: ${after.status}, release ${after.release ?? "?"}; last seen under load: ${stats.lastRelease ?? "?"})`,
            );
        }
        result.releaseS = seconds(releaseStart, Math.max(servedAt, releaseStart + result.releaseCommandS * 1000));
        progress(
            `${label}: release ${result.releaseS.toFixed(1)}s (command ${result.releaseCommandS.toFixed(1)}s, first served at ` +
                `${result.releaseFirstServedS?.toFixed(1) ?? "?"}s); ${stats.requests} requests, ${stats.failed} failed, ` +
                `longest outage ${stats.longestOutageMs} ms${stats.failed ? ` ${JSON.stringify(stats.failures)}` : ""}`,
        );
        result.ok = true;
    } catch (err) {
        result.error = err instanceof Error ? err.message : String(err);
        progress(`${label}: FAILED: ${result.error}`);
        if (!(err instanceof ToolFailure)) {
            throw err;
        }
    } finally {
        progress(`${label}: teardown`);
        const downStart = Date.now();
        await subject.teardown();
        result.teardownS = seconds(downStart);
        current = undefined;
    }
    return result;
}

// ---------------------------------------------------------------------------------------------
// Summary

interface Stat {
    median: number;
    min: number;
    max: number;
    n: number;
}

function stat(values: (number | undefined)[]): Stat | undefined {
    const xs = values.filter((v): v is number => typeof v === "number").sort((a, b) => a - b);
    if (xs.length === 0) {
        return undefined;
    }
    const mid = Math.floor(xs.length / 2);
    const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
    return { median, min: xs[0], max: xs[xs.length - 1], n: xs.length };
}

const METRICS = [
    { key: "coldS", label: "cold deploy s", digits: 1, ratio: true },
    { key: "noopS", label: "no-op deploy s", digits: 1, ratio: true },
    { key: "releaseS", label: "release s", digits: 1, ratio: true },
    { key: "failed", label: "failed requests", digits: 0, ratio: false },
    { key: "longestOutageMs", label: "longest outage ms", digits: 0, ratio: false },
] as const;
type MetricKey = (typeof METRICS)[number]["key"];

function summarise(results: RunResult[], tools: Tool[]) {
    const summary: Partial<Record<Tool, Partial<Record<MetricKey | "teardownS" | "releaseCommandS" | "releaseFirstServedS", Stat>>>> = {};
    for (const tool of tools) {
        const ok = results.filter((r) => r.tool === tool && r.ok);
        const perTool: Partial<Record<MetricKey | "teardownS" | "releaseCommandS" | "releaseFirstServedS", Stat>> = {};
        for (const key of [...METRICS.map((m) => m.key), "teardownS", "releaseCommandS", "releaseFirstServedS"] as const) {
            const s = stat(ok.map((r) => r[key]));
            if (s) {
                perTool[key] = s;
            }
        }
        summary[tool] = perTool;
    }
    const ratios: Partial<Record<MetricKey, number>> = {};
    for (const m of METRICS.filter((x) => x.ratio)) {
        const a = summary.opsbook?.[m.key]?.median;
        const b = summary.compose?.[m.key]?.median;
        if (a !== undefined && b !== undefined && b > 0) {
            ratios[m.key] = Number((a / b).toFixed(2));
        }
    }
    return { summary, ratios };
}

function table(results: RunResult[], tools: Tool[]): string {
    const { summary, ratios } = summarise(results, tools);
    const fmt = (s: Stat | undefined, digits: number) =>
        s ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})` : "n/a";
    const header = ["", ...tools.map((t) => `${t} median (min–max)`), ...(tools.length === 2 ? ["opsbook/compose"] : [])];
    const rows = METRICS.map((m) => [
        m.label,
        ...tools.map((t) => fmt(summary[t]?.[m.key], m.digits)),
        ...(tools.length === 2 ? [m.ratio && ratios[m.key] !== undefined ? `${ratios[m.key]!.toFixed(2)}x` : "—"] : []),
    ]);
    const all = [header, ...rows];
    const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("   ");
    const prints = [...new Set(results.map((r) => r.sourceFingerprint))];
    const changed =
        prints.length > 1
            ? [`WARNING: the project's sources or images changed during the benchmark (fingerprints ${prints.join(", ")}): runs are not comparable.`]
            : [];
    const okRuns = tools.map((t) => `${t} ${results.filter((r) => r.tool === t && r.ok).length}/${results.filter((r) => r.tool === t).length}`);
    return [line(header), ...rows.map(line), `runs that deployed: ${okRuns.join(", ")}`, ...changed].join("\n");
}

// ---------------------------------------------------------------------------------------------

async function version(cmd: string, args: string[]): Promise<string> {
    const res = await run(cmd, args).catch(() => undefined);
    return res && res.code === 0 ? res.stdout.trim().split("\n")[0] : "unknown";
}

async function main(): Promise<number> {
    let opts: Options | "help";
    try {
        opts = parseArgs(process.argv.slice(2));
    } catch (err) {
        if (err instanceof UsageError) {
            process.stderr.write(`bench: ${err.message}\n\n${USAGE}\n`);
            return 2;
        }
        throw err;
    }
    if (opts === "help") {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }

    for (const [cmd, hint] of [
        ["pulumi", "run 'eval \"$(npm run -s toolchain)\"' first, or use npm run bench"],
        ["docker-compose", "apt-get install docker-compose, or use npm run bench"],
    ] as const) {
        if (opts.tools.includes(cmd === "pulumi" ? "opsbook" : "compose") && (await version(cmd, ["version"])) === "unknown") {
            process.stderr.write(`bench: \`${cmd}\` does not run; ${hint}\n`);
            return 1;
        }
    }
    const host = {
        cpus: os.cpus().length,
        memoryGb: Number((os.totalmem() / 2 ** 30).toFixed(1)),
        dockerEngine: await version("docker", ["version", "--format", "{{.Server.Version}}"]),
        pulumi: await version("pulumi", ["version"]),
        dockerCompose: await version("docker-compose", ["version", "--short"]),
        gitHead: await version("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]),
    };
    progress(`${opts.runs} run(s) of ${opts.tools.join(" and ")}; engine ${host.dockerEngine}, pulumi ${host.pulumi}, docker-compose ${host.dockerCompose}`);

    const interrupt = (signal: NodeJS.Signals) => {
        interrupted = true;
        progress(`${signal}: tearing down what this run made`);
        void (current ? current.teardown() : Promise.resolve()).finally(() => process.exit(130));
    };
    process.once("SIGINT", interrupt);
    process.once("SIGTERM", interrupt);

    const results: RunResult[] = [];
    for (let i = 1; i <= opts.runs; i++) {
        // Alternate which tool goes first, so neither always gets the quieter machine.
        const order = i % 2 === 1 ? opts.tools : [...opts.tools].reverse();
        for (const tool of order) {
            if (interrupted) {
                // The signal handler exits once its teardown is done; start nothing new.
                return new Promise<number>(() => undefined);
            }
            results.push(await measure(tool === "opsbook" ? new OpsbookSubject() : new ComposeSubject(), i, opts.runs));
        }
    }

    const text = table(results, opts.tools);
    process.stdout.write(`\n${text}\n`);
    const { summary, ratios } = summarise(results, opts.tools);
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.writeFileSync(
        opts.out,
        `${JSON.stringify(
            {
                generatedAt: new Date().toISOString(),
                command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
                runsPerTool: opts.runs,
                load: { ...LOAD, path: "/health", newConnectionPerRequest: true },
                host,
                summary,
                ratiosOpsbookOverCompose: ratios,
                table: text.split("\n"),
                runs: results,
            },
            null,
            2,
        )}\n`,
    );
    progress(`wrote ${path.relative(process.cwd(), opts.out) || opts.out}`);
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) {
        progress(`${failed.length} run(s) failed to deploy: ${failed.map((r) => `${r.tool} run ${r.run}`).join(", ")}`);
        return 1;
    }
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err: unknown) => {
        progress(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        process.exit(1);
    },
);
