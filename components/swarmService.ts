// The one translation from what a component wants of a long-running process (image, env, secret
// files, health, update order, limits) into the arguments of a @pulumi/docker Service. Pure:
// unit tests read the arguments without an engine, and every component builds its service here,
// so the baseline, the secret-file rule and the update rules exist once.
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { EMPTY_ENV_CONTRACT, EnvContract } from "./envContract";
import { HARDENED_CONTAINER, LOG_DRIVER, PROBE_PATH, RESTART_POLICY, duration, tmpfsMount } from "./hardening";
import { LocalImage } from "./images";
import { LABEL_ENV_CONTRACT, LABEL_HEALTHCHECK, LABEL_IMAGE_REF, LABEL_SECRET_BINDINGS, LABEL_SERVICE, StackIdentity, labelList, stackLabels } from "./naming";
import { SecretMount } from "./secretFiles";

/** The stack's HTTP probe as a swarm config (see probe.ts). */
export interface ProbeConfigRef {
    readonly configId: pulumi.Input<string>;
    readonly configName: pulumi.Input<string>;
}

/**
 * How a new version replaces the old one. `start-first`: the new task starts beside the old one
 * and must pass its health check before the old one stops; a new task that fails it rolls the
 * service back. `stop-first`: the old task stops first: never two writers on one volume.
 */
export type UpdateOrder = "start-first" | "stop-first";

export interface SwarmServiceSpec {
    readonly identity: StackIdentity;
    /** The engine's name of the service. */
    readonly engineName: string;
    /** `opsbook.component` label: service, worker, database, cache, scheduler, backup. */
    readonly component: string;
    /** The spec's name (api, web, ...) when the service is one the spec declares. */
    readonly specName?: string;
    /** More labels on the service (not on its tasks), e.g. which monitoring part it is. */
    readonly extraLabels?: Record<string, string>;
    readonly image: LocalImage;
    /** Replaces the image's entrypoint and command when given. */
    readonly command?: string[];
    /** Plain environment (never a secret: those come as files). */
    readonly env: Record<string, pulumi.Input<string>>;
    /** Secret files, with the `NAME_FILE` env that points at each. */
    readonly secrets: SecretMount;
    /** Networks by engine ID, with the DNS aliases the service answers to on each. */
    readonly networks: { id: pulumi.Input<string>; aliases: string[] }[];
    /** Named volumes by mount path. */
    readonly volumes?: { source: pulumi.Input<string>; target: string; readOnly?: boolean }[];
    /** Host directories mounted read-only by mount path (e.g. a filesystem the node exporter watches). */
    readonly hostDirectories?: { source: string; target: string }[];
    /** tmpfs mounts besides /tmp, by path, size in MiB. */
    readonly tmpfs?: Record<string, number>;
    /** The health check; `image` keeps the image's own HEALTHCHECK. */
    readonly healthcheck: docker.types.input.ServiceTaskSpecContainerSpecHealthcheck | "image";
    /** The probe config; required when the health check runs the stack's probe. */
    readonly probe?: ProbeConfigRef;
    /** Swarm configs (files without a secret, e.g. Prometheus's config) mounted read-only at absolute paths. */
    readonly configFiles?: (ProbeConfigRef & { readonly fileName: string })[];
    /** Tasks to run; `global`: one on every node (an exporter of each node's own state). */
    readonly replicas: number | "global";
    /** The tasks' hostname; Swarm templates such as `{{.Node.Hostname}}` are expanded per task. */
    readonly hostname?: string;
    readonly updateOrder: UpdateOrder;
    readonly memoryMb: number;
    readonly cpus?: number;
    /** Numeric user[:group]; default the image's. */
    readonly user?: string;
    /** Supplementary group ids. Default none. */
    readonly groups?: string[];
    /** Read-only root filesystem. Default true. */
    readonly readOnlyRootFilesystem?: boolean;
    readonly stopGraceSeconds?: number;
    readonly envContract?: EnvContract;
    /** Seconds `pulumi up` waits for the service's tasks to run (healthy). Default 180. */
    readonly convergeTimeoutSeconds?: number;
}

/** How many seconds Swarm watches an updated task before it counts the update as good. */
export const UPDATE_MONITOR_SECONDS = 5;

function updatePolicy(order: UpdateOrder): docker.types.input.ServiceUpdateConfig {
    return { order, parallelism: 1, delay: "0s", failureAction: "rollback", monitor: `${UPDATE_MONITOR_SECONDS}s`, maxFailureRatio: "0" };
}

