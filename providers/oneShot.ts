// A command run to completion once per release: database migrations, preflight checks, the
// grants. Custom because @pulumi/docker cannot express it: its Service converges on tasks that
// keep running, and its Container neither fails the deploy on a non-zero exit nor reaches a
// swarm secret. This runs a swarm job (`--mode replicated-job`, never restarted) through the
// docker CLI, so it works on whatever engine DOCKER_HOST names, with secrets mounted as files,
// and its failure fails `pulumi up`, which stops every resource that depends on it from changing:
// services stay on the release they run.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { EngineConnection, dockerCli } from "./engineCli";

export interface OneShotInputs {
    /** Name prefix of the job's swarm service. */
    name: string;
    /** Image ID to run. */
    image: string;
    /** The reference the ID came from, for people reading the state. */
    imageName: string;
    /** Arguments given to the image's entrypoint (its CMD is replaced). */
    command: string[];
    /** Plain env (never a secret). */
    env: Record<string, string>;
    /** Swarm secrets mounted as /run/secrets/<env>, with `<env>_FILE` set: by engine name. */
    secretFiles: { secretName: string; env: string; uid?: string }[];
    labels: Record<string, string>;
    /** Networks (engine names) the job joins. */
    networks: string[];
    memoryMb: number;
    user?: string;
    /** Seconds the command may run before it counts as failed. */
    timeoutSeconds: number;
    /**
     * What makes the step run again, besides the image and the command: a release label. Env is
     * deliberately not part of it, so rotating a password does not re-run migrations.
     */
    release: string;
    /** Values that must never appear in an error: the secrets the job can read. Kept encrypted in the state. */
    redact: string[];
    /** The stack's engine, when it is not this machine's default one. */
    engine?: EngineConnection;
    /** Placement constraints of the job's task (a swarm of several nodes: the manager, which has every image). */
    constraints?: string[];
}

const RERUN_KEYS = ["image", "command", "release"] as const;

/** Replaces every occurrence of a secret value (and its URL-encoded form) with `[secret]`. Pure. */
export function redactSecrets(text: string, secrets: string[]): string {
    let out = text;
    for (const value of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) {
        for (const form of new Set([value, encodeURIComponent(value)])) {
            out = out.split(form).join("[secret]");
        }
    }
    return out;
}

