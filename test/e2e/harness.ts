// Helpers for the e2e tests: a throwaway stack in a throwaway state backend, driven by the real
// `pulumi` CLI against the real Docker engine. Nothing here fakes an engine: a test that cannot
// reach one fails and says why.
import { strict as assert } from "node:assert";
import { ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EngineConnection, dockerCli } from "../../providers/engineCli";

export const ROOT = path.resolve(__dirname, "..", "..");

export interface CliResult {
    code: number;
    stdout: string;
    stderr: string;
    /** For a failed `pulumi up`: what the stack's services looked like just after it (see `TestStack.up`). */
    diagnostics?: string;
}

/**
 * What a command printed, for a failed assertion's message, with the services' state after a
 * failed `pulumi up` last: a CI report keeps the end of a long message, and the tasks' errors are
 * what says why a service did not converge.
 */
export function printed(res: CliResult): string {
    return `${res.stdout}\n${res.stderr}${res.diagnostics ? `\n${res.diagnostics}` : ""}`;
}

/** Fails the test with a reason when an engine the e2e tests need is not there. */
export function requireEngines(): void {
    requireProbe();
    try {
        execFileSync("docker", ["info", "--format", "{{.ServerVersion}}"], { stdio: "pipe" });
    } catch (err) {
        assert.fail(`the Docker engine does not answer (${String(err).split("\n")[0]}); run 'eval "$(npm run -s toolchain)"' first`);
    }
    try {
        execFileSync("pulumi", ["version"], { stdio: "pipe" });
    } catch {
        assert.fail("no `pulumi` on PATH; run 'eval \"$(npm run -s toolchain)\"' first (npm test does this)");
    }
}

/**
 * The stack's health checks run the static HTTP probe the toolchain builds (`OPSBOOK_PROBE`);
 * `pulumi up` refuses to start without it. `npm test` runs the toolchain first, which exports it.
 */
export function requireProbe(): string {
    const probe = process.env.OPSBOOK_PROBE;
    if (!probe) {
        assert.fail("OPSBOOK_PROBE is not set: the stacks' health checks need the probe the toolchain builds; run 'eval \"$(npm run -s toolchain)\"' first (npm test does this)");
    }
    try {
        fs.accessSync(probe, fs.constants.X_OK);
    } catch {
        assert.fail(`OPSBOOK_PROBE names ${probe}, which is not an executable file; run 'eval "$(npm run -s toolchain)"' again`);
    }
    return probe;
}

/** The content-addressed image tags the toolchain exports, by `opsbook:images` key. */
export function pinnedImageTags(): Record<string, string> {
    const tags: Record<string, string> = {};
    for (const key of ["postgres", "redis", "app", "gateway", "backup", "monitoring"]) {
        const tag = process.env[`OPSBOOK_IMAGE_${key.toUpperCase()}`];
        if (!tag) {
            assert.fail(`OPSBOOK_IMAGE_${key.toUpperCase()} is not set; run 'eval "$(npm run -s toolchain)"' first (npm test does this)`);
        }
        tags[key] = tag;
    }
    return tags;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
        const child = execFile(
            cmd,
            args,
            { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
            (err, stdout, stderr) => {
                const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
                resolve({ code, stdout: String(stdout), stderr: String(stderr) });
            },
        );
        if (opts.input !== undefined) {
            // EPIPE from a child that exits before reading its input: its exit code says why.
            child.stdin?.on("error", () => undefined);
            child.stdin?.end(opts.input);
        }
    });
}

export function docker(...args: string[]): Promise<CliResult> {
    return run("docker", args);
}

/**
 * The smallest stack with a database: an api on Postgres with its migrations (the /items table),
 * no Redis, no monitoring (unless asked), backups at 03:00 UTC. `backups` is more YAML under `opsbook:backups`
 * (indented four spaces), `extra` more top-level keys (indented two).
 */