/** The arguments of a @pulumi/docker Service for `spec`. Pure. */
export function swarmServiceArgs(spec: SwarmServiceSpec): docker.ServiceArgs {
    const labels = {
        ...stackLabels(spec.identity, spec.component),
        ...(spec.specName ? { [LABEL_SERVICE]: spec.specName } : {}),
    };
    const usesProbe = spec.healthcheck !== "image" && (spec.healthcheck.tests as unknown[] | undefined)?.[1] === PROBE_PATH;
    if (usesProbe && !spec.probe) {
        throw new Error(`service ${spec.engineName}: its health check runs the stack's probe, but no probe config was given`);
    }
    const tmpfs = { "/tmp": 64, ...spec.tmpfs };
    return {
        name: spec.engineName,
        labels: labelList({
            ...spec.extraLabels,
            ...labels,
            [LABEL_IMAGE_REF]: spec.image.reference,
            [LABEL_ENV_CONTRACT]: JSON.stringify(spec.envContract ?? EMPTY_ENV_CONTRACT),
            [LABEL_SECRET_BINDINGS]: JSON.stringify(spec.secrets.bindings),
            // Says the missing health check in the spec is deliberate (the policy pack reads it).
            ...(spec.healthcheck === "image" ? { [LABEL_HEALTHCHECK]: "image" } : {}),
        }),
        mode: spec.replicas === "global" ? { global: true } : { replicated: { replicas: spec.replicas } },
        // No virtual IP: this kernel has no IPVS, and a gateway that resolves the tasks itself
        // is what keeps releases gapless. `<name>` and `tasks.<name>` resolve to healthy tasks.
        endpointSpec: { mode: "dnsrr" },
        updateConfig: updatePolicy(spec.updateOrder),
        rollbackConfig: { ...updatePolicy(spec.updateOrder), failureAction: "pause" },
        // The provider converges replicated services only; a global one is waited for by ServiceSettled.
        ...(spec.replicas === "global" ? {} : { convergeConfig: { delay: "1s", timeout: duration(spec.convergeTimeoutSeconds ?? 180) } }),
        taskSpec: {
            containerSpec: {
                ...HARDENED_CONTAINER,
                // The image ID, not the tag: the engine never tries a registry for it, and a
                // rebuilt tag is a new ID, so the service rolls.
                image: spec.image.id,
                ...(spec.command ? { commands: spec.command } : {}),
                env: { ...spec.env, ...spec.secrets.env },
                secrets: spec.secrets.files,
                configs: [
                    ...(usesProbe && spec.probe ? [{ configId: spec.probe.configId, configName: spec.probe.configName, fileName: PROBE_PATH, fileMode: 0o555 }] : []),
                    ...(spec.configFiles ?? []).map((c) => ({ configId: c.configId, configName: c.configName, fileName: c.fileName, fileMode: 0o444 })),
                ],
                labels: labelList(labels),
                mounts: [
                    ...(spec.volumes ?? []).map((v) => ({ type: "volume", source: v.source, target: v.target, readOnly: v.readOnly ?? false })),
                    ...(spec.hostDirectories ?? []).map((d) => ({ type: "bind", source: d.source, target: d.target, readOnly: true })),
                    ...Object.entries(tmpfs).map(([target, sizeMb]) => tmpfsMount(target, sizeMb)),
                ],
                ...(spec.healthcheck === "image" ? {} : { healthcheck: spec.healthcheck }),
                readOnly: spec.readOnlyRootFilesystem ?? true,
                ...(spec.user ? { user: spec.user } : {}),
                ...(spec.hostname ? { hostname: spec.hostname } : {}),
                ...(spec.groups && spec.groups.length > 0 ? { groups: spec.groups } : {}),
                stopGracePeriod: duration(spec.stopGraceSeconds ?? 10),
                // Read back as an empty map; written the same way, a no-op deploy changes nothing.
                sysctl: {},
            },
            networksAdvanceds: spec.networks.map((n) => ({ id: n.id, aliases: n.aliases })),
            resources: {
                limits: {
                    memoryBytes: spec.memoryMb * 1024 * 1024,
                    ...(spec.cpus ? { nanoCpus: Math.round(spec.cpus * 1e9) } : {}),
                },
            },
            restartPolicy: RESTART_POLICY,
            logDriver: LOG_DRIVER,
            placement: placement(spec),
        },
    };
}

/**
 * Where the tasks may run. On a swarm of several nodes a service with a named volume runs on the
 * stack's data node only (a volume is a directory of one node: a task elsewhere would start on an
 * empty one); stateless replicas spread over the stack's nodes (by the label naming each), one
 * per node before any gets two. A global service runs everywhere by definition.
 */
function placement(spec: SwarmServiceSpec): docker.types.input.ServiceTaskSpecPlacement | undefined {
    const placed = spec.identity.placement;
    if (!placed || spec.replicas === "global") {
        return undefined;
    }
    if ((spec.volumes ?? []).length > 0) {
        return { constraints: [placed.dataConstraint] };
    }
    return { prefs: [`spread=node.labels.${placed.nodeLabel}`] };
}
