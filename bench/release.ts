// Release benchmark: opsbook against Docker Compose (v1) and against Swarm's own CLI
// (`docker stack deploy`) on the same engine, the same images and the same topology (Postgres,
// Redis, one api of the reference app reachable from 127.0.0.1). Run it with `npm run bench`
// (bench/run.sh prepares the toolchain and docker-compose first).
//
// Per tool and run: cold deploy (nothing -> /health 200 on the published URL), no-op deploy (the
// same command again with no change; for opsbook also `pulumi up --skip-preview`), release
// (APP_RELEASE 1 -> 2) under a steady load from loopback, counting failed requests and the longest
// outage, then a check that release 2 is what answers. Every deploy command's peak memory (RSS
// of its whole process tree, sampled every 100 ms, 10 ms in its first second) is recorded. Everything (services, containers,
// networks, volumes, secrets, configs, state) is removed after each run; images stay. Nothing is
// asserted: the figures and the goals are printed and written to bench/results/latest.json.
// The exit status is non-zero only when a tool failed to deploy (or never served its release).
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ProbeResult, startLoad } from "../test/e2e/loadProbe";

const ROOT = path.resolve(__dirname, "..");

const USAGE = `Usage: npm run bench [-- OPTIONS]
       node --import tsx bench/release.ts [OPTIONS]    (in a shell prepared by the toolchain)

Deploys the same stack (Postgres, Redis, one api) with opsbook, with Docker Compose and with
\`docker stack deploy\`, several times each, and prints per tool the median (min-max) of: cold
deploy s, no-op deploy s (opsbook: \`pulumi up\` as \`npm run deploy\` runs it, with its preview
and the policy pack, and \`pulumi up --skip-preview\`), release s (APP_RELEASE 1 -> 2 under load),
failed requests and longest outage ms during the release, peak memory of the deploy command's
process tree; then the opsbook/Compose and opsbook/stack ratios of the times, the goals, the
floors measured in the same runs (a no-op \`pulumi up\` of an empty JavaScript program; Swarm's own
start-first, health-gated \`docker service update\` of opsbook's api until completed), and the
load average at start and end. The same figures go to bench/results/latest.json.

Options:
  --runs N         runs per tool (default 3)
  --only TOOLS     only these tools, comma-separated: opsbook, compose, stack
  --out FILE       where to write the JSON (default bench/results/latest.json)
  -h, --help       this text

Load during a release: 4 clients from 127.0.0.1, one GET /health every 20 ms each, a new
connection per request (test/e2e/loadProbe.ts). The order of the tools rotates from run to run.
Exit status: 0 when every deploy succeeded, 1 when a tool failed to deploy, 2 on bad options.`;

type Tool = "opsbook" | "compose" | "stack";
const TOOLS: Tool[] = ["opsbook", "compose", "stack"];
const TOOL_LABEL: Record<Tool, string> = { opsbook: "opsbook", compose: "Compose", stack: "docker stack" };

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
            const tools = value().split(",").map((t) => t.trim());
            for (const tool of tools) {
                if (!TOOLS.includes(tool as Tool)) {
                    throw new UsageError(`--only takes ${TOOLS.join(", ")} (comma-separated), not '${tool}'`);
                }
            }
            opts.tools = TOOLS.filter((t) => tools.includes(t));
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
// Commands, with the peak memory of their process tree

export interface CliResult {
    code: number;
    stdout: string;
    stderr: string;
    /** Wall time of the command, s. */
    seconds: number;
    /** Highest sum of RSS over the command's process tree (it and every descendant), MiB. */
    peakRssMb: number;
    /** Most processes seen in the tree at once. */
    peakProcesses: number;
    /** At the peak: MiB by process name (the same names summed, e.g. both `node` programs). */
    peakByProcess: Record<string, number>;
}

function byName(each: Map<number, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [pid, kb] of each) {
        const name = processName(pid);
        out[name] = (out[name] ?? 0) + kb;
    }
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v / 1024)]));
}

const PAGE_KB = 4;

/** The pid and every descendant of it now (through /proc/<pid>/task/<tid>/children). */
function processTree(root: number): number[] {
    const seen: number[] = [];
    const queue = [root];
    while (queue.length > 0) {
        const pid = queue.pop()!;
        seen.push(pid);
        let tids: string[];
        try {
            tids = fs.readdirSync(`/proc/${pid}/task`);
        } catch {
            continue; // gone
        }
        for (const tid of tids) {
            try {
                for (const child of fs.readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ")) {
                    if (child.trim()) {
                        queue.push(Number(child));
                    }
                }
            } catch {
                // thread or process gone
            }
        }
    }
    return seen;
}

/** Resident memory of each process, KiB (statm's resident pages), by pid. */
function rssKb(pids: number[]): Map<number, number> {
    const out = new Map<number, number>();
    for (const pid of pids) {
        try {
            out.set(pid, Number(fs.readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * PAGE_KB);
        } catch {
            // gone
        }
    }
    return out;
}

/** A process's short name, with the script node runs (`node:run-policy-pack`), for the breakdown. */
function processName(pid: number): string {
    try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
        const base = path.basename(argv[0] ?? "?");
        if (base === "node") {
            const script = argv.slice(1).find((a) => !a.startsWith("-"));
            return script ? `node:${path.basename(script)}` : "node";
        }
        return base;
    } catch {
        return "?";
    }
}