export function postgresApiConfig(parts: { backups?: string; extra?: string; monitoring?: boolean } = {}): string {
    return `config:
  opsbook:redis:
    enabled: false
  opsbook:monitoring:
    enabled: ${parts.monitoring ?? false}
  opsbook:migrations:
    command: [node, /app/dist/main.js, migrate]
  opsbook:services:
    api:
      env:
        APP_ROLE: api
      uses: [postgres]
${parts.extra ?? ""}  opsbook:backups:
    schedule: "0 3 * * *"
${parts.backups ?? ""}`;
}

/** `npm run backup -- <args>` on the stack, as a person runs it. */
export function backupCli(stack: TestStack, args: string[], input?: string): Promise<CliResult> {
    stack.log(`npm run backup -- ${args.join(" ")}`);
    return run("bash", ["scripts/backup.sh", ...args, "--stack", stack.name], { env: stack.env, input });
}

/** The backup agent's /metrics, asked from inside its task (the port is published nowhere). */
export async function agentMetrics(agentTask: string): Promise<string> {
    const res = await docker("exec", agentTask, "node", "-e", "fetch('http://127.0.0.1:9187/metrics').then(async (r) => process.stdout.write(r.status + '\\n' + (await r.text())))");
    assert.equal(res.code, 0, res.stderr);
    return res.stdout;
}

