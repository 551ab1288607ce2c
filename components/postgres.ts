import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { settledAfter } from "../providers/serviceSettled";
import { DATA_SERVICE_HEALTH, healthcheck } from "./hardening";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { StackIdentity, engineName, labelList, stackLabels } from "./naming";
import { secretMount, secretRef, swarmSecret } from "./secretFiles";
import { generatedPassword } from "./secrets";
import { PITR_REPO_DIR, PITR_REPO_GROUP, PointInTimeSettings } from "./pitrPlan";
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
    /**
     * Point-in-time recovery with pgBackRest: the server archives WAL and takes proven base backups
     * into `<backup location>/pgbackrest`. Default off (the stack turns it on with its backups).
     */
    readonly pointInTime?: PointInTimeSettings & {
        /** The engine name of the backup location volume, mounted at /backups. */
        readonly backupVolumeName: pulumi.Input<string>;
        /** The repository key to use instead of a generated one (secret): a lost stack's, to restore its repository. Default: generated. */
        readonly repositoryKey?: pulumi.Input<string>;
    };
}

/** Where the backup location is mounted in the Postgres container (the agent's mount point too). */
const BACKUP_MOUNT = "/backups";
/** pgBackRest's scratch space: proof restores, restores for inspection, restore requests. */
const PITR_SCRATCH = "/var/lib/postgresql/scratch";

/** The name Postgres answers to on the stack's data network. */
export const POSTGRES_HOST = "postgres";
export const POSTGRES_PORT = 5432;
/** The image's postgres user: the password file is readable by it alone. */
const POSTGRES_UID = "999";

/**
 * The server's health check: it accepts connections on its TCP port. pg_isready waits up to 8 s
 * for the answer, inside the engine's 10 s (DATA_SERVICE_HEALTH), so a slow answer is reported as
 * such and not cut off. Up to 120 s to start (recovery after an unclean stop replays WAL).
 */
export function postgresHealthcheck(): docker.types.input.ServiceTaskSpecContainerSpecHealthcheck {
    return healthcheck(["pg_isready", "-q", "-t", "8", "-h", "127.0.0.1", "-p", String(POSTGRES_PORT)], { ...DATA_SERVICE_HEALTH, startPeriodSeconds: 120 });
}

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
    /**
     * The pgBackRest repository passphrase (secret), when point-in-time recovery is on. Without it
     * the repository (and any off-site copy of it) cannot be read: keep a copy offline (README).
     */
    public readonly pitrRepositoryKey?: pulumi.Output<string>;

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
        const pitr = args.pointInTime;
        // The repository key: 64 characters from @pulumi/random, delivered as a secret file that
        // `pitr write-config` turns into a 0600 pgBackRest config on the container's tmpfs. It has
        // no rotation stamp on purpose: a new key cannot read the backups the old one encrypted.
        // A stack rebuilt after a host loss takes the lost stack's key instead (PITR_REPOSITORY_KEY):
        // only that key opens the repository it restores from the off-site copy.
        const pitrKey = pitr
            ? pitr.repositoryKey !== undefined
                ? pulumi.secret(pulumi.output(pitr.repositoryKey))
                : generatedPassword(`${name}-pitr-key`, 64, "initial", { parent: this, protect: false })
            : undefined;
        const pitrSecret = pitrKey ? swarmSecret(args.identity, "PITR_CIPHER_PASS", pitrKey, { parent: this }) : undefined;
        // Scratch space for restores that must not touch PGDATA; it outlives tasks so a restore
        // request written before a restart is there after it.
        const scratch = pitr
            ? new docker.Volume(`${name}-pitr-scratch`, { name: engineName(args.identity, "postgres-pitr-scratch"), labels: labelList(stackLabels(args.identity, "postgres")) }, { parent: this })
            : undefined;
        const pitrEnv: Record<string, string> = pitr
            ? {
                  OPSBOOK_PITR: "on",
                  OPSBOOK_PITR_REPO: `${BACKUP_MOUNT}/${PITR_REPO_DIR}`,
                  OPSBOOK_PITR_SCRATCH: PITR_SCRATCH,
                  OPSBOOK_PITR_KEEP_FULL: String(pitr.keepFull),
                  OPSBOOK_PITR_FULL_EVERY_HOURS: String(pitr.fullEveryHours),
                  OPSBOOK_PITR_ARCHIVE_TIMEOUT: String(pitr.archiveTimeoutSeconds),
              }
            : {};
        const serviceArgs = swarmServiceArgs({
            identity: args.identity,
            engineName: engineName(args.identity, "postgres"),
            component: "database",
            image: args.image,
            env: { POSTGRES_USER: adminUser, POSTGRES_DB: database, ...pitrEnv },
            secrets: secretMount(
                {
                    POSTGRES_PASSWORD: secretRef("POSTGRES_PASSWORD", passwordSecret),
                    ...(pitrSecret ? { PITR_CIPHER_PASS: secretRef("PITR_CIPHER_PASS", pitrSecret) } : {}),
                },
                { uid: POSTGRES_UID, gid: POSTGRES_UID },
            ),
            networks: [{ id: args.network.id, aliases: [POSTGRES_HOST] }],
            volumes: [
                { source: volume.name, target: "/var/lib/postgresql/data" },
                ...(pitr && scratch
                    ? [
                          { source: pitr.backupVolumeName, target: BACKUP_MOUNT },
                          { source: scratch.name, target: PITR_SCRATCH },
                      ]
                    : []),
            ],
            // The agent owns the backup location; Postgres writes the repository directory as a
            // member of its group (the directory is group-writable and set-group-id).
            ...(pitr ? { groups: [PITR_REPO_GROUP] } : {}),
            // The server writes its socket and lock files outside the data volume.
            tmpfs: { "/var/run/postgresql": 8 },
            healthcheck: postgresHealthcheck(),
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
        this.pitrRepositoryKey = pitrKey ? pulumi.secret(pitrKey) : undefined;
        this.registerOutputs({ serviceName: this.serviceName, volumeName: this.volumeName });
    }
}
