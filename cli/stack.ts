// One stack of this project, as the CLI reaches it: the Automation API's LocalWorkspace on the
// project directory (the `pulumi` the toolchain put on PATH, the backend and passphrase the
// environment names), its spec read from its config, and its outputs.
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { specFromConfigValues } from "../config";
import { Spec, SpecError } from "../components/spec";
import { StackIdentity } from "../components/naming";
import { CliError, EXIT } from "./errors";
import { engineConnection, nodeConnection } from "../components/engine";
import { Engine, runCommand } from "./engine";

/** The project directory: where Pulumi.yaml, the program and the policy pack are. */
export const PROJECT_DIR = path.resolve(__dirname, "..");

/** What the CLI knows about a deployed stack's parts, from its outputs. */
export interface StackOutputs {
    endpoints?: Record<string, string>;
    healthChecks?: Record<string, string>;
    services?: Record<string, string>;
    postgresService?: string;
    redisService?: string;
    schedulerService?: string;
    gatewayContainer?: string;
    backups?: { agentService?: string };
    networks?: { data?: string; edge?: string };
    /** Present when the stack runs monitoring: Alertmanager's URL on 127.0.0.1 (through the gateway). */
    monitoring?: { alertmanager?: string };
    /** The Telegram webhook as last registered or refreshed. */
    telegramWebhook?: { url?: string; pendingUpdateCount?: number; lastErrorMessage?: string };
}

export class StackContext {
    private cachedSpec?: Spec;
    private cachedOutputs?: StackOutputs;

    private constructor(
        readonly name: string,
        readonly project: string,
        readonly stack: Stack,
        /** The policy pack config deploys use: `--policy-config`, else the stack's own file, else production's. */
        readonly policyConfig: string,
        private readonly knownStacks: () => Promise<string[]>,
    ) {}

    /** A failed `pulumi` read of this stack as an error: a stack that does not exist lists those that do. */
    private async readFailure(what: string, stderr: string): Promise<CliError> {
        if (/no stack named|stack .* not found/i.test(stderr)) {
            const known = await this.knownStacks().catch(() => []);
            return new CliError(EXIT.UNAVAILABLE, `no stack named ${this.name} in this backend (stacks: ${known.join(", ") || "none"}); deploy it first with 'npm run deploy -- ${this.name}'`);
        }
        return new CliError(EXIT.UNAVAILABLE, `cannot read the ${what} of stack ${this.name}: ${stderr.trim()}`);
    }

    get identity(): StackIdentity {
        return { project: this.project, stack: this.name };
    }

    /** The stack `--stack` names, or the selected one; never changes which stack is selected. */
    static async open(options: { stack?: string; policyConfig?: string }): Promise<StackContext> {
        const requested = options.stack;
        if (!process.env.PATH?.split(":").some((dir) => fs.existsSync(path.join(dir, "pulumi")))) {
            throw new CliError(EXIT.UNAVAILABLE, "no `pulumi` on PATH; run 'eval \"$(npm run -s toolchain)\"' in this shell first");
        }
        const workspace = await LocalWorkspace.create({ workDir: PROJECT_DIR });
        const knownStacks = async () =>
            (
                await workspace.listStacks().catch((err: unknown) => {
                    throw new CliError(EXIT.UNAVAILABLE, `cannot list the stacks of ${PROJECT_DIR}: ${firstLine(err)}`);
                })
            ).map((s) => s.name.split("/").pop()!);
        // Listing the stacks costs a `pulumi` run: only when the stack is not named, or is not there.
        const name = requested ?? (await workspace.stack())?.name.split("/").pop();
        if (!name) {
            throw new CliError(EXIT.USAGE, `no stack is selected; pass --stack <name> (stacks: ${(await knownStacks()).join(", ") || "none"})`);
        }
        // Stack.select runs `pulumi stack select`, which would change the stack the person has
        // selected in this project; `opsbook --stack X` must leave it alone. Every command the
        // Stack runs passes `--stack` itself; a stack that does not exist fails the first read.
        workspace.selectStack = async () => undefined;
        const stack = await Stack.select(name, workspace);
        const project = (await workspace.projectSettings()).name;
        const policyConfig = options.policyConfig ? path.resolve(options.policyConfig) : defaultPolicyConfig(name);
        if (!fs.existsSync(policyConfig)) {
            throw new CliError(EXIT.USAGE, `--policy-config names ${policyConfig}, which does not exist`);
        }
        return new StackContext(name, project, stack, policyConfig, knownStacks);
    }