/** This machine's `docker events` from now until `stop`, as JSON lines. */
export function captureEvents(filters: string[] = []): { stop(): Promise<string[]> } {
    const child: ChildProcess = spawn("docker", ["events", "--format", "{{json .}}", ...filters.flatMap((f) => ["--filter", f])], { stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout!.on("data", (c: Buffer) => (text += c.toString()));
    const exited = new Promise<void>((r) => child.on("close", () => r()));
    return {
        async stop() {
            // Events are delivered a moment after they happen.
            await new Promise((r) => setTimeout(r, 1000));
            child.kill("SIGTERM");
            await exited;
            return text.split("\n").filter(Boolean);
        },
    };
}

/** `docker service ps --format` of a diagnostic: each task's node, desired and current state, and error. */
export const TASK_HISTORY_FORMAT = "{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}";

/** Each test stack's state directory, under the OS's temp directory: `<prefix><random>`. */
export const STATE_DIR_PREFIX = "opsbook-e2e-state-";
/** In a state directory: which stack it holds and which test process made it (see `ownerOf`). */
export const OWNER_FILE = "owner.json";

export interface StackOwner {
    /** The stack's name: its engine objects carry `opsbook.stack=<name>`. */
    stack: string;
    /** The config file the stack was given (in the clone that ran it). */
    configFile: string;
    /** `ownerOf` of the test process that made it. */
    process: string;
}

/**
 * A process, as the boot, its pid and its start time: a pid alone is reused, after a reboot or on
 * a machine restored from an image, by some other process. Undefined when no such process runs.
 */
export function ownerOf(pid: number): string | undefined {
    try {
        const boot = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        // Fields after the command name (which may hold spaces): state is field 3, starttime 22.
        const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[22 - 3];
        return `${boot} ${pid} ${startTime}`;
    } catch {
        return undefined;
    }
}

/** Swarm objects (services, secrets, configs) only on the manager, which alone answers for them; the rest on every engine. */
function enginesHolding(engines: (EngineConnection | undefined)[], kind: string): (EngineConnection | undefined)[] {
    return ["service", "secret", "config"].includes(kind) ? engines.slice(0, 1) : engines;
}

/** `docker <args>` on one engine (undefined: this machine's). */
function onEngine(engine: EngineConnection | undefined, ...args: string[]): Promise<CliResult> {
    return engine ? dockerCli(args, { engine, timeoutMs: 120_000 }) : docker(...args);
}

/** `docker <command>` on one engine, filtered to a stack's label. */
function labelled(stack: string, engine: EngineConnection | undefined, command: string[], format: string): Promise<CliResult> {
    return onEngine(engine, ...command, "--filter", `label=opsbook.stack=${stack}`, "--format", format);
}

/** A stack's objects of one kind on one engine, for a clean-up: an engine that no longer answers (a server already gone) has none. */
async function leftovers(stack: string, engine: EngineConnection | undefined, command: string[], format: string): Promise<string[]> {
    const res = await labelled(stack, engine, command, format);
    return res.code === 0 ? res.stdout.split("\n").filter(Boolean) : [];
}

/**
 * Removes every object labelled `opsbook.stack=<stack>` on the given engines (manager first;
 * undefined: this machine's): services first (their tasks go with them), then containers, and
 * only then what running tasks would still hold.
 */
async function removeStackObjects(stack: string, engines: (EngineConnection | undefined)[]): Promise<void> {
    const removeAll = async (kind: string, listing: string[], format: string, remove: string[]) => {
        for (const engine of enginesHolding(engines, kind)) {
            for (const name of await leftovers(stack, engine, listing, format)) {
                await onEngine(engine, ...remove, name);
            }
        }
    };
    await removeAll("service", ["service", "ls"], "{{.Name}}", ["service", "rm"]);
    await removeAll("container", ["ps", "-a"], "{{.Names}}", ["rm", "-f"]);
    for (const engine of engines) {
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline && (await leftovers(stack, engine, ["ps", "-a"], "{{.Names}}")).length > 0) {
            await new Promise((r) => setTimeout(r, 1000));
        }
    }
    await removeAll("secret", ["secret", "ls"], "{{.Name}}", ["secret", "rm"]);
    await removeAll("config", ["config", "ls"], "{{.Name}}", ["config", "rm"]);
    await removeAll("volume", ["volume", "ls"], "{{.Name}}", ["volume", "rm", "-f"]);
    await removeAll("network", ["network", "ls"], "{{.Name}}", ["network", "rm"]);
}

/**
 * The stacks of test runs that ended without their clean-up (killed, or a machine stopped under
 * them), removed from this machine's engine: left running, their services (Postgres, backup
 * agents, the apps) load every later run, and a stopped machine restarts them with its engine.
 * A stack whose test process still runs (another test run on this machine) is left alone. Its
 * test servers' engines are gone with their network namespaces. Returns the stacks removed.
 */
export async function sweepAbandonedStacks(): Promise<string[]> {
    const removed: string[] = [];
    for (const entry of fs.readdirSync(os.tmpdir()).filter((e) => e.startsWith(STATE_DIR_PREFIX))) {
        const dir = path.join(os.tmpdir(), entry);
        let owner: StackOwner;
        try {
            owner = JSON.parse(fs.readFileSync(path.join(dir, OWNER_FILE), "utf8")) as StackOwner;
        } catch {
            continue; // No owner file: not a state directory this harness made.
        }
        const pid = Number(owner.process.split(" ")[1]);
        if (Number.isInteger(pid) && ownerOf(pid) === owner.process) {
            continue;
        }
        await removeStackObjects(owner.stack, [undefined]);
        fs.rmSync(owner.configFile, { force: true });
        fs.rmSync(dir, { recursive: true, force: true });
        removed.push(owner.stack);
    }
    return removed;
}

/**
 * Container events (JSON lines of `docker events`) as `<time> <action> <container> [exit code]`,
 * the health checks' own execs left out, the last 80: how tasks started, failed their checks and
 * died.
 */
export function containerEventLines(events: string[]): string {
    const lines = events
        .map((line) => JSON.parse(line) as { time?: number; Action?: string; Actor?: { Attributes?: Record<string, string> } })
        .filter((e) => e.Action && !e.Action.startsWith("exec_"))
        .map((e) => {
            const attrs = e.Actor?.Attributes ?? {};
            const time = e.time ? new Date(e.time * 1000).toISOString().slice(11, 19) : "?";
            return `${time} ${e.Action} ${attrs.name ?? "?"}${attrs.exitCode ? ` exit ${attrs.exitCode}` : ""}`;
        });
    return `${lines.length} container events (the last 80):\n${lines.slice(-80).join("\n")}`;
}

/**
 * VXLAN devices that this machine's engine leaked, removed: a device named `vx-<VNI>-<network ID
 * prefix>` left in the host's network namespace for an overlay network that no longer exists.
 * Docker creates each such device there and moves it into the network's namespace; when that goes
 * wrong while a network is removed (moby/libnetwork#1765, seen here: `vx-001034-l78tf`, down, its
 * network gone), the device keeps its VXLAN ID, and Swarm gives the freed ID to the next overlay
 * network, whose tasks then fail forever with "error creating vxlan interface: file exists" (seen
 * in CI: a test stack's api never converged). The engine's bug, not the stack's: the README's
 * "Known limits" tells a user the same fix. Devices of a network that exists are left alone (one
 * being created right now). Returns the devices removed.
 */
export async function removeLeakedVxlanDevices(): Promise<string[]> {
    const links = await run("ip", ["-o", "link", "show", "type", "vxlan"]);
    const networks = await docker("network", "ls", "-q", "--no-trunc");
    if (links.code !== 0 || networks.code !== 0) {
        return [];
    }
    const ids = networks.stdout.split("\n").filter(Boolean);
    const removed: string[] = [];
    for (const match of links.stdout.matchAll(/^\d+: (vx-[0-9a-f]{6}-([0-9a-z]{5}))[:@]/gm)) {
        const [, device, networkPrefix] = match;
        if (!ids.some((id) => id.startsWith(networkPrefix)) && (await run("ip", ["link", "del", device])).code === 0) {
            removed.push(device);
        }
    }
    return removed;
}

/** A stack of this project with its own state directory and passphrase, removed by `dispose`. */
export class TestStack {
    readonly name: string;
    readonly stateDir: string;
    readonly env: NodeJS.ProcessEnv;
    readonly configFile: string;
    private readonly started = Date.now();
    /**
     * The engines the stack's objects live on, manager first: this machine's unless `onEngines`
     * named a server's (ssh:// or tcp://, with the stack's own connection options).
     */
    private engines: (EngineConnection | undefined)[] = [undefined];

    constructor(prefix = "e2e") {
        this.name = `${prefix}-${crypto.randomBytes(3).toString("hex")}`;
        this.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), STATE_DIR_PREFIX));
        this.configFile = path.join(ROOT, `Pulumi.${this.name}.yaml`);
        const owner: StackOwner = { stack: this.name, configFile: this.configFile, process: ownerOf(process.pid)! };
        fs.writeFileSync(path.join(this.stateDir, OWNER_FILE), JSON.stringify(owner));
        this.env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${this.stateDir}`,
            PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(16).toString("hex"),
            PULUMI_CONFIG_PASSPHRASE_FILE: "",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
            // Given explicitly: the program refuses to run without it (see requireProbe).
            OPSBOOK_PROBE: process.env.OPSBOOK_PROBE,
        };
    }

    /** Logs a step with the time since the stack was made, so a slow CI run shows where time went. */
    log(step: string): void {
        process.stderr.write(`[e2e ${this.name}] ${step} (${Math.round((Date.now() - this.started) / 1000)}s)\n`);
    }

    /**
     * The stack runs on these engines (its manager, then its other nodes): the listings below and
     * `dispose`'s clean-up look there instead of on this machine's engine.
     */
    onEngines(manager: EngineConnection, ...nodes: EngineConnection[]): void {
        this.engines = [manager, ...nodes];
    }

    /** Creates the stack with the given config file body (YAML, `config:` at the top). */
    async init(configYaml: string): Promise<void> {
        fs.writeFileSync(this.configFile, configYaml);
        const res = await this.pulumi(["stack", "init", this.name, "--non-interactive"]);
        assert.equal(res.code, 0, `pulumi stack init failed:\n${res.stderr}${res.stdout}`);
    }

    pulumi(args: string[], input?: string): Promise<CliResult> {
        const needsStack = !["stack", "version", "plugin"].includes(args[0]) || ["output", "export", "rm"].includes(args[1]);
        return run("pulumi", needsStack ? [...args, "--stack", this.name] : args, { env: this.env, input });
    }

    /**
     * `pulumi up` as `npm run deploy` runs it: with its preview, so that a mandatory policy
     * violation stops the update before any resource changes.
     */
    async up(extra: string[] = []): Promise<CliResult> {
        this.log(`pulumi up ${extra.join(" ")}`);
        const local = this.engines[0] === undefined;
        if (local) {
            const leaked = await removeLeakedVxlanDevices();
            if (leaked.length > 0) {
                this.log(`removed VXLAN devices the engine leaked (moby/libnetwork#1765): ${leaked.join(", ")}`);
            }
        }
        // On this machine's engine, the stack's container events during the up: when a service
        // does not converge, the provider removes it, and its tasks' containers go with it.
        const events = local ? captureEvents(["type=container", `label=opsbook.stack=${this.name}`]) : undefined;
        const res = await this.pulumi(["up", "--yes", "--non-interactive", ...extra]);
        const seen = (await events?.stop()) ?? [];
        this.log(`pulumi up exited ${res.code}`);
        if (res.code !== 0) {
            // Beside what pulumi printed, not in it: some tests assert what a failed up prints.
            const diagnostics = `${await this.serviceDiagnostics()}\n--- the stack's ${containerEventLines(seen)}`;
            this.log(diagnostics);
            return { ...res, diagnostics };
        }
        return res;
    }

    /**
     * Each service's tasks (state and error) and last log lines, for a failed `pulumi up`: by the
     * time a test's failure is read, the tasks that did not converge are gone.
     */
    async serviceDiagnostics(): Promise<string> {
        const [manager] = this.engines;
        const parts: string[] = [];
        for (const service of await leftovers(this.name, manager, ["service", "ls"], "{{.Name}}")) {
            const tasks = await onEngine(manager, "service", "ps", "--no-trunc", "--format", TASK_HISTORY_FORMAT, service);
            const logs = await onEngine(manager, "service", "logs", "--tail", "20", "--no-task-ids", service);
            parts.push(`--- ${service}: tasks\n${tasks.stdout.trim()}\n--- ${service}: last log lines\n${(logs.stdout + logs.stderr).trim()}`);
        }
        return `diagnostics of stack ${this.name}'s services after the failed pulumi up:\n${parts.join("\n")}`;
    }

    /**
     * Pins the stack's images to the content-addressed tags the toolchain exports
     * (`OPSBOOK_IMAGE_*`), as production's `images-pinned` policy requires. The tags name the same
     * images as the stable ones, so nothing is redeployed; `unpinImages` takes the keys out again.
     */
    async pinImages(): Promise<void> {
        for (const [key, tag] of Object.entries(pinnedImageTags())) {
            const res = await this.pulumi(["config", "set", "--path", `opsbook:images.${key}`, tag]);
            assert.equal(res.code, 0, res.stderr);
        }
    }

    async unpinImages(): Promise<void> {
        for (const key of Object.keys(pinnedImageTags())) {
            await this.pulumi(["config", "rm", "--path", `opsbook:images.${key}`]);
        }
    }

    async outputs(): Promise<Record<string, any>> {
        const res = await this.pulumi(["stack", "output", "--json", "--show-secrets"]);
        assert.equal(res.code, 0, res.stderr);
        return JSON.parse(res.stdout);
    }

    /** Containers of this stack the engine knows, running or not (swarm tasks carry the container labels). */
    async containers(): Promise<string[]> {
        return this.listed(["ps", "-a"], "{{.Names}}");
    }

    /** Swarm services of this stack, long-running ones and one-shot jobs alike. */
    async services(): Promise<string[]> {
        return this.listed(["service", "ls"], "{{.Name}}");
    }

    /** Swarm secrets of this stack (names only: the engine never gives a value back). */
    async secrets(): Promise<string[]> {
        return this.listed(["secret", "ls"], "{{.Name}}");
    }

    /** Swarm configs of this stack (the health probe). */
    async configs(): Promise<string[]> {
        return this.listed(["config", "ls"], "{{.Name}}");
    }

    /** Volumes of this stack. */
    async volumes(): Promise<string[]> {
        return this.listed(["volume", "ls"], "{{.Name}}");
    }

    /** Networks of this stack. */
    async networks(): Promise<string[]> {
        return this.listed(["network", "ls"], "{{.Name}}");
    }

    /**
     * What `docker <command>` lists of this stack, sorted, from every engine that holds that
     * kind of object (`enginesHolding`).
     */
    private async listed(command: string[], format: string): Promise<string[]> {
        const found = new Set<string>();
        for (const engine of enginesHolding(this.engines, command[0])) {
            const res = await labelled(this.name, engine, command, format);
            assert.equal(res.code, 0, `docker ${command.join(" ")} on ${engine?.host ?? "this machine's engine"} failed: ${res.stderr}`);
            res.stdout.split("\n").filter(Boolean).forEach((name) => found.add(name));
        }
        return [...found].sort();
    }

    /** Destroys what is left, removes the stack, its config file, its state and every engine object labelled with it. */
    async dispose(): Promise<void> {
        this.log("dispose");
        await this.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        await this.pulumi(["stack", "rm", "--yes", "--force", "--non-interactive"]);
        // What a failed test or a half-done destroy left, on every engine of the stack.
        await removeStackObjects(this.name, this.engines);
        fs.rmSync(this.configFile, { force: true });
        fs.rmSync(this.stateDir, { recursive: true, force: true });
    }
}