/** The `docker service create` arguments of a job. Secret values never appear here: only secret names. Pure. */
export function jobCreateArgs(inputs: OneShotInputs, serviceName: string): string[] {
    const args = ["service", "create", "--detach", "--quiet", "--name", serviceName, "--mode", "replicated-job", "--restart-condition", "none"];
    args.push("--limit-memory", `${inputs.memoryMb}M`, "--read-only", "--cap-drop", "ALL", "--mount", "type=tmpfs,destination=/tmp,tmpfs-size=67108864");
    if (inputs.user) {
        args.push("--user", inputs.user);
    }
    for (const [k, v] of Object.entries(inputs.labels)) {
        args.push("--label", `${k}=${v}`, "--container-label", `${k}=${v}`);
    }
    for (const network of inputs.networks) {
        args.push("--network", network);
    }
    for (const constraint of inputs.constraints ?? []) {
        args.push("--constraint", constraint);
    }
    for (const [k, v] of Object.entries(inputs.env)) {
        args.push("--env", `${k}=${v}`);
    }
    for (const s of inputs.secretFiles) {
        const owner = s.uid ? `,uid=${s.uid},gid=${s.uid},mode=0400` : ",mode=0444";
        args.push("--secret", `source=${s.secretName},target=${s.env}${owner}`, "--env", `${s.env}_FILE=/run/secrets/${s.env}`);
    }
    args.push(inputs.image, ...inputs.command);
    return args;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the job to its end; resolves with its exit code and its last output lines (redacted). Also the `opsbook` CLI's way to run a task in a stack. */
export async function runJob(inputs: OneShotInputs): Promise<{ exitCode: number; output: string; timedOut: boolean }> {
    const serviceName = `${inputs.name}-${crypto.randomBytes(3).toString("hex")}`;
    const created = await dockerCli(jobCreateArgs(inputs, serviceName), { engine: inputs.engine });
    if (created.code !== 0) {
        throw new Error(`${inputs.name}: the engine refused the job: ${redactSecrets(created.stderr.trim(), inputs.redact)}`);
    }
    try {
        const deadline = Date.now() + inputs.timeoutSeconds * 1000;
        for (;;) {
            const ps = await dockerCli(["service", "ps", serviceName, "--no-trunc", "--format", "{{.ID}} {{.CurrentState}}"], { engine: inputs.engine });
            const task = ps.stdout.trim().split("\n").filter(Boolean)[0];
            const [taskId, state] = task ? task.split(" ") : [];
            if (state === "Complete" || state === "Failed" || state === "Rejected" || state === "Shutdown") {
                const inspect = await dockerCli(["inspect", "--format", "{{.Status.ContainerStatus.ExitCode}}|{{.Status.Err}}", taskId], { engine: inputs.engine });
                const [code, taskErr] = inspect.stdout.trim().split("|");
                const logs = await dockerCli(["service", "logs", "--raw", "--tail", "60", serviceName], { engine: inputs.engine });
                const output = [logs.stdout, logs.stderr, taskErr && state !== "Complete" ? `engine: ${taskErr}` : ""].filter(Boolean).join("").trim();
                return { exitCode: state === "Complete" ? 0 : Number(code) || 1, output: redactSecrets(output, inputs.redact), timedOut: false };
            }
            if (Date.now() > deadline) {
                const logs = await dockerCli(["service", "logs", "--raw", "--tail", "60", serviceName], { engine: inputs.engine });
                return { exitCode: -1, output: redactSecrets(`${logs.stdout}${logs.stderr}`.trim(), inputs.redact), timedOut: true };
            }
            await sleep(250);
        }
    } finally {
        // Removing a job's service leaves its exited task container behind: remove it too, so
        // nothing of a finished step (and of a destroyed stack) stays on the engine.
        const tasks = await dockerCli(["service", "ps", serviceName, "--no-trunc", "-q"], { engine: inputs.engine });
        const ids = tasks.stdout.split("\n").filter(Boolean);
        const containers = ids.length
            ? (await dockerCli(["inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", ...ids], { engine: inputs.engine })).stdout.split("\n").filter(Boolean)
            : [];
        await dockerCli(["service", "rm", serviceName], { engine: inputs.engine });
        if (containers.length) {
            await dockerCli(["rm", "-f", ...containers], { engine: inputs.engine });
        }
    }
}

const oneShotProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: OneShotInputs) {
        const result = await runJob(inputs);
        if (result.timedOut) {
            throw new Error(`${inputs.name} did not finish within ${inputs.timeoutSeconds}s; nothing that depends on it was changed. Its last output:\n${result.output}`);
        }
        if (result.exitCode !== 0) {
            throw new Error(
                `${inputs.name} (${inputs.command.join(" ")}) failed with exit code ${result.exitCode}; ` +
                    `nothing that depends on it was changed. Its output:\n${result.output}`,
            );
        }
        return { id: crypto.randomUUID(), outs: { ...inputs, finishedAt: new Date().toISOString() } };
    },
    async diff(_id: string, olds: OneShotInputs, news: OneShotInputs) {
        const replaces = RERUN_KEYS.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        // Other inputs (env, secrets, limits) are kept up to date in the state without running again.
        const changed = replaces.length > 0 || JSON.stringify({ ...olds, finishedAt: undefined }) !== JSON.stringify({ ...news, finishedAt: undefined });
        return { changes: changed, replaces: [...replaces], deleteBeforeReplace: false };
    },
    async update(_id: string, olds: OneShotInputs & { finishedAt: string }, news: OneShotInputs) {
        return { outs: { ...news, finishedAt: olds.finishedAt } };
    },
    // The job's service is removed as soon as it finishes; there is nothing to delete.
    async delete() {},
};

export type OneShotArgs = { [K in Exclude<keyof OneShotInputs, "secretFiles" | "networks" | "redact" | "user" | "engine" | "constraints">]: pulumi.Input<OneShotInputs[K]> } & {
    user?: string;
    /** Left out on one node, so the state of earlier stacks does not change. */
    constraints?: string[];
    /** Left out for this machine's default engine, so the state of earlier stacks does not change. */
    engine?: EngineConnection;
    secretFiles: pulumi.Input<{ secretName: pulumi.Input<string>; env: string; uid?: string }[]>;
    networks: pulumi.Input<string>[];
    redact: pulumi.Input<pulumi.Input<string>[]>;
};

/** A command run to completion once per release; its failure fails the deploy. */
export class OneShotRun extends pulumi.dynamic.Resource {
    declare public readonly finishedAt: pulumi.Output<string>;

    constructor(name: string, args: OneShotArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            oneShotProvider,
            name,
            { finishedAt: undefined, ...args, redact: pulumi.secret(args.redact) },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["redact"] }),
            "opsbook",
            "OneShotRun",
        );
    }
}
