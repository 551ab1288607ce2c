// Dynamic providers for the three Docker objects a stack needs: networks, volumes and containers.
//
// Containers are immutable here: any change to their inputs is a replacement, created before the
// old one is deleted. That is why names carry a random suffix and host ports are chosen by the
// engine: a new container must be able to start beside its predecessor.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import type { ContainerRole, EnvContract } from "../components/envContract";
import { containerLogs, dockerRequest, dockerStatus, execInContainer, isNotFound, sleep } from "./dockerApi";

/** Labels every object of a stack carries, so tools and tests can find what a stack owns. */
export const LABEL_PROJECT = "opsbook.project";
export const LABEL_STACK = "opsbook.stack";
export const LABEL_COMPONENT = "opsbook.component";

function suffixed(base: string): string {
    return `${base}-${crypto.randomBytes(3).toString("hex")}`;
}

/** Stable JSON (sorted keys) so that diffs do not depend on property order. */
function stable(value: unknown): string {
    if (Array.isArray(value)) {
        return `[${value.map(stable).join(",")}]`;
    }
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        return `{${Object.keys(obj)
            .filter((k) => obj[k] !== undefined && k !== "__provider")
            .sort()
            .map((k) => `${JSON.stringify(k)}:${stable(obj[k])}`)
            .join(",")}}`;
    }
    return JSON.stringify(value ?? null);
}

/** Names the inputs whose values differ; `ignore` lists outputs that are not inputs. */
function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>, ignore: string[]): string[] {
    const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
    return [...keys].filter((k) => !ignore.includes(k) && k !== "__provider" && stable(olds[k]) !== stable(news[k]));
}

/** A dynamic provider's `read` of an engine object: gone (404) means deleted outside Pulumi. */
export async function readEngineObject<T>(path: string, id: string, props: T): Promise<pulumi.dynamic.ReadResult<T>> {
    try {
        await dockerRequest("GET", path);
        return { id, props };
    } catch (err) {
        if (isNotFound(err)) {
            return {};
        }
        throw err;
    }
}

/** Deletes an engine object; one that is already gone is fine. */
export async function deleteEngineObject(path: string): Promise<void> {
    try {
        await dockerRequest("DELETE", path);
    } catch (err) {
        if (!isNotFound(err)) {
            throw err;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Network

export interface NetworkInputs {
    /** Name prefix; the engine object gets a random suffix. */
    name: string;
    labels: Record<string, string>;
    /** True for a network with no route outside the machine (databases only). Default false. */
    internal?: boolean;
}

interface NetworkOutputs extends NetworkInputs {
    networkName: string;
}

const networkProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: NetworkInputs) {
        const networkName = suffixed(inputs.name);
        const res = await dockerRequest<{ Id: string }>("POST", "/networks/create", {
            Name: networkName,
            Driver: "bridge",
            Internal: inputs.internal ?? false,
            CheckDuplicate: true,
            Labels: inputs.labels,
        });
        const outs: NetworkOutputs = { ...inputs, networkName };
        return { id: res.Id, outs };
    },
    async diff(_id: string, olds: NetworkOutputs, news: NetworkInputs) {
        const changes = changedKeys(olds as never, news as never, ["networkName"]);
        return { changes: changes.length > 0, replaces: changes, deleteBeforeReplace: false };
    },
    read: (id: string, props: NetworkOutputs) => readEngineObject(`/networks/${id}`, id, props),
    delete: (id: string) => deleteEngineObject(`/networks/${id}`),
};

export interface NetworkArgs {
    name: pulumi.Input<string>;
    labels: pulumi.Input<Record<string, pulumi.Input<string>>>;
    internal?: pulumi.Input<boolean>;
}

/** A user-defined bridge network: containers on it reach each other by alias. */
export class Network extends pulumi.dynamic.Resource {
    declare public readonly networkName: pulumi.Output<string>;

    constructor(name: string, args: NetworkArgs, opts?: pulumi.CustomResourceOptions) {
        super(networkProvider, name, { networkName: undefined, ...args }, opts, "opsbook", "Network");
    }
}

// ---------------------------------------------------------------------------------------------
// Volume

export interface VolumeInputs {
    /** The engine name, used as is: a retained volume is found again by name on the next deploy. */
    name: string;
    labels: Record<string, string>;
}

const volumeProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: VolumeInputs) {
        // Creating a volume that exists returns the existing one: a volume kept by an earlier
        // destroy is adopted with its data, which is what a user who redeploys expects.
        const res = await dockerRequest<{ Name: string }>("POST", "/volumes/create", {
            Name: inputs.name,
            Labels: inputs.labels,
        });
        return { id: res.Name, outs: { ...inputs } };
    },
    async diff(_id: string, olds: VolumeInputs, news: VolumeInputs) {
        // Labels are not worth a new volume; only another name is.
        const replaces = olds.name === news.name ? [] : ["name"];
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
    read: (id: string, props: VolumeInputs) => readEngineObject(`/volumes/${encodeURIComponent(id)}`, id, props),
    delete: (id: string) => deleteEngineObject(`/volumes/${encodeURIComponent(id)}`),
};