/** Every swarm service on an engine, a stack's or not, sorted: what a refused preview must not have added to. */
export async function everyServiceOn(engine: EngineConnection): Promise<string[]> {
    const res = await dockerCli(["service", "ls", "--format", "{{.Name}}"], { engine, timeoutMs: 120_000 });
    assert.equal(res.code, 0, `docker service ls on ${engine.host}: ${res.stderr}`);
    return res.stdout.split("\n").filter(Boolean).sort();
}

/** The running task containers of a swarm service, newest first (`docker ps` order). */
export async function taskContainers(serviceName: string): Promise<string[]> {
    const res = await docker("ps", "--filter", `label=com.docker.swarm.service.name=${serviceName}`, "--filter", "status=running", "--format", "{{.Names}}");
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.split("\n").filter(Boolean);
}

/**
 * The running task container of a swarm service (the newest, if a start-first update runs two).
 * Waits a little: right after a restart or a stop-first update the service may have none yet.
 */
export async function taskContainer(serviceName: string, waitSeconds = 60): Promise<string> {
    const running = await waitFor(`a running task of ${serviceName}`, waitSeconds, () => taskContainers(serviceName), (names) => names.length > 0);
    return running[0];
}

/** `docker inspect` of one object, parsed; `type` (container, service, ...) keeps a name from matching another kind. */
export async function inspect(name: string, type?: "container" | "service" | "volume" | "network"): Promise<any> {
    const res = await docker("inspect", ...(type ? ["--type", type] : []), name);
    assert.equal(res.code, 0, `docker inspect ${name} failed: ${res.stderr}`);
    return JSON.parse(res.stdout)[0];
}