/**
 * Runs a command to its end (or `timeoutS`, then SIGTERM to its tree), sampling the resident
 * memory of its whole process tree every 100 ms (10 ms in its first second): the Pulumi CLI, its
 * language host, the Node.js program, the policy pack and the provider plugins all count.
 */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutS?: number } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
        const started = Date.now();
        const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (c: Buffer) => out.push(c));
        child.stderr.on("data", (c: Buffer) => err.push(c));
        let peakKb = 0;
        let peakProcs = 0;
        // Named when the peak is seen: the processes may be gone by the end.
        let peakAt: Record<string, number> = {};
        let lastTree: number[] = [];
        const sample = () => {
            if (child.pid === undefined) {
                return;
            }
            lastTree = processTree(child.pid);
            peakProcs = Math.max(peakProcs, lastTree.length);
            const each = rssKb(lastTree);
            const total = [...each.values()].reduce((a, b) => a + b, 0);
            if (total > peakKb) {
                peakKb = total;
                peakAt = byName(each);
            }
        };
        // Every 10 ms for the first second (the docker CLI is done in about 0.1 s), then every 100 ms.
        let timer: NodeJS.Timeout | undefined;
        const tick = () => {
            sample();
            timer = setTimeout(tick, Date.now() - started < 1000 ? 10 : 100);
        };
        tick();
        const killer = opts.timeoutS
            ? setTimeout(() => {
                  err.push(Buffer.from(`\n[bench] ${cmd} timed out after ${opts.timeoutS}s; terminated\n`));
                  for (const pid of lastTree.reverse()) {
                      try {
                          process.kill(pid, "SIGTERM");
                      } catch {
                          // gone
                      }
                  }
              }, opts.timeoutS * 1000)
            : undefined;
        const finish = (code: number) => {
            clearTimeout(timer);
            if (killer) {
                clearTimeout(killer);
            }
            resolve({
                code,
                stdout: Buffer.concat(out).toString(),
                stderr: Buffer.concat(err).toString(),
                seconds: (Date.now() - started) / 1000,
                peakRssMb: Math.round(peakKb / 1024),
                peakProcesses: peakProcs,
                peakByProcess: peakAt,
            });
        };
        child.on("error", (e: Error) => {
            err.push(Buffer.from(String(e)));
            finish(127);
        });
        child.on("close", (code, signal) => finish(code ?? (signal ? 128 : 1)));
    });
}

function docker(...args: string[]): Promise<CliResult> {
    return run("docker", args, { timeoutS: 120 });
}

