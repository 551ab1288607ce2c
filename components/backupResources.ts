// The two engine-side resources of the Backups component, as small dynamic providers:
//   BackupSchedule     the record of a stack's backup schedule, retention and location; its read
//                      (`pulumi refresh`) reports the last verified backup of each target, as the
//                      agent's own `health` command tells it. The policy pack's `backups-scheduled`
//                      rule looks for this type.
//   BackupHostVolume   a volume bound to a host directory the user chose as the backup location.
//                      (The shared Volume provider makes plain named volumes only.)
// Like providers/, only Node built-ins and ../providers/dockerApi are used: dynamic providers are
// serialized into the state and run in a separate process.
import * as crypto from "crypto";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { dockerRequest, execInContainer, isNotFound } from "../providers/dockerApi";
import { deleteEngineObject, readEngineObject } from "../providers/docker";

// ---------------------------------------------------------------------------------------------
// BackupSchedule

export interface BackupScheduleInputs {
    /** The agent container that runs the schedule. */
    agentContainer: string;
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

const INPUT_KEYS: (keyof BackupScheduleInputs)[] = ["agentContainer", "schedule", "periodSeconds", "staleAfterSeconds", "keep", "location", "targets", "verify"];

interface HealthInspect {
    State: { Health?: { Status: string; Log?: { End: string; ExitCode: number; Output: string }[] } };
}

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
 * What the agent says now: its `health` command run in the container (the same check the engine
 * runs), else the engine's last recorded health output. Exported for tests.
 */
export async function observeAgent(agentContainer: string): Promise<Pick<BackupScheduleOutputs, "healthy" | "targetStatus" | "observedAt">> {
    let info: HealthInspect & { State: { Running?: boolean } };
    try {
        info = await dockerRequest<HealthInspect & { State: { Running?: boolean } }>("GET", `/containers/${encodeURIComponent(agentContainer)}/json`);
    } catch (err) {
        if (isNotFound(err)) {
            return { healthy: false, targetStatus: [], observedAt: new Date().toISOString() };
        }
        throw err;
    }
    if (info.State.Running) {
        const probe = await execInContainer(agentContainer, ["backup-agent", "health"]).catch(() => undefined);
        const live = probe && parseHealthLine(probe.output);
        if (live) {
            return { ...live, observedAt: new Date().toISOString() };
        }
    }
    for (const entry of [...(info.State.Health?.Log ?? [])].reverse()) {
        const logged = parseHealthLine(entry.Output);
        if (logged) {
            return { ...logged, observedAt: entry.End };
        }
    }
    return { healthy: null, targetStatus: [], observedAt: null };
}

function inputsOf(props: BackupScheduleInputs): BackupScheduleInputs {
    return Object.fromEntries(INPUT_KEYS.map((k) => [k, props[k]])) as unknown as BackupScheduleInputs;
}

const scheduleProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: BackupScheduleInputs) {
        const outs: BackupScheduleOutputs = { ...inputsOf(inputs), ...(await observeAgent(inputs.agentContainer)) };
        return { id: `backup-schedule-${crypto.randomBytes(4).toString("hex")}`, outs };
    },
    async diff(_id: string, olds: BackupScheduleOutputs, news: BackupScheduleInputs) {
        // A record: every change is an update in place; what the agent reported is not an input.
        const changes = INPUT_KEYS.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: BackupScheduleOutputs, news: BackupScheduleInputs) {
        return { outs: { ...inputsOf(news), ...(await observeAgent(news.agentContainer)) } };
    },
    async read(id: string, props: BackupScheduleOutputs) {
        return { id, props: { ...props, ...(await observeAgent(props.agentContainer)) } };
    },
    // The backups themselves stay where they are: deleting the record deletes no data.
    async delete() {},
};

export type BackupScheduleArgs = { [K in keyof BackupScheduleInputs]: pulumi.Input<BackupScheduleInputs[K]> };

/** The stack's backup schedule and what the agent last reported about it. */
export class BackupSchedule extends pulumi.dynamic.Resource {
    declare public readonly healthy: pulumi.Output<boolean | null>;
    declare public readonly targetStatus: pulumi.Output<ObservedTarget[]>;
    declare public readonly observedAt: pulumi.Output<string | null>;

    constructor(name: string, args: BackupScheduleArgs, opts?: pulumi.CustomResourceOptions) {
        super(scheduleProvider, name, { healthy: undefined, targetStatus: undefined, observedAt: undefined, ...args }, opts, "opsbook", "BackupSchedule");
    }
}

// ---------------------------------------------------------------------------------------------
// BackupHostVolume

export interface BackupHostVolumeInputs {
    /** Engine name of the volume. */
    name: string;
    /** Absolute directory on the engine's host. */
    path: string;
    labels: Record<string, string>;
    /** uid that must be able to write there (the agent's). */
    uid: number;
}

const hostVolumeProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: BackupHostVolumeInputs) {
        // The engine is on this host (a unix socket), so the directory can be checked here, where
        // the message can say what to run; the engine itself would only fail at mount time.
        const fix = `create it for the backup agent (uid ${inputs.uid}): sudo install -d -o ${inputs.uid} -g ${inputs.uid} -m 0750 ${inputs.path}`;
        let isDir = false;
        try {
            isDir = fs.statSync(inputs.path).isDirectory();
        } catch {
            isDir = false;
        }
        if (!isDir) {
            throw new Error(`\`opsbook:backups.location\` ${inputs.path} is not a directory on this host; ${fix}`);
        }
        const res = await dockerRequest<{ Name: string }>("POST", "/volumes/create", {
            Name: inputs.name,
            Driver: "local",
            DriverOpts: { type: "none", o: "bind", device: inputs.path },
            Labels: inputs.labels,
        });
        return { id: res.Name, outs: { ...inputs } };
    },
    async diff(_id: string, olds: BackupHostVolumeInputs, news: BackupHostVolumeInputs) {
        const replaces = olds.name !== news.name || olds.path !== news.path ? ["path"] : [];
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
    read: (id: string, props: BackupHostVolumeInputs) => readEngineObject(`/volumes/${encodeURIComponent(id)}`, id, props),
    // Removing a bind volume leaves the host directory and its files alone.
    delete: (id: string) => deleteEngineObject(`/volumes/${encodeURIComponent(id)}`),
};

export type BackupHostVolumeArgs = { [K in keyof BackupHostVolumeInputs]: pulumi.Input<BackupHostVolumeInputs[K]> };

/** A volume that is a host directory, so the agent can mount it like any named volume. */
export class BackupHostVolume extends pulumi.dynamic.Resource {
    declare public readonly name: pulumi.Output<string>;

    constructor(name: string, args: BackupHostVolumeArgs, opts?: pulumi.CustomResourceOptions) {
        super(hostVolumeProvider, name, args, opts, "opsbook", "BackupHostVolume");
    }
}