/**
 * Every secret value of a stack, read from its state (`pulumi stack export --show-secrets`): the
 * swarm secrets' data and the generated values. Kept in memory only; never printed.
 */
/** A value of `pulumi stack export --show-secrets`: a secret is `{<sig>: ..., plaintext: "<JSON>"}`. */
function revealed(value: unknown): unknown {
    if (value !== null && typeof value === "object" && SECRET_SIG in value) {
        const plaintext = (value as { plaintext?: unknown }).plaintext;
        return typeof plaintext === "string" ? JSON.parse(plaintext) : undefined;
    }
    return value;
}
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

export async function stackSecretValues(stack: TestStack): Promise<{ bySecretId: Map<string, string>; all: string[] }> {
    const res = await stack.pulumi(["stack", "export", "--show-secrets"]);
    assert.equal(res.code, 0, res.stderr);
    const resources: { type: string; id?: string; outputs?: Record<string, unknown> }[] = JSON.parse(res.stdout).deployment.resources ?? [];
    const bySecretId = new Map<string, string>();
    const all = new Set<string>();
    for (const r of resources) {
        const data = revealed(r.outputs?.data);
        const result = revealed(r.outputs?.result);
        if (r.type === "docker:index/secret:Secret" && r.id && typeof data === "string") {
            const value = Buffer.from(data, "base64").toString("utf8");
            bySecretId.set(r.id, value);
            all.add(value);
        } else if (r.type.startsWith("random:") && typeof result === "string") {
            all.add(result);
        }
    }
    // A short value would match by chance; every generated or delivered secret is far longer.
    return { bySecretId, all: [...all].filter((v) => v.length >= 8) };
}