export interface VolumeArgs {
    name: pulumi.Input<string>;
    labels: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** A named volume. Pair it with `retainOnDelete` so that `pulumi destroy` keeps the data. */
export class Volume extends pulumi.dynamic.Resource {
    declare public readonly name: pulumi.Output<string>;

    constructor(name: string, args: VolumeArgs, opts?: pulumi.CustomResourceOptions) {
        super(volumeProvider, name, args, opts, "opsbook", "Volume");
    }
}

// ---------------------------------------------------------------------------------------------
// Container

export interface HealthCheck {
    /** Docker's test form: ["CMD", ...] or ["CMD-SHELL", "..."]. */
    test: string[];
    intervalSeconds: number;
    timeoutSeconds: number;
    retries: number;
    startPeriodSeconds: number;
}

export interface ContainerInputs {
    /** Name prefix; the engine object gets a random suffix so a replacement can start beside it. */
    name: string;
    /** Image ID (sha256:...), so that a rebuilt image under the same tag rolls the container. */
    image: string;
    /** The image reference the ID was resolved from, kept for people reading the state. */
    imageName: string;
    command?: string[];
    env: Record<string, string>;
    /** Env whose values are secrets; the component marks this output secret. */
    secretEnv: Record<string, string>;
    labels: Record<string, string>;
    /** Networks to join; the first is joined at creation, the others before start. */
    networks: { name: string; aliases: string[] }[];
    /** Container ports published on 127.0.0.1 at a port the engine chooses. */
    publish: number[];
    mounts: { volume: string; target: string; readOnly: boolean }[];
    tmpfs: Record<string, string>;
    healthCheck?: HealthCheck;
    restartPolicy: "no" | "always" | "unless-stopped" | "on-failure";
    memoryMb: number;
    cpus?: number;
    user?: string;
    readOnlyRootFilesystem: boolean;
    dropAllCapabilities: boolean;
    addCapabilities: string[];
    noNewPrivileges: boolean;
    logMaxSizeMb: number;
    logMaxFiles: number;
    /** Seconds to wait for the health check to pass before the create counts as failed. */
    waitHealthySeconds: number;
    /** Seconds between SIGTERM and SIGKILL when the container is stopped. */
    stopGraceSeconds: number;
    /** What the container is for; the policy pack applies its rules per role. */
    role: ContainerRole;
    /** What the environment must hold; checked by the policy pack before anything changes. */
    envContract: EnvContract;
}

export interface ContainerOutputs extends ContainerInputs {
    containerName: string;
    /** Container port (as a string key) to the host port on 127.0.0.1. */
    hostPorts: Record<string, number>;
}

interface ContainerInspect {
    Id: string;
    Name: string;
    State: {
        Status: string;
        Running: boolean;
        ExitCode: number;
        Health?: { Status: string; Log?: { Output: string; ExitCode: number }[] };
    };
    NetworkSettings: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> };
}

