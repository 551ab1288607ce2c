import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { Container, Volume } from "../providers/docker";
import {
    BACKUP_MOUNT,
    BACKUP_UID,
    BackupTarget,
    Keep,
    describeRetention,
    formatAge,
    locationProblem,
    parseCron,
    parseLocation,
    periodSeconds,
    scheduleProblem,
    staleAfterSeconds,
} from "./backupPlan";
import { BackupHostVolume, BackupSchedule } from "./backupResources";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { HARDENED_DEFAULTS, healthCheck } from "./hardening";
import { LocalImage } from "./images";
import { StackIdentity, engineName, stackLabels } from "./naming";

export interface BackupsArgs {
    /** Which stack the backups belong to. */
    readonly identity: StackIdentity;
    /** The stack network, where Postgres answers as `postgres`; the agent publishes nothing. */
    readonly networkName: pulumi.Input<string>;
    /** The backup agent image (opsbook/backup), resolved on the local engine. */
    readonly image: LocalImage;
    /** What to back up (see `backupTargets`). At least one. */
    readonly targets: BackupTarget[];
    /** Superuser URL of Postgres (secret); required when a target is Postgres. pg_dump runs as it. */
    readonly postgresAdminUrl?: pulumi.Input<string>;
    /** Engine names of the stack volumes, by spec name; every SQLite target's volume must be here. */
    readonly volumes?: Record<string, pulumi.Input<string>>;
    /** 5-field cron, UTC. Default `0 3 * * *`. */
    readonly schedule?: string;
    /** Retention. Default 7 days, 4 weeks, 6 months. */
    readonly keep?: Keep;
    /** A stack volume name or an absolute host directory. Default `backups`. */
    readonly location?: string;
    /** Memory limit of the agent in MiB. Default 256. */
    readonly memoryMb?: number;
    /** Seconds a deploy waits for the agent's first verified backup. Default 300. */
    readonly firstBackupTimeoutSeconds?: number;
}

/** The `backups` stack output. */
export interface BackupsSummary {
    /** `volume <engine name>` or the host directory. */
    readonly location: string;
    readonly agentContainer: string;
    readonly schedule: string;
    readonly retention: string;
    /** The agent reports unhealthy when a target's newest verified backup is older than this. */
    readonly staleAfter: string;
    readonly targets: string[];
    /** URN of the BackupSchedule record (`pulumi refresh` updates what it reports). */
    readonly scheduleRecord: string;
    /** What to run next. */
    readonly next: string;
}

/**
 * The stack's backups: a long-running agent that backs up on a schedule (pg_dump -Fc for Postgres,
 * an online copy for SQLite), proves every backup by restoring it into a scratch database, prunes
 * by retention, and reports the age of the newest verified backup as its health; plus the
 * BackupSchedule record the policy pack requires and `pulumi refresh` updates.
 */
export class Backups extends pulumi.ComponentResource {
    /** The agent container; `npm run backup` runs its commands there with docker exec. */
    public readonly agentContainerName: pulumi.Output<string>;
    /** Where backups are, for people: `volume <engine name>` or a host directory. */
    public readonly location: pulumi.Output<string>;
    /** What the stack outputs say about backups. */
    public readonly summary: pulumi.Output<BackupsSummary>;

    constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Backups", name, {}, opts);
        const schedule = args.schedule ?? "0 3 * * *";
        const keep = args.keep ?? { days: 7, weeks: 4, months: 6 };
        const locationSpec = args.location ?? "backups";
        const memoryMb = args.memoryMb ?? 256;
        const scheduleIssue = scheduleProblem(schedule);
        if (scheduleIssue) {
            throw new pulumi.ResourceError(`\`backups.schedule\` ${scheduleIssue}.`, this);
        }
        const locationIssue = locationProblem(locationSpec);
        if (locationIssue) {
            throw new pulumi.ResourceError(`\`backups.location\` ${locationIssue}.`, this);
        }
        if (args.targets.length === 0) {
            throw new pulumi.ResourceError("`backups` has nothing to back up; give the stack Postgres or a SQLite database on a volume, or set `backups.enabled` to false.", this);
        }
        const hasPostgres = args.targets.some((t) => t.kind === "postgres");
        if (hasPostgres && args.postgresAdminUrl === undefined) {
            throw new pulumi.ResourceError("`backups` has a Postgres target but no superuser URL; pass `postgresAdminUrl`.", this);
        }
        const sqliteTargets = args.targets.filter((t): t is Extract<BackupTarget, { kind: "sqlite" }> => t.kind === "sqlite");
        const missing = sqliteTargets.filter((t) => args.volumes?.[t.volume] === undefined);
        if (missing.length > 0) {
            throw new pulumi.ResourceError(`\`backups\` needs the volume(s) ${missing.map((t) => `\`${t.volume}\``).join(", ")} of its SQLite targets; pass them in \`volumes\`.`, this);
        }
        const cron = parseCron(schedule);
        const period = periodSeconds(cron);
        const staleAfter = staleAfterSeconds(cron);

        const location = parseLocation(locationSpec);
        const labels = stackLabels(args.identity, "backups");
        // Backups outlive the stack: a named volume is kept on destroy; a host directory is the
        // user's and only the engine's handle on it is removed.
        const locationVolume =
            location.kind === "volume"
                ? new Volume(`${name}-location`, { name: engineName(args.identity, location.name), labels }, { parent: this, retainOnDelete: true })
                : new BackupHostVolume(
                      `${name}-location`,
                      {
                          // The path is part of the name: a new directory is a new volume.
                          name: engineName(args.identity, "backups-host", crypto.createHash("sha256").update(location.path).digest("hex").slice(0, 8)),
                          path: location.path,
                          labels,
                          uid: BACKUP_UID,
                      },
                      { parent: this },
                  );
        const where = location.kind === "volume" ? pulumi.interpolate`volume ${locationVolume.name}` : pulumi.output(location.path);

        // The targets as the agent reads them: ids, kinds and paths inside its container.
        const agentTargets = args.targets.map((t) => (t.kind === "postgres" ? { id: t.id, kind: t.kind, database: t.database } : { id: t.id, kind: t.kind, path: t.path }));
        const container = new Container(
            `${name}-agent`,
            {
                ...HARDENED_DEFAULTS,
                name: engineName(args.identity, "backup"),
                image: args.image.id,
                imageName: args.image.reference,
                command: ["backup-agent", "serve"],
                env: {
                    BACKUP_DIR: BACKUP_MOUNT,
                    BACKUP_SCHEDULE: schedule,
                    BACKUP_KEEP_DAYS: String(keep.days),
                    BACKUP_KEEP_WEEKS: String(keep.weeks),
                    BACKUP_KEEP_MONTHS: String(keep.months),
                    BACKUP_TARGETS: JSON.stringify(agentTargets),
                    BACKUP_LOCATION: where,
                },
                // pg_dump, pg_restore and psql get the password from this URL as PGPASSWORD, never
                // on a command line.
                secretEnv: hasPostgres ? { BACKUP_POSTGRES_URL: args.postgresAdminUrl as pulumi.Input<string> } : {},
                labels,
                networks: [{ name: args.networkName, aliases: ["backup"] }],
                publish: [],
                mounts: [
                    { volume: locationVolume.name, target: BACKUP_MOUNT, readOnly: false },
                    // Read-write: a WAL-mode reader writes the -shm index, and restore writes the file.
                    ...[...new Set(sqliteTargets.map((t) => t.volume))].map((v) => ({
                        volume: args.volumes![v],
                        target: `/sources/${v}`,
                        readOnly: false,
                    })),
                ],
                // The health signal is the age of the newest verified backup (see the agent's
                // `health`); the first deploy waits for the first verified backup.
                healthCheck: healthCheck(["CMD", "backup-agent", "health"], {
                    intervalSeconds: 10,
                    timeoutSeconds: 10,
                    startPeriodSeconds: args.firstBackupTimeoutSeconds ?? 300,
                }),
                waitHealthySeconds: args.firstBackupTimeoutSeconds ?? 300,
                memoryMb,
                // A dump in progress is stopped and its scratch database dropped before exit.
                stopGraceSeconds: 30,
                role: "worker",
                envContract: hasPostgres ? { ...EMPTY_ENV_CONTRACT, required: ["BACKUP_POSTGRES_URL"], formats: { BACKUP_POSTGRES_URL: "url" } } : EMPTY_ENV_CONTRACT,
            },
            // Two agents on one location would prune each other's view of the manifest.
            { parent: this, deleteBeforeReplace: true },
        );

        const record = new BackupSchedule(
            `${name}-schedule`,
            {
                agentContainer: container.containerName,
                schedule,
                periodSeconds: period,
                staleAfterSeconds: staleAfter,
                keep,
                location: where,
                targets: args.targets.map((t) => t.id),
                verify: true,
            },
            { parent: this },
        );

        this.agentContainerName = container.containerName;
        this.location = where;
        this.summary = pulumi.output({
            location: where,
            agentContainer: container.containerName,
            schedule: `${schedule} (UTC)`,
            retention: describeRetention(keep),
            staleAfter: formatAge(staleAfter),
            targets: args.targets.map((t) => t.id),
            scheduleRecord: record.urn,
            next: `npm run backup -- list --stack ${args.identity.stack}   (also: now | verify [name] | restore [name] | status)`,
        });
        this.registerOutputs({ agentContainerName: this.agentContainerName, location: this.location, summary: this.summary });
    }
}