    /**
     * The stack's spec, from its config. Read with the `pulumi` CLI without `--show-secrets`: the
     * CLI never needs a secret's value (procedures mount the stack's own swarm secrets instead).
     */
    async spec(): Promise<Spec> {
        if (!this.cachedSpec) {
            const res = await runCommand("pulumi", ["config", "--json", "--stack", this.name], { cwd: PROJECT_DIR });
            if (res.code !== 0) {
                throw await this.readFailure("config", res.stderr);
            }
            const listed = JSON.parse(res.stdout) as Record<string, { value?: string; secret: boolean }>;
            const values = Object.fromEntries(Object.entries(listed).flatMap(([k, v]) => (v.secret || v.value === undefined ? [] : [[k, v.value]])));
            try {
                this.cachedSpec = specFromConfigValues(values);
            } catch (err) {
                throw new CliError(EXIT.USAGE, err instanceof SpecError ? err.message : firstLine(err));
            }
        }
        return this.cachedSpec;
    }

    /** The outputs of the stack's last deploy; secret ones stay masked (nothing here needs them). */
    async outputs(): Promise<StackOutputs> {
        if (!this.cachedOutputs) {
            const res = await runCommand("pulumi", ["stack", "output", "--json", "--stack", this.name], { cwd: PROJECT_DIR });
            if (res.code !== 0) {
                throw await this.readFailure("outputs", res.stderr);
            }
            const outputs = JSON.parse(res.stdout || "{}") as StackOutputs;
            if (!outputs.services) {
                throw new CliError(EXIT.UNAVAILABLE, `stack ${this.name} has no services in its outputs: it is not deployed; run 'npm run deploy -- ${this.name}'`);
            }
            this.cachedOutputs = outputs;
        }
        return this.cachedOutputs;
    }

    /** The stack's engine (`opsbook:engine`), where its services, secrets and audit entries are. */
    async engine(): Promise<Engine> {
        return new Engine(engineConnection((await this.spec()).engine));
    }

    /**
     * A running task of a swarm service and the engine that runs it: the manager's first, then
     * each node of `opsbook:engine.nodes` (a task's container is reachable only through its own
     * node's engine). Only a task Swarm wants running: one it is stopping (a release, a drain, a
     * moved constraint) still has a running container for its grace period, and would be gone
     * under the command. Undefined when none runs anywhere.
     */
    async runningTask(swarmService: string): Promise<{ engine: Engine; task: string } | undefined> {
        const spec = await this.spec();
        const manager = new Engine(engineConnection(spec.engine));
        const engines = [manager, ...Object.values(spec.engine.nodes).map((node) => new Engine(nodeConnection(node)))];
        const wanted = await manager.wantedTaskIds(swarmService);
        for (const engine of engines) {
            const found = (await engine.runningTasks(swarmService)).find((t) => wanted.has(t.taskId));
            if (found) {
                return { engine, task: found.container };
            }
        }
        return undefined;
    }

    /** Forgets what was read, after a deploy changed it. */
    invalidate(): void {
        this.cachedSpec = undefined;
        this.cachedOutputs = undefined;
    }

    /**
     * Every swarm service of the stack a person may name, by the name they use: the spec's services
     * and the stack's own parts (postgres, redis, scheduler, backups).
     */
    async swarmServices(): Promise<Record<string, string>> {
        const o = await this.outputs();
        return {
            ...o.services,
            ...(o.postgresService ? { postgres: o.postgresService } : {}),
            ...(o.redisService ? { redis: o.redisService } : {}),
            ...(o.schedulerService ? { scheduler: o.schedulerService } : {}),
            ...(o.backups?.agentService ? { backups: o.backups.agentService } : {}),
        };
    }

    /** The swarm service of a name a person typed; an unknown name is a USAGE error listing the stack's services. */
    async swarmService(name: string): Promise<string> {
        const all = await this.swarmServices();
        const found = Object.prototype.hasOwnProperty.call(all, name) ? all[name] : undefined;
        if (!found) {
            throw new CliError(EXIT.USAGE, `stack ${this.name} has no service \`${name}\`; its services: ${Object.keys(all).join(", ")}`);
        }
        return found;
    }
}

/** The policy pack config `npm run deploy` uses for a stack: its own file, else production's (the strict one). */
export function defaultPolicyConfig(stack: string): string {
    const own = path.join(PROJECT_DIR, "policies", "config", `${stack}.json`);
    return fs.existsSync(own) ? own : path.join(PROJECT_DIR, "policies", "config", "production.json");
}

export function firstLine(err: unknown): string {
    return (err instanceof Error ? err.message : String(err)).trim().split("\n")[0];
}