/** Builds the engine's create body; a pure function, so unit tests can check it. */
export function containerCreateBody(inputs: ContainerInputs): Record<string, unknown> {
    const env = { ...inputs.env, ...inputs.secretEnv };
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const port of inputs.publish) {
        exposed[`${port}/tcp`] = {};
        bindings[`${port}/tcp`] = [{ HostIp: "127.0.0.1", HostPort: "" }];
    }
    const first = inputs.networks[0];
    const nanos = (s: number) => Math.round(s * 1e9);
    return {
        Image: inputs.image,
        Cmd: inputs.command,
        Env: Object.keys(env)
            .sort()
            .map((k) => `${k}=${env[k]}`),
        Labels: inputs.labels,
        User: inputs.user,
        ExposedPorts: exposed,
        StopTimeout: inputs.stopGraceSeconds,
        Healthcheck: inputs.healthCheck
            ? {
                  Test: inputs.healthCheck.test,
                  Interval: nanos(inputs.healthCheck.intervalSeconds),
                  Timeout: nanos(inputs.healthCheck.timeoutSeconds),
                  Retries: inputs.healthCheck.retries,
                  StartPeriod: nanos(inputs.healthCheck.startPeriodSeconds),
              }
            : undefined,
        HostConfig: {
            PortBindings: bindings,
            Mounts: inputs.mounts.map((m) => ({ Type: "volume", Source: m.volume, Target: m.target, ReadOnly: m.readOnly })),
            Tmpfs: inputs.tmpfs,
            RestartPolicy: { Name: inputs.restartPolicy },
            Memory: inputs.memoryMb * 1024 * 1024,
            // Equal to Memory: no swap, so a leak shows up as an OOM kill instead of a slow host.
            MemorySwap: inputs.memoryMb * 1024 * 1024,
            NanoCpus: inputs.cpus ? Math.round(inputs.cpus * 1e9) : undefined,
            ReadonlyRootfs: inputs.readOnlyRootFilesystem,
            CapDrop: inputs.dropAllCapabilities ? ["ALL"] : [],
            CapAdd: inputs.addCapabilities,
            SecurityOpt: inputs.noNewPrivileges ? ["no-new-privileges:true"] : [],
            LogConfig: {
                Type: "json-file",
                Config: { "max-size": `${inputs.logMaxSizeMb}m`, "max-file": `${inputs.logMaxFiles}` },
            },
            NetworkMode: first ? first.name : "bridge",
            Init: true,
        },
        NetworkingConfig: first ? { EndpointsConfig: { [first.name]: { Aliases: first.aliases } } } : undefined,
    };
}

export async function removeContainer(id: string, graceSeconds: number): Promise<void> {
    try {
        await dockerRequest("POST", `/containers/${id}/stop?t=${graceSeconds}`, undefined, {
            timeoutMs: (graceSeconds + 30) * 1000,
        });
    } catch (err) {
        // 304: already stopped; 404: already gone. Both are fine on the way out.
        if (!isNotFound(err) && dockerStatus(err) !== 304) {
            throw err;
        }
    }
    try {
        await dockerRequest("DELETE", `/containers/${id}?force=1&v=1`);
    } catch (err) {
        if (!isNotFound(err)) {
            throw err;
        }
    }
}

/** The health check's command as an exec argv. */
function healthArgv(check: HealthCheck): string[] {
    return check.test[0] === "CMD-SHELL" ? ["/bin/sh", "-c", check.test[1]] : check.test.slice(1);
}

/**
 * Waits until the container is healthy (or running, without a health check). Besides the
 * engine's verdict, it runs the health command itself every 300 ms: the engine's first probe
 * comes only after a whole interval, and every deploy would wait for it at each gate.
 */
