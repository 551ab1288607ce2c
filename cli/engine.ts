// The Docker engine as the CLI sees it: the `docker` client on PATH (whatever DOCKER_HOST names),
// the same way providers/oneShot.ts and the scripts reach it. No secret is ever an argument here.
import { execFile, spawn } from "node:child_process";
import { CliError, EXIT } from "./errors";

export interface CommandResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs a command to its end; `input` goes to its stdin (how values that must stay off argv travel). */
export function runCommand(cmd: string, args: string[], opts: { input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    return new Promise((resolve) => {
        const child = execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
            const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
        child.stdin?.end(opts.input ?? "");
    });
}

export function docker(args: string[], input?: string): Promise<CommandResult> {
    return runCommand("docker", args, { input });
}

/** `docker ...` that must succeed; an engine that does not answer is UNAVAILABLE, anything else FAILED. */
export async function dockerOk(args: string[], input?: string): Promise<string> {
    const res = await docker(args, input);
    if (res.code !== 0) {
        const unreachable = /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect/i.test(res.stderr);
        throw new CliError(
            unreachable ? EXIT.UNAVAILABLE : EXIT.FAILED,
            unreachable
                ? `the Docker engine does not answer (${res.stderr.trim().split("\n")[0]}); run 'eval "$(npm run -s toolchain)"' first`
                : `docker ${args[0]} ${args[1] ?? ""} failed: ${res.stderr.trim()}`,
        );
    }
    return res.stdout;
}

/** Runs a command with the terminal attached (logs --follow, exec); resolves with its exit code. */
export function runAttached(cmd: string, args: string[]): Promise<number> {
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { stdio: "inherit" });
        child.on("error", () => resolve(EXIT.UNAVAILABLE));
        child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
}

/** The running task containers of a swarm service on this engine, newest first. */
export async function runningTasks(swarmService: string): Promise<string[]> {
    const out = await dockerOk(["ps", "--filter", `label=com.docker.swarm.service.name=${swarmService}`, "--filter", "status=running", "--format", "{{.Names}}"]);
    return out.split("\n").filter(Boolean);
}

/** `docker service inspect` of several services at once, parsed. */
export async function inspectServices(names: string[]): Promise<SwarmServiceInfo[]> {
    if (names.length === 0) {
        return [];
    }
    const res = await docker(["service", "inspect", ...names]);
    // A missing service makes the command fail but still prints the others.
    const parsed = res.stdout.trim() ? (JSON.parse(res.stdout) as SwarmServiceInfo[]) : [];
    if (res.code !== 0 && parsed.length === 0 && !/no such service/i.test(res.stderr)) {
        await dockerOk(["version", "--format", "{{.Server.Version}}"]);
    }
    return parsed;
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
