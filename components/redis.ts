import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { settledAfter } from "../providers/serviceSettled";
import { DATA_SERVICE_HEALTH, healthcheck } from "./hardening";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { StackIdentity, engineName, labelList, stackLabels } from "./naming";
import { secretMount, secretRef, swarmSecret } from "./secretFiles";
import { generatedPassword } from "./secrets";
import { swarmServiceArgs } from "./swarmService";

export interface RedisArgs {
    /** Which stack this Redis belongs to. */
    readonly identity: StackIdentity;
    /** The stack's data network; Redis is reachable there as `redis:6379` and nowhere else. */
    readonly network: StackNetwork;
    /** The image, resolved on the engine. */
    readonly image: LocalImage;
    /** Memory limit in MiB. Default 256. */
    readonly memoryMb?: number;
    /** Rotation stamp of the password; change it to make a new password. Default `initial`. */
    readonly passwordRotation?: string;
    /** Keep the append-only file volume on `pulumi destroy`. Default true. */
    readonly keepDataOnDestroy?: boolean;
}

export const REDIS_HOST = "redis";
export const REDIS_PORT = 6379;
/** The image's redis user: the password file is readable by it alone. */
const REDIS_UID = "999";

/** The image's own check: AUTH and PING, the password read from the file, never on argv. */
export function redisHealthcheck(): docker.types.input.ServiceTaskSpecContainerSpecHealthcheck {
    return healthcheck(["redis-healthcheck"], { ...DATA_SERVICE_HEALTH, startPeriodSeconds: 30 });
}

/** Redis as a one-task swarm service: a generated password as a file, append-only persistence on a named volume. */
export class Redis extends pulumi.ComponentResource {
    public readonly password: pulumi.Output<string>;
    /** redis:// URL with the password, on the stack network (secret). */
    public readonly url: pulumi.Output<string>;
    public readonly serviceName: pulumi.Output<string>;
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Redis", name, {}, opts);
        const memoryMb = args.memoryMb ?? 256;
        if (memoryMb < 32) {
            throw new pulumi.ResourceError("`redis.memoryMb` must be at least 32.", this);
        }
        const password = generatedPassword(`${name}-password`, 32, args.passwordRotation ?? "initial", { parent: this });
        const passwordSecret = swarmSecret(args.identity, "REDIS_PASSWORD", password, { parent: this });
        const volume = new docker.Volume(
            `${name}-data`,
            { name: engineName(args.identity, "redis-data"), labels: labelList(stackLabels(args.identity, "redis")) },
            { parent: this, retainOnDelete: args.keepDataOnDestroy ?? true },
        );
        const serviceArgs = swarmServiceArgs({
            identity: args.identity,
            engineName: engineName(args.identity, "redis"),
            component: "cache",
            image: args.image,
            env: {},
            secrets: secretMount({ REDIS_PASSWORD: secretRef("REDIS_PASSWORD", passwordSecret) }, { uid: REDIS_UID, gid: REDIS_UID }),
            networks: [{ id: args.network.id, aliases: [REDIS_HOST] }],
            volumes: [{ source: volume.name, target: "/data" }],
            tmpfs: { "/run/redis": 1 },
            healthcheck: redisHealthcheck(),
            replicas: 1,
            // One writer per append-only file: the old server stops before the new one starts.
            updateOrder: "stop-first",
            memoryMb,
        });
        const service = new docker.Service(`${name}-server`, serviceArgs, { parent: this, deleteBeforeReplace: true });
        this.password = password;
        this.url = pulumi.secret(pulumi.interpolate`redis://:${password}@${REDIS_HOST}:${REDIS_PORT}/0`);
        // Dependents wait until Swarm has finished rolling the service out, not only until it runs.
        settledAfter(`${name}-settled`, service.name, serviceArgs, 120, args.identity.engine, { parent: this });
        this.serviceName = service.name;
        this.volumeName = volume.name;
        this.registerOutputs({ serviceName: this.serviceName, volumeName: this.volumeName });
    }
}