/**
 * The secret-handling guarantee, for every container of the stack (running or exited, swarm task
 * or standalone): `docker inspect` shows no secret value (nor its URL-encoded form) in the env,
 * the entrypoint and command, or the labels; and in every running task, each swarm secret of its
 * service is a file under /run/secrets holding exactly that secret's value. `earlierValues` are
 * values the state no longer holds (rotated away) that must not show either. Returns how many
 * secret files were checked. Messages name containers and files, never a value.
 */
export async function assertSecretsOnlyAsFiles(stack: TestStack, earlierValues: string[] = []): Promise<number> {
    const { bySecretId, all } = await stackSecretValues(stack);
    assert.ok(bySecretId.size > 0, "the state holds no swarm secret");
    const forms = [...all, ...earlierValues.filter((v) => v.length >= 8)].flatMap((v) => [...new Set([v, encodeURIComponent(v)])]);
    let files = 0;
    const containers = await stack.containers();
    assert.ok(containers.length > 0, "the stack has no container");
    for (const name of containers) {
        const c = await inspect(name, "container");
        const places: Record<string, string> = {
            ".Config.Env": JSON.stringify(c.Config.Env ?? []),
            ".Config.Cmd": JSON.stringify(c.Config.Cmd ?? []),
            ".Config.Entrypoint": JSON.stringify(c.Config.Entrypoint ?? []),
            ".Path/.Args": JSON.stringify([c.Path, ...(c.Args ?? [])]),
            ".Config.Labels": JSON.stringify(c.Config.Labels ?? {}),
        };
        for (const [where, text] of Object.entries(places)) {
            assert.ok(!forms.some((f) => text.includes(f)), `container ${name} has a secret value in ${where}`);
        }
        const serviceId = c.Config.Labels?.["com.docker.swarm.service.id"];
        if (!serviceId || c.State.Running !== true) {
            continue;
        }
        const service = await inspect(serviceId, "service");
        const mounted: { File: { Name: string; UID?: string }; SecretID: string; SecretName: string }[] = service.Spec.TaskTemplate.ContainerSpec.Secrets ?? [];
        for (const s of mounted) {
            assert.match(s.File.Name, /^\/run\/secrets\//, `${name}: secret ${s.SecretName} is mounted outside /run/secrets`);
            const expected = bySecretId.get(s.SecretID);
            assert.ok(expected !== undefined, `${name}: secret ${s.SecretName} is not one of the stack's`);
            // As the file's owner: tasks drop every capability, so not even root reads a 0400 file of another user.
            const read = await docker("exec", ...(s.File.UID ? ["-u", s.File.UID] : []), name, "cat", s.File.Name);
            assert.equal(read.code, 0, `${name}: cannot read ${s.File.Name}: ${read.stderr}`);
            assert.ok(read.stdout === expected, `${name}: ${s.File.Name} does not hold the value of ${s.SecretName}`);
            const env = (c.Config.Env as string[]).map((e) => e.split("=")[0]);
            assert.ok(env.includes(`${s.File.Name.slice("/run/secrets/".length)}_FILE`), `${name}: no ${s.File.Name.slice("/run/secrets/".length)}_FILE in its env`);
            files++;
        }
    }
    return files;
}

export async function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: any }> {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: any = text;
    try {
        body = JSON.parse(text);
    } catch {
        // not JSON; keep the text
    }
    return { status: res.status, body };
}

