import * as pulumi from "@pulumi/pulumi";
import { Container } from "../providers/docker";
import { EMPTY_ENV_CONTRACT, EnvContract } from "./envContract";
import { HARDENED_DEFAULTS, httpHealthCheck } from "./hardening";
import { LocalImage } from "./images";
import { StackIdentity, engineName, stackLabels } from "./naming";

export interface AppServiceArgs {
    /** Which stack the service belongs to. */
    readonly identity: StackIdentity;
    /** The stack's private network; other services reach this one by its name. */
    readonly networkName: pulumi.Input<string>;
    /** The image, resolved on the local engine. */
    readonly image: LocalImage;
    /** Command and arguments; default: the image's own. */
    readonly command?: string[];
    /** The port the service listens on inside the container. */
    readonly port: number;
    /** Path that answers 200 when the service and its dependencies are up. */
    readonly healthPath: string;
    /** Publish the port on 127.0.0.1 (at a port the engine picks). Default true. */
    readonly publish?: boolean;
    /** Plain environment. */
    readonly env?: Record<string, string>;
    /** Environment whose values are secrets (kept encrypted in the state). */
    readonly secretEnv?: Record<string, pulumi.Input<string>>;
    /** Memory limit in MiB. Default 256. */
    readonly memoryMb?: number;
    /** CPU limit in cores. Default: none. */
    readonly cpus?: number;
    /** Containers to run. Default 1. */
    readonly replicas?: number;
    /** Numeric user to run as; default the image's (the reference app runs as 10001). */
    readonly user?: string;
    /** What the environment must hold, for the policy pack. Default: nothing. */
    readonly envContract?: EnvContract;
    /** `service` answers traffic; `worker` runs in the background. Default `service`. */
    readonly role?: "service" | "worker";
    /** Stack volumes mounted into every replica, by mount path. */
    readonly mounts?: { volume: pulumi.Input<string>; target: string }[];
    /** Mount the root filesystem read-only (writes go to /tmp or volumes). Default true. */
    readonly readOnlyRootFilesystem?: boolean;
    /**
     * Never run two copies, even during a release: the old container stops before the new one
     * starts. For services that hold in-process state or own a data file. Default false.
     */
    readonly exclusive?: boolean;
    /** Seconds a new container may take to pass its health check. Default 60. */
    readonly startTimeoutSeconds?: number;
}

/** One of the app's long-running HTTP services (api, web, order book, ...). */
export class AppService extends pulumi.ComponentResource {
    /** Base URL on 127.0.0.1 of the first replica, when published. */
    public readonly url: pulumi.Output<string | undefined>;
    public readonly containerNames: pulumi.Output<string[]>;

    constructor(name: string, args: AppServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:AppService", name, {}, opts);
        const replicas = args.replicas ?? 1;
        if (!Number.isInteger(replicas) || replicas < 1) {
            throw new pulumi.ResourceError(`\`services.${name}.replicas\` must be a whole number of at least 1.`, this);
        }
        const publish = args.publish ?? true;
        const containers: Container[] = [];
        for (let i = 0; i < replicas; i++) {
            containers.push(
                new Container(
                    replicas === 1 ? `${name}-container` : `${name}-container-${i}`,
                    {
                        ...HARDENED_DEFAULTS,
                        name: engineName(args.identity, name),
                        image: args.image.id,
                        imageName: args.image.reference,
                        command: args.command,
                        env: { PORT: String(args.port), ...args.env },
                        secretEnv: args.secretEnv ?? {},
                        labels: { ...stackLabels(args.identity, args.role ?? "service"), "opsbook.service": name },
                        role: args.role ?? "service",
                        readOnlyRootFilesystem: args.readOnlyRootFilesystem ?? true,
                        envContract: args.envContract ?? EMPTY_ENV_CONTRACT,
                        networks: [{ name: args.networkName, aliases: [name] }],
                        publish: publish ? [args.port] : [],
                        mounts: (args.mounts ?? []).map((m) => ({ ...m, readOnly: false })),
                        healthCheck: httpHealthCheck(args.port, args.healthPath),
                        memoryMb: args.memoryMb ?? 256,
                        cpus: args.cpus,
                        user: args.user,
                        waitHealthySeconds: args.startTimeoutSeconds ?? 60,
                    },
                    { parent: this, deleteBeforeReplace: args.exclusive ?? false },
                ),
            );
        }
        const first = containers[0];
        this.url = publish
            ? first.hostPorts.apply((ports) => `http://127.0.0.1:${ports[String(args.port)]}`)
            : pulumi.output(undefined);
        this.containerNames = pulumi.all(containers.map((c) => c.containerName));
        this.registerOutputs({ url: this.url, containerNames: this.containerNames });
    }
}