async function waitHealthy(id: string, name: string, seconds: number, check?: HealthCheck): Promise<ContainerInspect> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
        const info = await dockerRequest<ContainerInspect>("GET", `/containers/${id}/json`);
        const health = info.State.Health;
        if (!info.State.Running && info.State.Status !== "created") {
            const logs = await containerLogs(id);
            throw new Error(`container ${name} exited with code ${info.State.ExitCode} while starting; last log lines:\n${logs}`);
        }
        if (!health ? info.State.Running : health.Status === "healthy") {
            return info;
        }
        if (check && info.State.Running) {
            const probe = await execInContainer(id, healthArgv(check)).catch(() => undefined);
            if (probe?.exitCode === 0) {
                return info;
            }
        }
        if (Date.now() > deadline) {
            const last = health?.Log?.[health.Log.length - 1];
            const logs = await containerLogs(id);
            throw new Error(
                `container ${name} was not healthy within ${seconds}s (health: ${health?.Status ?? "none"}` +
                    `${last ? `, last check exit ${last.ExitCode}: ${last.Output.trim()}` : ""}); last log lines:\n${logs}`,
            );
        }
        await sleep(300);
    }
}

function hostPortsOf(info: ContainerInspect): Record<string, number> {
    const result: Record<string, number> = {};
    for (const [key, bindings] of Object.entries(info.NetworkSettings.Ports ?? {})) {
        const binding = bindings?.find((b) => b.HostIp === "127.0.0.1") ?? bindings?.[0];
        if (binding?.HostPort) {
            result[key.split("/")[0]] = Number(binding.HostPort);
        }
    }
    return result;
}

const containerProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ContainerInputs) {
        const containerName = suffixed(inputs.name);
        const created = await dockerRequest<{ Id: string }>(
            "POST",
            `/containers/create?name=${encodeURIComponent(containerName)}`,
            containerCreateBody(inputs),
        );
        try {
            for (const extra of inputs.networks.slice(1)) {
                await dockerRequest("POST", `/networks/${encodeURIComponent(extra.name)}/connect`, {
                    Container: created.Id,
                    EndpointConfig: { Aliases: extra.aliases },
                });
            }
            await dockerRequest("POST", `/containers/${created.Id}/start`);
            const info =
                inputs.waitHealthySeconds > 0
                    ? await waitHealthy(created.Id, containerName, inputs.waitHealthySeconds, inputs.healthCheck)
                    : await dockerRequest<ContainerInspect>("GET", `/containers/${created.Id}/json`);
            const outs: ContainerOutputs = { ...inputs, containerName, hostPorts: hostPortsOf(info) };
            return { id: created.Id, outs };
        } catch (err) {
            // A container that never became healthy is removed, so a retry starts clean and
            // nothing half-made is left outside the state.
            await removeContainer(created.Id, 0).catch(() => undefined);
            throw err;
        }
    },
    async diff(_id: string, olds: ContainerOutputs, news: ContainerInputs) {
        const changes = changedKeys(olds as never, news as never, ["containerName", "hostPorts"]);
        return { changes: changes.length > 0, replaces: changes, deleteBeforeReplace: false };
    },
    async read(id: string, props: ContainerOutputs) {
        try {
            const info = await dockerRequest<ContainerInspect>("GET", `/containers/${id}/json`);
            return { id, props: { ...props, hostPorts: hostPortsOf(info) } };
        } catch (err) {
            if (isNotFound(err)) {
                return {};
            }
            throw err;
        }
    },
    async delete(id: string, props: ContainerOutputs) {
        await removeContainer(id, props.stopGraceSeconds ?? 10);
    },
};

/** Inputs at any depth may be outputs of other resources (a network name, a password). */
export type DeepInput<T> = T extends (infer U)[]
    ? pulumi.Input<DeepInput<U>[]>
    : T extends object
      ? pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>
      : pulumi.Input<T>;

export type ContainerArgs = { [K in keyof ContainerInputs]: DeepInput<ContainerInputs[K]> };

/** One container, replaced (create first, then delete) whenever any input changes. */
export class Container extends pulumi.dynamic.Resource {
    declare public readonly containerName: pulumi.Output<string>;
    declare public readonly hostPorts: pulumi.Output<Record<string, number>>;

    constructor(name: string, args: ContainerArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            containerProvider,
            name,
            { containerName: undefined, hostPorts: undefined, ...args },
            // Env values that are secrets stay encrypted in the state whatever path they took.
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["secretEnv"] }),
            "opsbook",
            "Container",
        );
    }
}
