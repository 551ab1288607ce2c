import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { settledAfter } from "../providers/serviceSettled";
import { EMPTY_ENV_CONTRACT, EnvContract } from "./envContract";
import { HealthTiming, httpHealthcheck } from "./hardening";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { StackIdentity, engineName } from "./naming";
import { NO_SECRETS, SecretMount } from "./secretFiles";
import { ProbeConfigRef, swarmServiceArgs } from "./swarmService";

/** How the engine decides a task is healthy. */
export type ServiceHealth =
    /** The stack's probe asks `http://127.0.0.1:<port><healthPath>` inside the task: any image. */
    | "http"
    /** The image's own HEALTHCHECK, for images that bring one. */
    | "image";

export interface AppServiceArgs {
    /** Which stack the service belongs to. */
    readonly identity: StackIdentity;
    /** The stack networks the service joins; it answers to its spec name on each. */
    readonly networks: StackNetwork[];
    /** The image, resolved on the engine. */
    readonly image: LocalImage;
    /** Command and arguments; default: the image's own. */
    readonly command?: string[];
    /** The port the service listens on inside its tasks. */
    readonly port: number;
    /** Path that answers 2xx when the service and its dependencies are up. */
    readonly healthPath: string;
    /** How health is checked. Default `http`. */
    readonly health?: ServiceHealth;
    /** The stack's probe config (required for `http` health). */
    readonly probe?: ProbeConfigRef;
    /** Plain environment. */
    readonly env?: Record<string, string>;
    /** Secrets as files, with their `NAME_FILE` env. */
    readonly secrets?: SecretMount;
    /** Memory limit in MiB. Default 256. */
    readonly memoryMb?: number;
    /** CPU limit in cores. Default: none. */
    readonly cpus?: number;
    /** Tasks to run. Default 1. */
    readonly replicas?: number;
    /** Numeric user to run as; default the image's. */
    readonly user?: string;
    /** What the environment must hold, for the policy pack. Default: nothing. */
    readonly envContract?: EnvContract;
    /** `service` answers traffic; `worker` runs in the background. Default `service`. */
    readonly role?: "service" | "worker";
    /** Stack volumes mounted into every task, by mount path. */
    readonly mounts?: { volume: pulumi.Input<string>; target: string }[];
    /** Mount the root filesystem read-only (writes go to /tmp or volumes). Default true. */
    readonly readOnlyRootFilesystem?: boolean;
    /**
     * Never run two copies, even during a release: the old task stops before the new one starts.
     * For services that hold in-process state or own a data file. Default false.
     */
    readonly exclusive?: boolean;
    /** Seconds a new task may take to pass its health check. Default 60. */
    readonly startTimeoutSeconds?: number;
}

/**
 * One of the app's long-running services (api, web, order book, worker, ...) as a swarm service.
 * A release starts each new task beside the old one; it must pass its health check before the
 * old one stops, and a new task that fails it rolls the service back. Exclusive services update
 * stop-first instead.
 */
export class AppService extends pulumi.ComponentResource {
    /** The engine's name of the swarm service; `tasks.<name>` resolves to its healthy tasks. */
    public readonly serviceName: pulumi.Output<string>;

    constructor(name: string, args: AppServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:AppService", name, {}, opts);
        const replicas = args.replicas ?? 1;
        if (!Number.isInteger(replicas) || replicas < 1) {
            throw new pulumi.ResourceError(`\`services.${name}.replicas\` must be a whole number of at least 1.`, this);
        }
        if (args.exclusive && replicas !== 1) {
            throw new pulumi.ResourceError(`\`services.${name}.replicas\` must be 1 for a service that must never run twice; set it to 1.`, this);
        }
        const health = args.health ?? "http";
        const timing: HealthTiming = { startPeriodSeconds: args.startTimeoutSeconds ?? 60 };
        const exclusive = args.exclusive ?? false;
        const serviceArgs = swarmServiceArgs({
            identity: args.identity,
            engineName: engineName(args.identity, name),
            component: args.role ?? "service",
            specName: name,
            image: args.image,
            command: args.command,
            env: { PORT: String(args.port), ...args.env },
            secrets: args.secrets ?? NO_SECRETS,
            networks: args.networks.map((n) => ({ id: n.id, aliases: [name] })),
            volumes: (args.mounts ?? []).map((m) => ({ source: m.volume, target: m.target })),
            healthcheck: health === "http" ? httpHealthcheck(args.port, args.healthPath, timing) : "image",
            probe: args.probe,
            replicas,
            updateOrder: exclusive ? "stop-first" : "start-first",
            memoryMb: args.memoryMb ?? 256,
            cpus: args.cpus,
            user: args.user,
            readOnlyRootFilesystem: args.readOnlyRootFilesystem,
            envContract: args.envContract ?? EMPTY_ENV_CONTRACT,
            convergeTimeoutSeconds: (args.startTimeoutSeconds ?? 60) * replicas + 60,
        });
        const service = new docker.Service(`${name}-service`, serviceArgs, { parent: this, deleteBeforeReplace: exclusive });
        // Whoever depends on this service (the gateway, the webhook, the backups) waits until
        // Swarm has finished rolling it out, not only until enough tasks run.
        settledAfter(`${name}-settled`, service.name, serviceArgs, (args.startTimeoutSeconds ?? 60) * replicas + 120, args.identity.engine, { parent: this });
        this.serviceName = service.name;
        this.registerOutputs({ serviceName: this.serviceName });
    }
}