export async function httpPost(url: string, body: unknown, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<{ status: number; body: any }> {
    const res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: any = text;
    try {
        parsed = JSON.parse(text);
    } catch {
        // not JSON; keep the text
    }
    return { status: res.status, body: parsed };
}

/** Polls until `check` returns true or the time is up; returns the last value seen. */
export async function waitFor<T>(what: string, seconds: number, probe: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    let last: T | undefined;
    let lastErr: unknown;
    while (Date.now() < deadline) {
        try {
            last = await probe();
            if (ok(last)) {
                return last;
            }
        } catch (err) {
            lastErr = err;
        }
        await new Promise((r) => setTimeout(r, 500));
    }
    assert.fail(`${what} not reached within ${seconds}s; last: ${JSON.stringify(last) ?? String(lastErr)}`);
}

/**
 * Restarts the local Docker engine for real: SIGTERM to dockerd (which stops every container, the
 * swarm's tasks included), waits for it to exit, runs `whileDown`, then starts it again the way the
 * toolchain does (scripts/lib/docker-engine.sh). Only for an engine this machine runs: a remote
 * DOCKER_HOST or a dockerd this user cannot signal fails the test saying so.
 */
export async function restartEngine(log: (step: string) => void, whileDown: () => Promise<void>): Promise<{ stopMs: number; startMs: number }> {
    const host = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
    assert.equal(host, "unix:///var/run/docker.sock", `restarting the engine needs the local one; DOCKER_HOST is ${host}`);
    const pidFile = "/var/run/docker.pid";
    let pid = NaN;
    try {
        pid = Number(fs.readFileSync(pidFile, "utf8").trim());
    } catch (err) {
        assert.fail(`cannot read ${pidFile} to find dockerd (${String(err)}); the engine must be the one scripts/lib/docker-engine.sh starts`);
    }
    assert.ok(Number.isInteger(pid) && pid > 0 && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("dockerd"), `${pidFile} names ${pid}, which is not a running dockerd`);
    const stopping = Date.now();
    log(`stopping dockerd (pid ${pid})`);
    process.kill(pid, "SIGTERM");
    const alive = () => {
        try {
            process.kill(pid, 0);
            return true;
        } catch {
            return false;
        }
    };
    // dockerd gives its containers their stop grace periods (10 s by default) before it exits.
    while (alive()) {
        assert.ok(Date.now() - stopping < 120_000, `dockerd (pid ${pid}) has not exited 120 s after SIGTERM`);
        await new Promise((r) => setTimeout(r, 200));
    }
    const stopMs = Date.now() - stopping;
    log(`dockerd exited after ${stopMs} ms`);
    await whileDown();
    const starting = Date.now();
    const start = await run("bash", [path.join(ROOT, "scripts", "lib", "docker-engine.sh")]);
    assert.equal(start.code, 0, `starting the engine again failed:\n${start.stderr}`);
    const startMs = Date.now() - starting;
    log(`engine answering again after ${startMs} ms`);
    return { stopMs, startMs };
}
