// The Docker engine as the CLI sees it: the `docker` client on PATH, pointed at the stack's own
// engine (`opsbook:engine`: this machine's, or a server's over SSH) the way the stack's code
// reaches it (providers/engineCli.ts). No secret is ever an argument here.
import { execFile, spawn } from "node:child_process";
import { EngineConnection, dockerCliEnv } from "../providers/engineCli";
import { CliError, EXIT } from "./errors";

export interface CommandResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs a command to its end; `input` goes to its stdin (how values that must stay off argv travel). */
export function runCommand(cmd: string, args: string[], opts: { input?: string; cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
    return new Promise((resolve) => {
        const child = execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
        // A command that exits before reading its stdin (most docker calls ignore it) raises EPIPE
        // here; its exit code and stderr already tell the story, so the write error is not one.
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(opts.input ?? "");
    });
}

/** The stack's engine: every docker call of a command goes through one of these. */
export class Engine {
    private readonly env: NodeJS.ProcessEnv;

    /** `connection`: undefined for this machine's default engine. */
    constructor(readonly connection: EngineConnection | undefined) {
        this.env = dockerCliEnv(connection);
    }

    docker(args: string[], input?: string): Promise<CommandResult> {
        return runCommand("docker", args, { input, env: this.env });
    }

    /** `docker ...` that must succeed; an engine that does not answer is UNAVAILABLE, anything else FAILED. */
    async dockerOk(args: string[], input?: string): Promise<string> {
        const res = await this.docker(args, input);
        if (res.code !== 0) {
            const unreachable = /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect|ssh: /i.test(res.stderr);
            throw new CliError(
                unreachable ? EXIT.UNAVAILABLE : EXIT.FAILED,
                unreachable
                    ? `the stack's Docker engine does not answer (${res.stderr.trim().split("\n")[0]}); run 'eval "$(npm run -s toolchain)"' first, or check \`opsbook:engine\``
                    : `docker ${args[0]} ${args[1] ?? ""} failed: ${res.stderr.trim()}`,
            );
        }
        return res.stdout;
    }

    /** `docker ...` with the terminal attached (logs --follow, exec); resolves with its exit code. */
    attached(args: string[]): Promise<number> {
        return new Promise((resolve) => {
            const child = spawn("docker", args, { stdio: "inherit", env: this.env });
            child.on("error", () => resolve(EXIT.UNAVAILABLE));
            child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
        });
    }

    /**
     * The running task containers of a swarm service, newest first, each with its swarm task. A
     * container still shows as running while Swarm stops it (for its stop grace period).
     */
    async runningTasks(swarmService: string): Promise<{ container: string; taskId: string }[]> {
        const out = await this.dockerOk(["ps", "--filter", `label=com.docker.swarm.service.name=${swarmService}`, "--filter", "status=running", "--format", '{{.Names}} {{.Label "com.docker.swarm.task.id"}}']);
        return out
            .split("\n")
            .filter(Boolean)
            .map((line) => {
                const [container, taskId = ""] = line.split(" ");
                return { container, taskId };
            });
    }

    /** The IDs of a swarm service's tasks that Swarm wants running (a manager's answer; empty when the service is gone). */
    async wantedTaskIds(swarmService: string): Promise<Set<string>> {
        const res = await this.docker(["service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.ID}}", swarmService]);
        return new Set(res.code === 0 ? res.stdout.split("\n").filter(Boolean) : []);
    }

    /** `docker service inspect` of several services at once, parsed. */
    async inspectServices(names: string[]): Promise<SwarmServiceInfo[]> {
        if (names.length === 0) {
            return [];
        }
        const res = await this.docker(["service", "inspect", ...names]);
        // A missing service makes the command fail but still prints the others.
        const parsed = res.stdout.trim() ? (JSON.parse(res.stdout) as SwarmServiceInfo[]) : [];
        if (res.code !== 0 && parsed.length === 0 && !/no such service/i.test(res.stderr)) {
            await this.dockerOk(["version", "--format", "{{.Server.Version}}"]);
        }
        return parsed;
    }
}

/**
 * The ID of an image built on this machine (the toolchain builds every image here; a server's
 * engine gets it copied and runs it by this ID).
 */
export async function localImageId(reference: string): Promise<string> {
    const res = await runCommand("docker", ["image", "inspect", "--format", "{{.Id}}", reference]);
    if (res.code !== 0) {
        throw new CliError(EXIT.UNAVAILABLE, `the image ${reference} is not on this machine's engine; run 'eval "$(npm run -s toolchain)"', which builds it`);
    }
    return res.stdout.trim();
}

/** The parts of a swarm service's inspect output the CLI reads. */
export interface SwarmServiceInfo {
    ID: string;
    Spec: {
        Name: string;
        Labels?: Record<string, string>;
        Mode?: { Replicated?: { Replicas?: number }; Global?: object; ReplicatedJob?: object };
        TaskTemplate: {
            ContainerSpec: {
                Image: string;
                Env?: string[];
                Labels?: Record<string, string>;
                Secrets?: { File: { Name: string }; SecretID: string; SecretName: string }[];
            };
        };
    };
}
