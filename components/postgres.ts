import * as pulumi from "@pulumi/pulumi";
import { Container, Volume } from "../providers/docker";
import { GeneratedSecretValue } from "../providers/random";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { HARDENED_DEFAULTS, healthCheck } from "./hardening";
import { LocalImage } from "./images";
import { StackIdentity, engineName, stackLabels } from "./naming";

export interface PostgresArgs {
    /** Which stack this database belongs to. */
    readonly identity: StackIdentity;
    /** The stack's private network; Postgres is reachable there as `postgres:5432` and nowhere else. */
    readonly networkName: pulumi.Input<string>;
    /** The image, resolved on the local engine. */
    readonly image: LocalImage;
    /** Memory limit in MiB. Default 512. */
    readonly memoryMb?: number;
    /** The database created at first start. Default `app`. */
    readonly database?: string;
    /** The superuser, used only by the stack itself (roles, migrations, backups). Default `opsbook_admin`. */
    readonly adminUser?: string;
    /** Rotation stamp of the superuser password; change it to make a new password. Default `initial`. */
    readonly adminPasswordRotation?: string;
    /** Keep the data volume on `pulumi destroy`. Default true: data is never lost by accident. */
    readonly keepDataOnDestroy?: boolean;
}

/** Alias of the database container on the stack network. */
export const POSTGRES_HOST = "postgres";
export const POSTGRES_PORT = 5432;

/**
 * PostgreSQL in a container: a named volume that outlives the container (and, by default, the
 * stack), a generated superuser password, and a health check that gates every dependent service.
 */
export class Postgres extends pulumi.ComponentResource {
    public readonly host: pulumi.Output<string>;
    public readonly port: pulumi.Output<number>;
    public readonly database: pulumi.Output<string>;
    public readonly adminUser: pulumi.Output<string>;
    public readonly adminPassword: pulumi.Output<string>;
    /** postgres:// URL of the superuser on the stack network (secret). */
    public readonly adminUrl: pulumi.Output<string>;
    public readonly containerName: pulumi.Output<string>;
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Postgres", name, {}, opts);
        const database = args.database ?? "app";
        const adminUser = args.adminUser ?? "opsbook_admin";
        const memoryMb = args.memoryMb ?? 512;
        if (memoryMb < 128) {
            throw new pulumi.ResourceError("`postgres.memoryMb` must be at least 128; Postgres does not start in less.", this);
        }

        const password = new GeneratedSecretValue(
            `${name}-admin-password`,
            { length: 32, alphabet: "alphanumeric", rotation: args.adminPasswordRotation ?? "initial" },
            { parent: this },
        );
        const volume = new Volume(
            `${name}-data`,
            { name: engineName(args.identity, "postgres-data"), labels: stackLabels(args.identity, "postgres") },
            { parent: this, retainOnDelete: args.keepDataOnDestroy ?? true },
        );
        const container = new Container(
            `${name}-server`,
            {
                ...HARDENED_DEFAULTS,
                // The server writes its socket and lock files outside the data volume.
                readOnlyRootFilesystem: true,
                tmpfs: { ...HARDENED_DEFAULTS.tmpfs, "/var/run/postgresql": "rw,nosuid,size=8m" },
                name: engineName(args.identity, "postgres"),
                image: args.image.id,
                imageName: args.image.reference,
                env: { POSTGRES_USER: adminUser, POSTGRES_DB: database },
                secretEnv: { POSTGRES_PASSWORD: password.value },
                labels: stackLabels(args.identity, "postgres"),
                role: "database",
                envContract: { ...EMPTY_ENV_CONTRACT, required: ["POSTGRES_PASSWORD"] },
                networks: [{ name: args.networkName, aliases: [POSTGRES_HOST] }],
                publish: [],
                mounts: [{ volume: volume.name, target: "/var/lib/postgresql/data", readOnly: false }],
                healthCheck: healthCheck(["CMD", "pg_isready", "-h", "127.0.0.1", "-U", adminUser, "-d", database], {
                    startPeriodSeconds: 60,
                }),
                memoryMb,
                waitHealthySeconds: 120,
                // Postgres flushes on SIGTERM (smart shutdown); give it time before SIGKILL.
                stopGraceSeconds: 30,
            },
            // Two servers must never run on one data directory: they cannot see each other's
            // locks across containers, and both would write. A new server starts only after the
            // old one has stopped (a database change is a short outage, never a split brain).
            { parent: this, deleteBeforeReplace: true },
        );

        this.host = pulumi.output(POSTGRES_HOST);
        this.port = pulumi.output(POSTGRES_PORT);
        this.database = pulumi.output(database);
        this.adminUser = pulumi.output(adminUser);
        this.adminPassword = password.value;
        this.adminUrl = pulumi.secret(
            pulumi.interpolate`postgres://${adminUser}:${password.value}@${POSTGRES_HOST}:${POSTGRES_PORT}/${database}`,
        );
        this.containerName = container.containerName;
        this.volumeName = volume.name;
        this.registerOutputs({
            host: this.host,
            port: this.port,
            database: this.database,
            adminUser: this.adminUser,
            adminPassword: this.adminPassword,
            containerName: this.containerName,
            volumeName: this.volumeName,
        });
    }
}