async function dockerList(kind: "service" | "secret" | "config" | "volume" | "network", label: string): Promise<string[]> {
    const res = await docker(kind, "ls", "--filter", `label=${label}`, "--format", "{{.Name}}");
    return res.stdout.split("\n").filter(Boolean).sort();
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
// The three tools behind one interface

interface Subject {
    readonly tool: Tool;
    /** Untimed preparation: the stack and its config, or the project directory and its files. */
    setup(): Promise<void>;
    /** The tool's deploy command with whatever the config says now. */
    deploy(): Promise<CliResult>;
    /** opsbook only: the same deploy without the preview (`pulumi up --skip-preview`). */
    deploySkipPreview?(): Promise<CliResult>;
    /** opsbook only, after the release, untimed by the others: what no tool on this engine can beat (see Floors). */
    floors?(): Promise<Floors>;
    /** Sets APP_RELEASE (config or file), then deploys; `seconds`/`peakRssMb` cover both steps. */
    release(value: string): Promise<CliResult>;
    /** Base URL of the api on 127.0.0.1. */
    url(): Promise<string>;
    /** What the last deploy changed, as the tool reports it (for checking that a no-op was one). Untimed. */
    changes(res: CliResult): string | Promise<string>;
    /** Removes services, containers, networks, volumes, secrets, configs and state. */
    teardown(): Promise<void>;
}

/**
 * The bench topology as an opsbook stack: Postgres, Redis and one api that uses both; no backups
 * (the peers have none). `bench/noop-breakdown.sh` reads this literal too.
 */
const OPSBOOK_CONFIG = `config:
  opsbook:release: "1"
  opsbook:backups:
    enabled: false
  opsbook:services:
    api:
      env:
        APP_ROLE: api
      uses: [postgres, redis]
`;

/** `pulumi up` never takes longer than this here; a hung one is ended so the bench can go on. */
const DEPLOY_TIMEOUT_S = 600;

/**
 * A throwaway opsbook stack with its own state directory and passphrase, deployed the way
 * `npm run deploy` deploys (`pulumi up` with its preview and the policy pack, staging's config).
 */
class OpsbookSubject implements Subject {
    readonly tool = "opsbook" as const;
    private name = "";
    private stateDir = "";
    private configFile = "";
    private env: NodeJS.ProcessEnv = {};

    async setup(): Promise<void> {
        // The `e2e-` prefix keeps the stack's Pulumi.<stack>.yaml under the repo's .gitignore.
        this.name = `e2e-bench-${crypto.randomBytes(3).toString("hex")}`;
        this.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-bench-state-"));
        this.configFile = path.join(ROOT, `Pulumi.${this.name}.yaml`);
        this.env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${this.stateDir}`,
            PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(16).toString("hex"),
            PULUMI_CONFIG_PASSPHRASE_FILE: "",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        };
        fs.writeFileSync(this.configFile, OPSBOOK_CONFIG);
        const init = await this.pulumi(["stack", "init", this.name, "--non-interactive"]);
        if (init.code !== 0) {
            throw new ToolFailure("opsbook", "stack init", tail(init));
        }
    }

    private pulumi(args: string[]): Promise<CliResult> {
        const stackArgs = args[0] === "stack" && args[1] === "init" ? [] : ["--stack", this.name];
        return run("pulumi", [...args, ...stackArgs], { env: this.env, cwd: ROOT, timeoutS: DEPLOY_TIMEOUT_S });
    }

    private up(extra: string[] = []): Promise<CliResult> {
        return this.pulumi([
            "up",
            "--yes",
            "--non-interactive",
            ...extra,
            "--policy-pack",
            path.join(ROOT, "policies"),
            "--policy-pack-config",
            path.join(ROOT, "policies", "config", "staging.json"),
        ]);
    }

    deploy(): Promise<CliResult> {
        return this.up();
    }

    deploySkipPreview(): Promise<CliResult> {
        return this.up(["--skip-preview"]);
    }

    async release(value: string): Promise<CliResult> {
        const set = await this.pulumi(["config", "set", "opsbook:release", value]);
        if (set.code !== 0) {
            return set;
        }
        const up = await this.up();
        return { ...up, seconds: set.seconds + up.seconds, ...(set.peakRssMb > up.peakRssMb ? { peakRssMb: set.peakRssMb, peakByProcess: set.peakByProcess } : {}) };
    }

    async floors(): Promise<Floors> {
        const floors: Floors = {};
        // The engine's cost: an empty program in a throwaway project, sharing this project's
        // node_modules (the same @pulumi/pulumi), its state beside this stack's.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-bench-empty-"));
        try {
            fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: empty\nruntime:\n  name: nodejs\n  options:\n    typescript: false\n");
            fs.writeFileSync(path.join(dir, "package.json"), '{"name": "empty", "main": "index.js"}\n');
            fs.writeFileSync(path.join(dir, "index.js"), "// No resources: what the Pulumi engine costs by itself.\n");
            fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
            const empty = (args: string[]) => run("pulumi", [...args, "--stack", "empty", "--non-interactive"], { env: this.env, cwd: dir, timeoutS: 120 });
            const init = await run("pulumi", ["stack", "init", "empty", "--non-interactive"], { env: this.env, cwd: dir, timeoutS: 60 });
            const first = init.code === 0 ? await empty(["up", "--yes", "--skip-preview"]) : init;
            if (first.code === 0) {
                const withPreview = await empty(["up", "--yes"]);
                const skip = await empty(["up", "--yes", "--skip-preview"]);
                floors.emptyProgramNoopS = withPreview.code === 0 ? withPreview.seconds : undefined;
                floors.emptyProgramNoopSkipPreviewS = skip.code === 0 ? skip.seconds : undefined;
            } else {
                progress(`opsbook: the empty program did not deploy (exit ${first.code}):\n${tail(first, 10)}`);
            }
            await empty(["stack", "rm", "--yes", "--force"]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // Swarm's cost of a gapless release: the api service as deployed, one env change.
        const outputs = JSON.parse((await this.pulumi(["stack", "output", "--json"])).stdout || "{}") as { services?: Record<string, string> };
        const api = outputs.services?.api;
        if (api) {
            const started = Date.now();
            const update = await docker("service", "update", "--detach", "--quiet", "--env-add", "APP_RELEASE=floor", api);
            const deadline = started + 120_000;
            let state = "";
            while (update.code === 0 && Date.now() < deadline) {
                state = (await docker("service", "inspect", "--format", "{{.UpdateStatus.State}}", api)).stdout.trim();
                if (state === "completed") {
                    floors.swarmGatedUpdateS = seconds(started);
                    break;
                }
                await sleep(100);
            }
            if (floors.swarmGatedUpdateS === undefined) {
                progress(`opsbook: Swarm's own update of ${api} did not complete (exit ${update.code}, state ${state || "?"})`);
            }
        }
        return floors;
    }

    async url(): Promise<string> {
        const res = await this.pulumi(["stack", "output", "--json"]);
        let outputs: Record<string, any> = {};
        try {
            outputs = JSON.parse(res.stdout);
        } catch {
            // reported below
        }
        const url = outputs.endpoints?.api;
        if (typeof url !== "string") {
            throw new ToolFailure("opsbook", "stack output", `no endpoints.api in ${JSON.stringify(Object.keys(outputs))} (${res.stderr.trim()})`);
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
        const name = this.name;
        if (!name) {
            return;
        }
        this.name = "";
        const label = `opsbook.stack=${name}`;
        const destroy = await run("pulumi", ["destroy", "--yes", "--non-interactive", "--skip-preview", "--stack", name], { env: this.env, timeoutS: DEPLOY_TIMEOUT_S });
        if (destroy.code !== 0) {
            progress(`opsbook: pulumi destroy failed (exit ${destroy.code}); removing the stack's engine objects by label:\n${tail(destroy, 10)}`);
        }
        await run("pulumi", ["stack", "rm", "--yes", "--force", "--non-interactive", "--stack", name], { env: this.env, timeoutS: 120 });
        // Whatever a failed destroy left, by the label every object of a stack carries: services
        // first (their tasks go with them), then standalone containers, then what tasks held.
        for (const svc of await dockerList("service", label)) {
            await docker("service", "rm", svc);
        }
        const containers = await docker("ps", "-aq", "--filter", `label=${label}`);
        for (const id of containers.stdout.split("\n").filter(Boolean)) {
            await docker("rm", "-f", id);
        }
        await waitGone(`label=${label}`);
        for (const kind of ["secret", "config"] as const) {
            for (const name of await dockerList(kind, label)) {
                await docker(kind, "rm", name);
            }
        }
        // Volumes are kept by `pulumi destroy` (keepDataOnDestroy): the bench removes them.
        for (const v of await dockerList("volume", label)) {
            await docker("volume", "rm", "-f", v);
        }
        for (const n of await dockerList("network", label)) {
            await docker("network", "rm", n);
        }
        fs.rmSync(this.configFile, { force: true });
        fs.rmSync(this.stateDir, { recursive: true, force: true });
    }
}

/** Waits (up to 60 s) until no container matches the filter: a removed service's tasks take a moment. */
async function waitGone(filter: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
        const res = await docker("ps", "-aq", "--filter", filter);
        if (res.stdout.trim() === "") {
            return;
        }
        await sleep(500);
    }
}

