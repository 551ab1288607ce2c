// Helpers for the e2e tests: a throwaway stack in a throwaway state backend, driven by the real
// `pulumi` CLI against the real Docker engine. Nothing here fakes an engine: a test that cannot
// reach one fails and says why.
import { strict as assert } from "node:assert";
import { execFile, execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "..", "..");

export interface CliResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Fails the test with a reason when an engine the e2e tests need is not there. */
export function requireEngines(): void {
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
            child.stdin?.end(opts.input);
        }
    });
}

export function docker(...args: string[]): Promise<CliResult> {
    return run("docker", args);
}

/** A stack of this project with its own state directory and passphrase, removed by `dispose`. */
export class TestStack {
    readonly name: string;
    readonly stateDir: string;
    readonly env: NodeJS.ProcessEnv;
    readonly configFile: string;
    private readonly started = Date.now();

    constructor(prefix = "e2e") {
        this.name = `${prefix}-${crypto.randomBytes(3).toString("hex")}`;
        this.stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-e2e-state-"));
        this.configFile = path.join(ROOT, `Pulumi.${this.name}.yaml`);
        this.env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${this.stateDir}`,
            PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(16).toString("hex"),
            PULUMI_CONFIG_PASSPHRASE_FILE: "",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        };
    }

    /** Logs a step with the time since the stack was made, so a slow CI run shows where time went. */
    log(step: string): void {
        process.stderr.write(`[e2e ${this.name}] ${step} (${Math.round((Date.now() - this.started) / 1000)}s)\n`);
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
        const res = await this.pulumi(["up", "--yes", "--non-interactive", ...extra]);
        this.log(`pulumi up exited ${res.code}`);
        return res;
    }

    async outputs(): Promise<Record<string, any>> {
        const res = await this.pulumi(["stack", "output", "--json", "--show-secrets"]);
        assert.equal(res.code, 0, res.stderr);
        return JSON.parse(res.stdout);
    }

    /** Containers of this stack the engine knows, running or not. */
    async containers(): Promise<string[]> {
        const res = await docker("ps", "-a", "--filter", `label=opsbook.stack=${this.name}`, "--format", "{{.Names}}");
        assert.equal(res.code, 0, res.stderr);
        return res.stdout.split("\n").filter(Boolean);
    }

    /** Destroys what is left, removes the stack, its config file, its state and its volumes. */
    async dispose(): Promise<void> {
        this.log("dispose");
        await this.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        await this.pulumi(["stack", "rm", "--yes", "--force", "--non-interactive"]);
        for (const name of await this.containers()) {
            await docker("rm", "-f", name);
        }
        const volumes = await docker("volume", "ls", "-q", "--filter", `label=opsbook.stack=${this.name}`);
        for (const v of volumes.stdout.split("\n").filter(Boolean)) {
            await docker("volume", "rm", "-f", v);
        }
        fs.rmSync(this.configFile, { force: true });
        fs.rmSync(this.stateDir, { recursive: true, force: true });
    }
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
