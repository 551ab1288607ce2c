// The record of a stack's backup schedule, retention and location, as a small dynamic provider:
// @pulumi/docker has no resource that reports what a running agent knows. Its read (`pulumi
// refresh`) reports the last verified backup of each target, as the agent's own `health` command
// tells it. The policy pack's `backups-scheduled` rule looks for this type. It reaches the engine
// through the docker CLI, so it works wherever DOCKER_HOST points; only Node built-ins are used,
// since dynamic providers are serialized into the state and run in a separate process.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { EngineConnection, dockerCli } from "../providers/engineCli";

// ---------------------------------------------------------------------------------------------
// BackupSchedule

export interface BackupScheduleInputs {
    /** The agent's swarm service, which runs the schedule. */
    agentService: string;
    /** 5-field cron, UTC. */
    schedule: string;
    /** Longest gap between two runs of the schedule. */
    periodSeconds: number;
    /** The agent is unhealthy when a target's newest verified backup is older than this. */
    staleAfterSeconds: number;
    keep: { days: number; weeks: number; months: number };
    /** Where backups are, for people: `volume <name>` or a host directory. */
    location: string;
    /** Target ids, e.g. postgres-app. */
    targets: string[];
    /** Always true: only verified backups count. Recorded so a reader of the state sees it. */
    verify: boolean;
    /** The stack's engine, when it is not this machine's default one. */
    engine?: EngineConnection;
}

/** What the agent last reported about one target. */
export interface ObservedTarget {
    target: string;
    ok: boolean;
    lastVerified: string | null;
    lastVerifiedAt: string | null;
    problem?: string;
}

export interface BackupScheduleOutputs extends BackupScheduleInputs {
    /** The agent's last health verdict: every target has a fresh verified backup. Null when unknown. */
    healthy: boolean | null;
    targetStatus: ObservedTarget[];
    /** When the agent reported what is recorded here. */
    observedAt: string | null;
}

const INPUT_KEYS: (keyof BackupScheduleInputs)[] = ["agentService", "schedule", "periodSeconds", "staleAfterSeconds", "keep", "location", "targets", "verify", "engine"];

/** One status line of the agent's `health` command, as the record keeps it. */
function parseHealthLine(output: string): Pick<BackupScheduleOutputs, "healthy" | "targetStatus"> | undefined {
    try {
        const parsed = JSON.parse(output.trim().split("\n").pop() ?? "") as { ok: boolean; targets: ObservedTarget[] };
        return {
            healthy: parsed.ok,
            targetStatus: parsed.targets.map((t) => ({
                target: t.target,
                ok: t.ok,
                lastVerified: t.lastVerified,
                lastVerifiedAt: t.lastVerifiedAt,
                ...(t.problem ? { problem: t.problem } : {}),
            })),
        };
    } catch {
        return undefined;
    }
}

/**
 * What the agent says now: its `health` command run in the service's running task (the same
 * check the engine runs), else the engine's last recorded health output of that task. Exported
 * for tests.
 */
export async function observeAgent(agentService: string, engine?: EngineConnection): Promise<Pick<BackupScheduleOutputs, "healthy" | "targetStatus" | "observedAt">> {
    const ps = await dockerCli(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${agentService}`], { engine });
    const task = ps.stdout.trim().split("\n").filter(Boolean)[0];
    if (!task) {
        return { healthy: false, targetStatus: [], observedAt: new Date().toISOString() };
    }
    const probe = await dockerCli(["exec", task, "backup-agent", "health"], { engine });
    const live = parseHealthLine(probe.stdout);
    if (live) {
        return { ...live, observedAt: new Date().toISOString() };
    }
    const inspect = await dockerCli(["inspect", "--format", "{{json .State.Health}}", task], { engine });
    let log: { End: string; Output: string }[] = [];
    try {
        log = (JSON.parse(inspect.stdout) as { Log?: { End: string; Output: string }[] } | null)?.Log ?? [];
    } catch {
        log = [];
    }
    for (const entry of [...log].reverse()) {
        const logged = parseHealthLine(entry.Output);
        if (logged) {
            return { ...logged, observedAt: entry.End };
        }
    }
    return { healthy: null, targetStatus: [], observedAt: null };
}

function inputsOf(props: BackupScheduleInputs): BackupScheduleInputs {
    // An absent optional input (the engine of a local stack) stays absent: outputs cannot hold undefined.
    return Object.fromEntries(INPUT_KEYS.filter((k) => props[k] !== undefined).map((k) => [k, props[k]])) as unknown as BackupScheduleInputs;
}

const scheduleProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: BackupScheduleInputs) {
        const outs: BackupScheduleOutputs = { ...inputsOf(inputs), ...(await observeAgent(inputs.agentService, inputs.engine)) };
        return { id: `backup-schedule-${crypto.randomBytes(4).toString("hex")}`, outs };
    },
    async diff(_id: string, olds: BackupScheduleOutputs, news: BackupScheduleInputs) {
        // A record: every change is an update in place; what the agent reported is not an input.
        const changes = INPUT_KEYS.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: BackupScheduleOutputs, news: BackupScheduleInputs) {
        return { outs: { ...inputsOf(news), ...(await observeAgent(news.agentService, news.engine)) } };
    },
    async read(id: string, props: BackupScheduleOutputs) {
        return { id, props: { ...props, ...(await observeAgent(props.agentService, props.engine)) } };
    },
    // The backups themselves stay where they are: deleting the record deletes no data.
    async delete() {},
};

export type BackupScheduleArgs = { [K in Exclude<keyof BackupScheduleInputs, "engine">]: pulumi.Input<BackupScheduleInputs[K]> } & { engine?: EngineConnection };

/** The stack's backup schedule and what the agent last reported about it. */
export class BackupSchedule extends pulumi.dynamic.Resource {
    declare public readonly healthy: pulumi.Output<boolean | null>;
    declare public readonly targetStatus: pulumi.Output<ObservedTarget[]>;
    declare public readonly observedAt: pulumi.Output<string | null>;

    constructor(name: string, args: BackupScheduleArgs, opts?: pulumi.CustomResourceOptions) {
        super(scheduleProvider, name, { healthy: undefined, targetStatus: undefined, observedAt: undefined, ...args }, opts, "opsbook", "BackupSchedule");
    }
}
