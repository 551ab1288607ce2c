import * as pulumi from "@pulumi/pulumi";
import { Container, Volume } from "../providers/docker";
import { GeneratedSecretValue } from "../providers/random";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { HARDENED_DEFAULTS, healthCheck } from "./hardening";
import { LocalImage } from "./images";
import { StackIdentity, engineName, stackLabels } from "./naming";

export interface RedisArgs {
    /** Which stack this Redis belongs to. */
    readonly identity: StackIdentity;
    /** The stack's private network; Redis is reachable there as `redis:6379` and nowhere else. */
    readonly networkName: pulumi.Input<string>;
    /** The image, resolved on the local engine. */
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

/** Redis with a generated password and append-only persistence on a named volume. */
export class Redis extends pulumi.ComponentResource {
    public readonly password: pulumi.Output<string>;
    /** redis:// URL with the password, on the stack network (secret). */
    public readonly url: pulumi.Output<string>;
    public readonly containerName: pulumi.Output<string>;
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Redis", name, {}, opts);
        const memoryMb = args.memoryMb ?? 256;
        if (memoryMb < 32) {
            throw new pulumi.ResourceError("`redis.memoryMb` must be at least 32.", this);
        }
        const password = new GeneratedSecretValue(
            `${name}-password`,
            { length: 32, alphabet: "alphanumeric", rotation: args.passwordRotation ?? "initial" },
            { parent: this },
        );
        const volume = new Volume(
            `${name}-data`,
            { name: engineName(args.identity, "redis-data"), labels: stackLabels(args.identity, "redis") },
            { parent: this, retainOnDelete: args.keepDataOnDestroy ?? true },
        );
        const container = new Container(
            `${name}-server`,
            {
                ...HARDENED_DEFAULTS,
                tmpfs: { ...HARDENED_DEFAULTS.tmpfs, "/run/redis": "rw,nosuid,size=1m" },
                name: engineName(args.identity, "redis"),
                image: args.image.id,
                imageName: args.image.reference,
                env: {},
                // REDISCLI_AUTH lets the health check authenticate without the password in its argv.
                secretEnv: { REDIS_PASSWORD: password.value, REDISCLI_AUTH: password.value },
                labels: stackLabels(args.identity, "redis"),
                role: "cache",
                envContract: { ...EMPTY_ENV_CONTRACT, required: ["REDIS_PASSWORD"] },
                networks: [{ name: args.networkName, aliases: [REDIS_HOST] }],
                publish: [],
                mounts: [{ volume: volume.name, target: "/data", readOnly: false }],
                healthCheck: healthCheck(["CMD-SHELL", "redis-cli -h 127.0.0.1 ping | grep -q PONG"]),
                memoryMb,
                waitHealthySeconds: 60,
            },
            // One writer per append-only file: the old server stops before the new one starts.
            { parent: this, deleteBeforeReplace: true },
        );
        this.password = password.value;
        this.url = pulumi.secret(pulumi.interpolate`redis://:${password.value}@${REDIS_HOST}:${REDIS_PORT}/0`);
        this.containerName = container.containerName;
        this.volumeName = volume.name;
        this.registerOutputs({ password: this.password, containerName: this.containerName, volumeName: this.volumeName });
    }
}