/** Writes `body` to a new file readable by its owner alone. */
function writePrivate(file: string, body: string): void {
    fs.writeFileSync(file, body, { mode: 0o600 });
}

const secret = () => crypto.randomBytes(24).toString("hex");

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
        // Compose reads .env from the project directory (the compose file's); never printed.
        writePrivate(
            path.join(this.dir, ".env"),
            `POSTGRES_PASSWORD=${secret()}\nREDIS_PASSWORD=${secret()}\nBENCH_API_PORT=${this.port}\nOPSBOOK_PROBE=${probePath()}\n`,
        );
    }

    private compose(args: string[]): Promise<CliResult> {
        // The shell's own values would win over .env: keep them out.
        const env = { ...process.env };
        for (const key of ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "BENCH_API_PORT", "OPSBOOK_PROBE", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE"]) {
            delete env[key];
        }
        return run("docker-compose", ["-p", this.project, "-f", path.join(this.dir, "compose.yml"), ...args], {
            cwd: this.dir,
            env: { ...env, COMPOSE_INTERACTIVE_NO_CLI: "1" },
            timeoutS: DEPLOY_TIMEOUT_S,
        });
    }

    deploy(): Promise<CliResult> {
        return this.compose(["up", "-d"]);
    }

    async release(value: string): Promise<CliResult> {
        setAppRelease(path.join(this.dir, "compose.yml"), value);
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


/** Sets the APP_RELEASE line of a Compose-format file (the peers' release step). */
function setAppRelease(file: string, value: string): void {
    const text = fs.readFileSync(file, "utf8");
    const next = text.replace(/^(\s+APP_RELEASE: )"[^"]*"$/m, `$1"${value}"`);
    if (next === text) {
        throw new Error(`no APP_RELEASE line to change in ${file}`);
    }
    fs.writeFileSync(file, next);
}

/** The toolchain's static HTTP probe, which every tool's api health check runs. */
function probePath(): string {
    const probe = process.env.OPSBOOK_PROBE;
    if (!probe || !fs.existsSync(probe)) {
        throw new Error(`OPSBOOK_PROBE (${probe ?? "unset"}) names no file; run 'eval "$(npm run -s toolchain)"' or use npm run bench`);
    }
    return probe;
}

/**
 * Swarm's own CLI: `docker stack deploy` of bench/stack.yml (compose v3.8) in a private
 * directory, with the secrets as files beside it (swarm secrets once deployed) and the probe as a
 * swarm config. Detached, the CLI's default: the command returns once Swarm has the new specs, and
 * the deploy counts as done when the new release answers (cold: the first 200; release: the first
 * answer from release 2, after the command exited). `--detach=false` would add the CLI's own
 * "verify that tasks are stable" wait of 5 s per service, one service after another, to every
 * deploy, no-op included (15.5 s no-op, 17.3 s release in a trial): not what Swarm needs.
 * `--resolve-image never`: the images are local, no registry is asked.
 */
class StackSubject implements Subject {
    readonly tool = "stack" as const;
    private dir = "";
    private name = "";
    private port = 0;
    private tearingDown = false;
    /** Running tasks before the last deploy, to tell a no-op (same tasks) from a roll. */
    private tasksBefore: string[] = [];
    private tasksAfter: string[] = [];

    async setup(): Promise<void> {
        this.name = `opsbook-bench-stack-${crypto.randomBytes(3).toString("hex")}`;
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-bench-stack-"));
        fs.chmodSync(this.dir, 0o700);
        this.port = await freePort();
        fs.copyFileSync(path.join(ROOT, "bench", "stack.yml"), path.join(this.dir, "stack.yml"));
        const secrets = path.join(this.dir, "secrets");
        fs.mkdirSync(secrets, { mode: 0o700 });
        const pg = secret();
        const redis = secret();
        writePrivate(path.join(secrets, "postgres_password"), pg);
        writePrivate(path.join(secrets, "redis_password"), redis);
        writePrivate(path.join(secrets, "database_url"), `postgres://bench:${pg}@postgres:5432/app`);
        writePrivate(path.join(secrets, "redis_url"), `redis://:${redis}@redis:6379/0`);
    }

    private async runningTasks(): Promise<string[]> {
        const res = await docker("stack", "ps", this.name, "-q", "--filter", "desired-state=running");
        return res.stdout.split("\n").filter(Boolean).sort();
    }

    async deploy(): Promise<CliResult> {
        this.tasksBefore = await this.runningTasks().catch(() => []);
        const res = await run("docker", ["stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", "stack.yml", this.name], {
            cwd: this.dir,
            env: { ...process.env, BENCH_API_PORT: String(this.port), OPSBOOK_PROBE: probePath() },
            timeoutS: DEPLOY_TIMEOUT_S,
        });
        return res;
    }

    async release(value: string): Promise<CliResult> {
        setAppRelease(path.join(this.dir, "stack.yml"), value);
        return this.deploy();
    }

    async url(): Promise<string> {
        // Published in host mode on 0.0.0.0; the load and the checks use loopback like the others.
        return `http://127.0.0.1:${this.port}`;
    }

    async changes(res: CliResult): Promise<string> {
        // The CLI says "Creating service x" or "Updating service x" (it sends every service's spec
        // again, and Swarm rolls only those whose spec changed): count, and say which tasks moved.
        // Detached, the roll happens after the command: look a moment later (outside the timing).
        await sleep(3000);
        this.tasksAfter = await this.runningTasks().catch(() => []);
        const counts: Record<string, number> = {};
        for (const line of `${res.stdout}\n${res.stderr}`.split("\n")) {
            const m = /^(Creating|Updating) (service|network|secret|config) /.exec(line.trim());
            if (m) {
                const key = `${m[1].toLowerCase()} ${m[2]}`;
                counts[key] = (counts[key] ?? 0) + 1;
            }
        }
        const kept = this.tasksAfter.filter((t) => this.tasksBefore.includes(t)).length;
        const started = this.tasksAfter.length - kept;
        return `${Object.entries(counts)
            .map(([k, n]) => `${n} ${k}`)
            .join(", ")}; tasks: ${started} started, ${kept} kept`;
    }

    async teardown(): Promise<void> {
        if (!this.dir || this.tearingDown) {
            return;
        }
        this.tearingDown = true;
        const rm = await docker("stack", "rm", this.name);
        if (rm.code !== 0) {
            progress(`stack: docker stack rm failed (exit ${rm.code}):\n${tail(rm, 10)}`);
        }
        const label = `com.docker.stack.namespace=${this.name}`;
        await waitGone(`label=${label}`);
        // `docker stack rm` leaves volumes, and may leave the network while tasks wind down.
        for (const v of await dockerList("volume", label)) {
            await docker("volume", "rm", "-f", v);
        }
        for (let i = 0; i < 10 && (await dockerList("network", label)).length > 0; i++) {
            for (const n of await dockerList("network", label)) {
                await docker("network", "rm", n);
            }
            await sleep(1000);
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
    /** Load average (1, 5, 15 min) and running containers (all, from any stack) when the run started and ended. */
    loadAverageStart: number[];
    loadAverageEnd?: number[];
    runningContainersAtStart: number;
    /** See sourceFingerprint(): equal across runs when they measured the same code and images. */
    sourceFingerprint: string;
    coldS?: number;
    /** Of coldS: the deploy command alone; the rest is waiting for the first 200. */
    coldCommandS?: number;
    coldChanges?: string;
    noopS?: number;
    noopChanges?: string;
    /** opsbook: `pulumi up --skip-preview` (with the policy pack) on the unchanged stack. */
    noopSkipPreviewS?: number;
    noopSkipPreviewChanges?: string;
    /** Time from the release command's start until it exited and release 2 answered. */
    releaseS?: number;
    /** Of releaseS: the command alone (config set + up for opsbook; up -d / stack deploy for the others). */
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
    /** Peak RSS of each deploy command's process tree, MiB, and the highest of them. */
    peakRssMbByPhase?: Record<string, number>;
    peakRssMb?: number;
    /** At each phase's peak: MiB by process name (pulumi, pulumi-language-nodejs, node:..., plugins). */
    peakByProcessByPhase?: Record<string, Record<string, number>>;
    /** Most processes in a deploy command's tree at once (pulumi: CLI, language host, node, plugins). */
    peakProcesses?: number;
    teardownS?: number;
    /** opsbook runs: the floors measured beside them (see Floors). */
    floors?: Floors;
}

/**
 * What the goals leave room for, measured in the same run as the figures they bound:
 * - the Pulumi engine's own cost: a no-op `pulumi up` of an empty JavaScript program (no resource,
 *   no policy pack, no TypeScript), with and without its preview;
 * - Swarm's own cost of a gapless release: `docker service update` of opsbook's api service as it
 *   is deployed (start-first, gated by the health check, 5 s failure monitor) until the engine
 *   reports the update completed, with no Pulumi in the loop.
 */
interface Floors {
    emptyProgramNoopS?: number;
    emptyProgramNoopSkipPreviewS?: number;
    swarmGatedUpdateS?: number;
}

const LOAD = { concurrency: 4, intervalMs: 20 };
const NEW_RELEASE = "2";

const loadavg = () => os.loadavg().map((x) => Number(x.toFixed(2)));

/**
 * A hash of what the Pulumi program reads (program, components, providers, presets, policies,
 * project file, lockfile, the peers' files) and of the local images and probe every tool deploys.
 * Recorded per run: when it changes during a benchmark (someone edits the tree or rebuilds an
 * image), the runs are not comparable.
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
    for (const rel of ["index.ts", "config.ts", "Pulumi.yaml", "package-lock.json", "components", "providers", "presets", "policies", "bench/compose.yml", "bench/stack.yml"]) {
        walk(rel);
    }
    const hash = crypto.createHash("sha256");
    for (const rel of files.sort()) {
        hash.update(`${rel}\0`).update(fs.readFileSync(path.join(ROOT, rel))).update("\0");
    }
    const images = await docker("image", "inspect", "--format", "{{.Id}}", ...IMAGES);
    hash.update(images.stdout);
    if (process.env.OPSBOOK_PROBE && fs.existsSync(process.env.OPSBOOK_PROBE)) {
        hash.update(fs.readFileSync(process.env.OPSBOOK_PROBE));
    }
    return hash.digest("hex").slice(0, 12);
}

const IMAGES = ["opsbook/postgres:15", "opsbook/redis:7", "opsbook/app:reference", "opsbook/gateway:1"];

async function runningContainers(): Promise<number> {
    const res = await docker("ps", "-q");
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
        loadAverageStart: loadavg(),
        runningContainersAtStart: await runningContainers(),
        sourceFingerprint: await sourceFingerprint(),
    };
    const rss: Record<string, number> = {};
    const rssBy: Record<string, Record<string, number>> = {};
    let procs = 0;
    const note = (phase: string, res: CliResult) => {
        rss[phase] = res.peakRssMb;
        rssBy[phase] = res.peakByProcess;
        procs = Math.max(procs, res.peakProcesses);
    };
    current = subject;
    try {
        progress(`${label}: setup`);
        await subject.setup();

        progress(`${label}: cold deploy`);
        const coldStart = Date.now();
        const cold = await subject.deploy();
        result.coldCommandS = seconds(coldStart);
        note("cold", cold);
        if (cold.code !== 0) {
            throw new ToolFailure(subject.tool, "cold deploy", `exit ${cold.code}\n${tail(cold)}`);
        }
        const base = await subject.url();
        await waitServed(`${base}/health`, 180).catch((err: Error) => {
            throw new ToolFailure(subject.tool, "cold deploy", err.message);
        });
        result.coldS = seconds(coldStart);
        result.coldChanges = await subject.changes(cold);
        progress(`${label}: cold deploy ${result.coldS.toFixed(1)}s (command ${result.coldCommandS.toFixed(1)}s, peak ${cold.peakRssMb} MiB)`);

        progress(`${label}: no-op deploy`);
        const noopStart = Date.now();
        const noop = await subject.deploy();
        result.noopS = seconds(noopStart);
        note("noop", noop);
        if (noop.code !== 0) {
            throw new ToolFailure(subject.tool, "no-op deploy", `exit ${noop.code}\n${tail(noop)}`);
        }
        result.noopChanges = await subject.changes(noop);
        progress(`${label}: no-op deploy ${result.noopS.toFixed(1)}s (${result.noopChanges}; peak ${noop.peakRssMb} MiB)`);

        if (subject.deploySkipPreview) {
            progress(`${label}: no-op deploy --skip-preview`);
            const skipStart = Date.now();
            const skip = await subject.deploySkipPreview();
            result.noopSkipPreviewS = seconds(skipStart);
            note("noopSkipPreview", skip);
            if (skip.code !== 0) {
                throw new ToolFailure(subject.tool, "no-op deploy --skip-preview", `exit ${skip.code}\n${tail(skip)}`);
            }
            result.noopSkipPreviewChanges = await subject.changes(skip);
            progress(`${label}: no-op deploy --skip-preview ${result.noopSkipPreviewS.toFixed(1)}s (${result.noopSkipPreviewChanges}; peak ${skip.peakRssMb} MiB)`);
        }

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
        note("release", rel);
        if (rel.code !== 0) {
            throw new ToolFailure(subject.tool, "release", `exit ${rel.code}\n${tail(rel)}`);
        }
        result.releaseChanges = await subject.changes(rel);
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
        if (subject.floors) {
            progress(`${label}: floors (empty Pulumi program no-op, Swarm's own gated update)`);
            result.floors = await subject.floors();
            progress(`${label}: floors ${JSON.stringify(result.floors)}`);
        }
        result.ok = true;
    } catch (err) {
        result.error = err instanceof Error ? err.message : String(err);
        progress(`${label}: FAILED: ${result.error}`);
        if (!(err instanceof ToolFailure)) {
            throw err;
        }
    } finally {
        result.peakRssMbByPhase = rss;
        result.peakByProcessByPhase = rssBy;
        result.peakRssMb = Object.values(rss).length > 0 ? Math.max(...Object.values(rss)) : undefined;
        result.peakProcesses = procs || undefined;
        progress(`${label}: teardown`);
        const downStart = Date.now();
        await subject.teardown();
        result.teardownS = seconds(downStart);
        result.loadAverageEnd = loadavg();
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
    { key: "noopS", label: "no-op deploy s (opsbook: pulumi up, preview + policy pack)", digits: 1, ratio: true },
    { key: "noopSkipPreviewS", label: "no-op deploy s (opsbook: pulumi up --skip-preview)", digits: 1, ratio: true },
    { key: "releaseS", label: "release s", digits: 1, ratio: true },
    { key: "failed", label: "failed requests during a release", digits: 0, ratio: false },
    { key: "longestOutageMs", label: "longest outage during a release ms", digits: 0, ratio: false },
    { key: "peakRssMb", label: "peak memory of a deploy command MiB (process tree)", digits: 0, ratio: false },
] as const;
type MetricKey = (typeof METRICS)[number]["key"];
const EXTRA_KEYS = ["teardownS", "releaseCommandS", "releaseFirstServedS", "coldCommandS", "requests"] as const;
const FLOOR_KEYS = ["emptyProgramNoopS", "emptyProgramNoopSkipPreviewS", "swarmGatedUpdateS"] as const;
type SummaryKey = MetricKey | (typeof EXTRA_KEYS)[number];

/** The peers' no-op is their one deploy command; opsbook's skip-preview row compares with it too. */
function peerValue(tool: Tool, key: MetricKey, summary: Partial<Record<Tool, Partial<Record<SummaryKey, Stat>>>>): number | undefined {
    const k = key === "noopSkipPreviewS" && tool !== "opsbook" ? "noopS" : key;
    return summary[tool]?.[k]?.median;
}

function summarise(results: RunResult[], tools: Tool[]) {
    const summary: Partial<Record<Tool, Partial<Record<SummaryKey, Stat>>>> = {};
    for (const tool of tools) {
        const ok = results.filter((r) => r.tool === tool && r.ok);
        const perTool: Partial<Record<SummaryKey, Stat>> = {};
        for (const key of [...METRICS.map((m) => m.key), ...EXTRA_KEYS]) {
            const s = stat(ok.map((r) => r[key]));
            if (s) {
                perTool[key] = s;
            }
        }
        summary[tool] = perTool;
    }
    const floors: Partial<Record<(typeof FLOOR_KEYS)[number], Stat>> = {};
    for (const key of FLOOR_KEYS) {
        const s = stat(results.filter((r) => r.ok).map((r) => r.floors?.[key]));
        if (s) {
            floors[key] = s;
        }
    }
    const ratios: Record<"opsbookOverCompose" | "opsbookOverStack", Partial<Record<MetricKey, number>>> = { opsbookOverCompose: {}, opsbookOverStack: {} };
    for (const m of METRICS.filter((x) => x.ratio)) {
        const a = summary.opsbook?.[m.key]?.median;
        for (const [peer, into] of [
            ["compose", ratios.opsbookOverCompose],
            ["stack", ratios.opsbookOverStack],
        ] as const) {
            const b = peerValue(peer, m.key, summary);
            if (a !== undefined && b !== undefined && b > 0) {
                into[m.key] = Number((a / b).toFixed(2));
            }
        }
    }
    const failedTotal = (tool: Tool) => {
        const runs = results.filter((r) => r.tool === tool && r.ok && r.failed !== undefined);
        return runs.length ? { releases: runs.length, failed: runs.reduce((n, r) => n + (r.failed ?? 0), 0), requests: runs.reduce((n, r) => n + (r.requests ?? 0), 0) } : undefined;
    };
    const totals = Object.fromEntries(tools.map((t) => [t, failedTotal(t)]));
    const goal = (value: number | undefined, limit: number) => (value === undefined ? undefined : { value, limit, met: value <= limit });
    const goals = {
        noopAtMost2xCompose: goal(ratios.opsbookOverCompose.noopS, 2),
        noopSkipPreviewAtMost2xCompose: goal(ratios.opsbookOverCompose.noopSkipPreviewS, 2),
        releaseAtMost1_5xStack: goal(ratios.opsbookOverStack.releaseS, 1.5),
        zeroFailedRequests: totals.opsbook ? { ...totals.opsbook, met: totals.opsbook.failed === 0 } : undefined,
        failedRequestsByTool: totals,
    };
    return { summary, ratios, goals, floors };
}

function table(results: RunResult[], tools: Tool[], load: { start: number[]; end: number[] }): string {
    const { summary, ratios, goals, floors } = summarise(results, tools);
    const fmt = (s: Stat | undefined, digits: number) =>
        s ? (s.n > 1 ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})` : s.median.toFixed(digits)) : "n/a";
    const ratioCols = [
        ...(tools.includes("opsbook") && tools.includes("compose") ? [["opsbook/Compose", "opsbookOverCompose"] as const] : []),
        ...(tools.includes("opsbook") && tools.includes("stack") ? [["opsbook/stack", "opsbookOverStack"] as const] : []),
    ];
    const header = ["", ...tools.map((t) => `${TOOL_LABEL[t]} median (min-max)`), ...ratioCols.map(([h]) => h)];
    const rows = METRICS.map((m) => [
        m.label,
        ...tools.map((t) => {
            // The peers have one no-op command: their figure stands in the skip-preview row too, in brackets.
            if (m.key === "noopSkipPreviewS" && t !== "opsbook") {
                const s = summary[t]?.noopS;
                return s ? `(${s.median.toFixed(1)})` : "n/a";
            }
            return fmt(summary[t]?.[m.key], m.digits);
        }),
        ...ratioCols.map(([, k]) => (m.ratio && ratios[k][m.key] !== undefined ? `${ratios[k][m.key]!.toFixed(2)}x` : "")),
    ]);
    const all = [header, ...rows];
    const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("   ");
    const prints = [...new Set(results.map((r) => r.sourceFingerprint))];
    const changed =
        prints.length > 1
            ? [`WARNING: the project's sources or images changed during the benchmark (fingerprints ${prints.join(", ")}): runs are not comparable.`]
            : [];
    const okRuns = tools.map((t) => `${TOOL_LABEL[t]} ${results.filter((r) => r.tool === t && r.ok).length}/${results.filter((r) => r.tool === t).length}`);
    const met = (g: { met: boolean } | undefined) => (g === undefined ? "n/a" : g.met ? "met" : "NOT met");
    const x = (g: { value: number } | undefined) => (g === undefined ? "n/a" : `${g.value.toFixed(2)}x`);
    const lost = (t: Tool) => {
        const f = goals.failedRequestsByTool[t];
        const outage = summary[t]?.longestOutageMs;
        return f ? `${TOOL_LABEL[t]} ${f.failed} failed of ${f.requests} in ${f.releases} release(s)${outage ? `, longest outage ${outage.max.toFixed(0)} ms` : ""}` : undefined;
    };
    const goalLines = tools.includes("opsbook")
        ? [
              "goals:",
              `  no-op pulumi up <= 2x Compose's no-op: with preview + policy pack ${x(goals.noopAtMost2xCompose)} (${met(goals.noopAtMost2xCompose)}); ` +
                  `--skip-preview ${x(goals.noopSkipPreviewAtMost2xCompose)} (${met(goals.noopSkipPreviewAtMost2xCompose)})`,
              `  release <= 1.5x docker stack deploy's release: ${x(goals.releaseAtMost1_5xStack)} (${met(goals.releaseAtMost1_5xStack)})`,
              `  0 failed requests across releases: ${[lost("opsbook"), lost("stack"), lost("compose")].filter(Boolean).join("; ")} (${met(goals.zeroFailedRequests)})`,
          ]
        : [];
    const over = (a: Stat | undefined, b: Stat | undefined) => (a && b && b.median > 0 ? ` = ${(a.median / b.median).toFixed(2)}x` : "");
    const floorLines =
        floors.emptyProgramNoopS || floors.swarmGatedUpdateS
            ? [
                  "floors (measured in the same runs; no deploy tool on this engine can go below them):",
                  `  no-op pulumi up of an empty JavaScript program: ${fmt(floors.emptyProgramNoopS, 2)} s with preview${over(floors.emptyProgramNoopS, summary.compose?.noopS)}` +
                      `${summary.compose ? " Compose's no-op" : ""}; ${fmt(floors.emptyProgramNoopSkipPreviewS, 2)} s --skip-preview${over(floors.emptyProgramNoopSkipPreviewS, summary.compose?.noopS)}`,
                  `  Swarm's own start-first, health-gated update of opsbook's api (docker service update until completed): ${fmt(floors.swarmGatedUpdateS, 1)} s` +
                      `${over(floors.swarmGatedUpdateS, summary.stack?.releaseS)}${summary.stack ? " docker stack deploy's (stop-first) release" : ""}`,
              ]
            : [];
    const la = (l: number[]) => l.map((v) => v.toFixed(2)).join(" ");
    // Where opsbook's peak memory is: the process tree at the highest peak of any run.
    const top = results
        .filter((r) => r.tool === "opsbook" && r.peakByProcessByPhase && r.peakRssMbByPhase)
        .flatMap((r) => Object.entries(r.peakRssMbByPhase!).map(([phase, mb]) => ({ r, phase, mb })))
        .sort((a, b) => b.mb - a.mb)[0];
    const memLine = top
        ? [
              `opsbook peak memory ${top.mb} MiB (run ${top.r.run}, ${top.phase}) by process: ` +
                  Object.entries(top.r.peakByProcessByPhase![top.phase])
                      .sort((a, b) => b[1] - a[1])
                      .map(([name, mb]) => `${name} ${mb}`)
                      .join(", "),
          ]
        : [];
    return [
        line(header),
        ...rows.map(line),
        `runs that deployed: ${okRuns.join(", ")}`,
        ...goalLines,
        ...floorLines,
        ...memLine,
        `load average (1/5/15 min) at start ${la(load.start)}, at end ${la(load.end)} on ${os.cpus().length} cores` +
            (Math.max(...load.start, ...load.end) > os.cpus().length * 0.5 ? " — other work shared the machine: times are inflated" : ""),
        ...changed,
    ].join("\n");
}

// ---------------------------------------------------------------------------------------------

async function version(cmd: string, args: string[]): Promise<string> {
    const res = await run(cmd, args, { timeoutS: 30 }).catch(() => undefined);
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

    const needs: [Tool, string, string[], string][] = [
        ["opsbook", "pulumi", ["version"], "run 'eval \"$(npm run -s toolchain)\"' first, or use npm run bench"],
        ["compose", "docker-compose", ["version"], "apt-get install docker-compose, or use npm run bench"],
        ["stack", "docker", ["stack", "ls"], "the engine must be a swarm manager (the toolchain makes it one); use npm run bench"],
    ];
    for (const [tool, cmd, args, hint] of needs) {
        if (opts.tools.includes(tool) && (await version(cmd, args)) === "unknown") {
            process.stderr.write(`bench: \`${cmd} ${args.join(" ")}\` does not run; ${hint}\n`);
            return 1;
        }
    }
    try {
        probePath();
    } catch (err) {
        process.stderr.write(`bench: ${(err as Error).message}\n`);
        return 1;
    }
    const host = {
        cpus: os.cpus().length,
        memoryGb: Number((os.totalmem() / 2 ** 30).toFixed(1)),
        dockerEngine: await version("docker", ["version", "--format", "{{.Server.Version}}"]),
        dockerCli: await version("docker", ["version", "--format", "{{.Client.Version}}"]),
        pulumi: await version("pulumi", ["version"]),
        dockerCompose: await version("docker-compose", ["version", "--short"]),
        gitHead: await version("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]),
        gitDirty: (await version("git", ["-C", ROOT, "status", "--porcelain"])) !== "",
    };
    const loadStart = loadavg();
    progress(
        `${opts.runs} run(s) of ${opts.tools.join(", ")}; engine ${host.dockerEngine}, pulumi ${host.pulumi}, docker-compose ${host.dockerCompose}; ` +
            `load average ${loadStart.join(" ")} on ${host.cpus} cores`,
    );

    const interrupt = (signal: NodeJS.Signals) => {
        interrupted = true;
        progress(`${signal}: tearing down what this run made`);
        void (current ? current.teardown() : Promise.resolve()).finally(() => process.exit(130));
    };
    process.once("SIGINT", interrupt);
    process.once("SIGTERM", interrupt);

    const make = (tool: Tool): Subject => (tool === "opsbook" ? new OpsbookSubject() : tool === "compose" ? new ComposeSubject() : new StackSubject());
    const results: RunResult[] = [];
    for (let i = 1; i <= opts.runs; i++) {
        // Rotate which tool goes first, so no tool always gets the quieter (or busier) moment.
        const shift = (i - 1) % opts.tools.length;
        const order = [...opts.tools.slice(shift), ...opts.tools.slice(0, shift)];
        for (const tool of order) {
            if (interrupted) {
                // The signal handler exits once its teardown is done; start nothing new.
                return new Promise<number>(() => undefined);
            }
            results.push(await measure(make(tool), i, opts.runs));
        }
    }
    const loadEnd = loadavg();

    const text = table(results, opts.tools, { start: loadStart, end: loadEnd });
    process.stdout.write(`\n${text}\n`);
    const { summary, ratios, goals, floors } = summarise(results, opts.tools);
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.writeFileSync(
        opts.out,
        `${JSON.stringify(
            {
                generatedAt: new Date().toISOString(),
                command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
                runsPerTool: opts.runs,
                load: { ...LOAD, path: "/health", newConnectionPerRequest: true },
                loadAverage: { start: loadStart, end: loadEnd, note: "1/5/15 min; the engine and the cores are shared with other test suites" },
                host,
                commands: {
                    opsbook: "pulumi up --yes --non-interactive --policy-pack policies --policy-pack-config policies/config/staging.json [--skip-preview]",
                    compose: "docker-compose -p <project> -f compose.yml up -d",
                    stack: "docker stack deploy --detach=true --resolve-image never -c stack.yml <name>",
                },
                summary,
                ratiosOpsbookOverCompose: ratios.opsbookOverCompose,
                ratiosOpsbookOverStack: ratios.opsbookOverStack,
                goals,
                floors,
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
