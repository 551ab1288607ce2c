import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { settledAfter } from "../providers/serviceSettled";
import { healthcheck } from "./hardening";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { StackIdentity, engineName, labelList, stackLabels } from "./naming";
import { secretMount, secretRef, swarmSecret } from "./secretFiles";
import { generatedPassword } from "./secrets";
import { swarmServiceArgs } from "./swarmService";

export interface PostgresArgs {
    /** Which stack this database belongs to. */
    readonly identity: StackIdentity;
    /** The stack's data network; Postgres is reachable there as `postgres:5432` and nowhere else. */
    readonly network: StackNetwork;
    /** The image, resolved on the engine. */
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

/** The name Postgres answers to on the stack's data network. */
export const POSTGRES_HOST = "postgres";
export const POSTGRES_PORT = 5432;
/** The image's postgres user: the password file is readable by it alone. */
const POSTGRES_UID = "999";

/**
 * PostgreSQL as a one-task swarm service: a named volume that outlives the service (and, by
 * default, the stack), a generated superuser password delivered as a file, and a health check
 * that gates every dependent service. Updates are stop-first: the old server has stopped before
 * a new one opens the data directory.
 */
export class Postgres extends pulumi.ComponentResource {
    public readonly host: pulumi.Output<string>;
    public readonly port: pulumi.Output<number>;
    public readonly database: pulumi.Output<string>;
    public readonly adminUser: pulumi.Output<string>;
    public readonly adminPassword: pulumi.Output<string>;
    /** postgres:// URL of the superuser on the stack network (secret). */
    public readonly adminUrl: pulumi.Output<string>;
    /** The engine's name of the swarm service. */
    public readonly serviceName: pulumi.Output<string>;
    public readonly volumeName: pulumi.Output<string>;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Postgres", name, {}, opts);
        const database = args.database ?? "app";
        const adminUser = args.adminUser ?? "opsbook_admin";
        const memoryMb = args.memoryMb ?? 512;
        if (memoryMb < 128) {
            throw new pulumi.ResourceError("`postgres.memoryMb` must be at least 128; Postgres does not start in less.", this);
        }

        const password = generatedPassword(`${name}-admin-password`, 32, args.adminPasswordRotation ?? "initial", { parent: this });
        const passwordSecret = swarmSecret(args.identity, "POSTGRES_PASSWORD", password, { parent: this });
        const volume = new docker.Volume(
            `${name}-data`,
            { name: engineName(args.identity, "postgres-data"), labels: labelList(stackLabels(args.identity, "postgres")) },
            { parent: this, retainOnDelete: args.keepDataOnDestroy ?? true },
        );
        const serviceArgs = swarmServiceArgs({
            identity: args.identity,
            engineName: engineName(args.identity, "postgres"),
            component: "database",
            image: args.image,
            env: { POSTGRES_USER: adminUser, POSTGRES_DB: database },
            secrets: secretMount({ POSTGRES_PASSWORD: secretRef("POSTGRES_PASSWORD", passwordSecret) }, { uid: POSTGRES_UID, gid: POSTGRES_UID }),
            networks: [{ id: args.network.id, aliases: [POSTGRES_HOST] }],
            volumes: [{ source: volume.name, target: "/var/lib/postgresql/data" }],
            // The server writes its socket and lock files outside the data volume.
            tmpfs: { "/var/run/postgresql": 8 },
            healthcheck: healthcheck(["pg_isready", "-q", "-h", "127.0.0.1", "-p", String(POSTGRES_PORT)], { startPeriodSeconds: 120 }),
            replicas: 1,
            // Two servers must never run on one data directory: they cannot see each other's
            // locks across containers, and both would write. A database change is a short
            // outage, never a split brain.
            updateOrder: "stop-first",
            memoryMb,
            // Postgres flushes on SIGINT (fast shutdown); give it time before SIGKILL.
            stopGraceSeconds: 30,
            convergeTimeoutSeconds: 240,
        });
        // A replacement of the service (not an update) must not start the new one first either.
        const service = new docker.Service(`${name}-server`, serviceArgs, { parent: this, deleteBeforeReplace: true });

        this.host = pulumi.output(POSTGRES_HOST);
        this.port = pulumi.output(POSTGRES_PORT);
        this.database = pulumi.output(database);
        this.adminUser = pulumi.output(adminUser);
        this.adminPassword = password;
        this.adminUrl = pulumi.secret(pulumi.interpolate`postgres://${adminUser}:${password}@${POSTGRES_HOST}:${POSTGRES_PORT}/${database}`);
        // Dependents wait until Swarm has finished rolling the service out, not only until it runs.
        settledAfter(`${name}-settled`, service.name, serviceArgs, 300, args.identity.engine, { parent: this });
        this.serviceName = service.name;
        this.volumeName = volume.name;
        this.registerOutputs({ serviceName: this.serviceName, volumeName: this.volumeName });
    }
}
