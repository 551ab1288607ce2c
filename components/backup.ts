import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { settledAfter } from "../providers/serviceSettled";
import {
    BACKUP_AGENT_HOST,
    BACKUP_AGENT_METRICS_PORT,
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
import { BackupSchedule } from "./backupResources";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { healthcheck } from "./hardening";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { backupLocationVolume } from "./backupLocation";
import { StackIdentity, engineName } from "./naming";
import { OFFSITE_KEYS, offsiteKnownHostsProblems, parseOffsiteTarget } from "./offsitePlan";
import { PITR_REPO_DIR, PointInTimeSettings, PointInTimeSummary } from "./pitrPlan";
import { secretMount, secretRef, swarmSecret } from "./secretFiles";
import { swarmServiceArgs } from "./swarmService";

export interface BackupsArgs {
    /** Which stack the backups belong to. */
    readonly identity: StackIdentity;
    /** The stack's data network, where Postgres answers as `postgres`; the agent publishes nothing. */
    readonly network: StackNetwork;
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
    /** A stack volume name or an absolute host directory (default `backups`), or the BackupLocation made for it. */
    readonly location?: string | { readonly spec: string; readonly volumeName: pulumi.Input<string>; readonly where: pulumi.Output<string> };
    /** Point-in-time recovery of the Postgres target: the agent makes the pgBackRest repository directory and reports on it. */
    readonly pointInTime?: PointInTimeSettings;
    /** Memory limit of the agent in MiB. Default 256. */
    readonly memoryMb?: number;
    /** Seconds a deploy waits for the agent's first verified backup. Default 300. */
    readonly firstBackupTimeoutSeconds?: number;
    /** A copy of the location on another host over SFTP, encrypted by restic. Default: none. */
    readonly offsite?: OffsiteArgs;
}

/** Where the off-site copy goes and the secrets it needs. */
export interface OffsiteArgs {
    /** `sftp://user@host[:port]/absolute/path`. */
    readonly target: string;
    /** The off-site host's key as one known_hosts line: the only one accepted. */
    readonly knownHosts: string;
    /** The private key the agent logs in with (secret; mounted as a file, never in env or argv). */
    readonly sshKey: pulumi.Input<string>;
    /** restic's repository password (secret; mounted as a file and read through RESTIC_PASSWORD_FILE). */
    readonly encryptionKey: pulumi.Input<string>;
    /** Seconds between shipments of the pgBackRest repository off-site (with point-in-time recovery). Default 60. */
    readonly walEverySeconds?: number;
}

/** The `backups` stack output. */
export interface BackupsSummary {
    /** `volume <engine name>` or the host directory. */
    readonly location: string;
    /** The agent's swarm service; `npm run backup` runs its commands in the service's task. */
    readonly agentService: string;
    readonly schedule: string;
    readonly retention: string;
    /** The agent reports unhealthy when a target's newest verified backup (or the off-site copy) is older than this. */
    readonly staleAfter: string;
    /** Where the off-site copy is and how it is protected (nothing secret); null when there is none. */
    readonly offsite: { readonly target: string; readonly encryption: string; readonly hostKey: string; readonly walEverySeconds?: number } | null;
    readonly targets: string[];
    /** URN of the BackupSchedule record (`pulumi refresh` updates what it reports). */
    readonly scheduleRecord: string;
    /** What to run next. */
    readonly next: string;
    /** Point-in-time recovery with pgBackRest, when on. */
    readonly pointInTime?: PointInTimeSummary;
}

/**
 * The stack's backups: a long-running agent that backs up on a schedule (pg_dump -Fc for Postgres,
 * an online copy for SQLite), proves every backup by restoring it into a scratch database, prunes
 * by retention, and reports the age of the newest verified backup as its health; plus the
 * BackupSchedule record the policy pack requires and `pulumi refresh` updates.
 */
export class Backups extends pulumi.ComponentResource {
    /** The agent's swarm service; `npm run backup` runs its commands in its task with docker exec. */
    public readonly agentServiceName: pulumi.Output<string>;
    /** Where backups are, for people: `volume <engine name>` or a host directory. */
    public readonly location: pulumi.Output<string>;
    /** What the stack outputs say about backups. */
    public readonly summary: pulumi.Output<BackupsSummary>;

    constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Backups", name, {}, opts);
        const schedule = args.schedule ?? "0 3 * * *";
        const keep = args.keep ?? { days: 7, weeks: 4, months: 6 };
        const locationSpec = typeof args.location === "object" ? args.location.spec : (args.location ?? "backups");
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
        const offsiteTarget = args.offsite ? parseOffsiteTarget(args.offsite.target) : undefined;
        if (offsiteTarget && "error" in offsiteTarget) {
            throw new pulumi.ResourceError(`\`backups.offsite.target\` ${offsiteTarget.error}.`, this);
        }
        const hostKeyIssues = offsiteTarget && args.offsite ? offsiteKnownHostsProblems(offsiteTarget, args.offsite.knownHosts) : [];
        if (hostKeyIssues.length > 0) {
            throw new pulumi.ResourceError(`\`backups.offsite.knownHosts\` ${hostKeyIssues.join("; ")}.`, this);
        }
        const cron = parseCron(schedule);
        const period = periodSeconds(cron);
        const staleAfter = staleAfterSeconds(cron);

        // A stack with point-in-time recovery passes the location it already made (Postgres mounts
        // it too); otherwise the volume is this component's own, as it always was.
        const given = typeof args.location === "object" ? args.location : undefined;
        // The alias covers a stack that turns point-in-time recovery off again: the volume comes
        // back under this component without being replaced.
        const locationVolumeName = given
            ? given.volumeName
            : backupLocationVolume(`${name}-location`, args.identity, locationSpec, this, pulumi.createUrn(name, "opsbook:index:BackupLocation")).name;
        const location = parseLocation(locationSpec);
        const where = given ? given.where : location.kind === "volume" ? pulumi.interpolate`volume ${locationVolumeName}` : pulumi.output(location.path);
        // The targets as the agent reads them: ids, kinds and paths inside its container.
        const agentTargets = args.targets.map((t) => (t.kind === "postgres" ? { id: t.id, kind: t.kind, database: t.database } : { id: t.id, kind: t.kind, path: t.path }));
        // pg_dump, pg_restore and psql get the password from this URL (read from its file) as
        // PGPASSWORD of their own process, never on a command line.
        // The off-site copy's key and encryption key are files too: ssh reads the key with `-i`
        // (0400, owned by the agent's uid, as ssh insists) and restic its password through
        // RESTIC_PASSWORD_FILE.
        const secretRefs = {
            ...(hasPostgres
                ? { BACKUP_POSTGRES_URL: secretRef("BACKUP_POSTGRES_URL", swarmSecret(args.identity, "BACKUP_POSTGRES_URL", args.postgresAdminUrl as pulumi.Input<string>, { parent: this })) }
                : {}),
            ...(args.offsite
                ? {
                      BACKUP_OFFSITE_SSH_KEY: secretRef(OFFSITE_KEYS.sshKey, swarmSecret(args.identity, OFFSITE_KEYS.sshKey, args.offsite.sshKey, { parent: this })),
                      BACKUP_OFFSITE_PASSWORD: secretRef(OFFSITE_KEYS.encryptionKey, swarmSecret(args.identity, OFFSITE_KEYS.encryptionKey, args.offsite.encryptionKey, { parent: this })),
                  }
                : {}),
        };
        const secrets = secretMount(secretRefs, { uid: String(BACKUP_UID), gid: String(BACKUP_UID) });
        const offsiteEnv: Record<string, pulumi.Input<string>> =
            args.offsite && offsiteTarget && !("error" in offsiteTarget)
                ? {
                      BACKUP_OFFSITE_TARGET: offsiteTarget.display,
                      BACKUP_OFFSITE_KNOWN_HOSTS: args.offsite.knownHosts.trim(),
                      // restic records it per snapshot; the agent's own hostname changes with every task.
                      BACKUP_OFFSITE_HOSTNAME: engineName(args.identity, "backup"),
                      ...(args.pointInTime ? { BACKUP_OFFSITE_WAL_EVERY: String(args.offsite.walEverySeconds ?? 60) } : {}),
                  }
                : {};
        const serviceArgs = swarmServiceArgs({
            identity: args.identity,
            engineName: engineName(args.identity, "backup"),
            component: "backup",
            image: args.image,
            command: ["backup-agent", "serve"],
            env: {
                BACKUP_DIR: BACKUP_MOUNT,
                BACKUP_SCHEDULE: schedule,
                BACKUP_KEEP_DAYS: String(keep.days),
                BACKUP_KEEP_WEEKS: String(keep.weeks),
                BACKUP_KEEP_MONTHS: String(keep.months),
                BACKUP_TARGETS: JSON.stringify(agentTargets),
                BACKUP_LOCATION: where,
                BACKUP_METRICS_PORT: String(BACKUP_AGENT_METRICS_PORT),
                ...offsiteEnv,
                // The agent makes the pgBackRest repository directory (it owns the location) so
                // that Postgres, a member of its group, can write it; see components/pitrPlan.ts.
                ...(args.pointInTime ? { BACKUP_PITR_REPO: `${BACKUP_MOUNT}/${PITR_REPO_DIR}` } : {}),
            },
            secrets,
            networks: [{ id: args.network.id, aliases: [BACKUP_AGENT_HOST] }],
            volumes: [
                { source: locationVolumeName, target: BACKUP_MOUNT },
                // Read-write: a WAL-mode reader writes the -shm index, and restore writes the file.
                ...[...new Set(sqliteTargets.map((t) => t.volume))].map((v) => ({ source: args.volumes![v], target: `/sources/${v}` })),
            ],
            // The health signal is the age of the newest verified backup (the agent's
            // `health`); the first deploy waits for the first verified backup.
            healthcheck: healthcheck(["backup-agent", "health"], {
                intervalSeconds: 10,
                timeoutSeconds: 10,
                startPeriodSeconds: args.firstBackupTimeoutSeconds ?? 300,
            }),
            replicas: 1,
            // Two agents on one location would prune each other's view of the manifest.
            updateOrder: "stop-first",
            memoryMb,
            // A dump in progress is stopped and its scratch database dropped before exit.
            stopGraceSeconds: 30,
            envContract: hasPostgres ? { ...EMPTY_ENV_CONTRACT, required: ["BACKUP_POSTGRES_URL"], formats: { BACKUP_POSTGRES_URL: "url" } } : EMPTY_ENV_CONTRACT,
            convergeTimeoutSeconds: (args.firstBackupTimeoutSeconds ?? 300) + 60,
        });
        const service = new docker.Service(`${name}-agent`, serviceArgs, { parent: this, deleteBeforeReplace: true });
        // Dependents wait until Swarm has finished rolling the service out, not only until it runs.
        settledAfter(`${name}-settled`, service.name, serviceArgs, (args.firstBackupTimeoutSeconds ?? 300) + 120, args.identity.engine, { parent: this });
        const record = new BackupSchedule(
            `${name}-schedule`,
            {
                agentService: service.name,
                schedule,
                periodSeconds: period,
                staleAfterSeconds: staleAfter,
                keep,
                location: where,
                targets: args.targets.map((t) => t.id),
                verify: true,
                ...(args.identity.engine ? { engine: args.identity.engine } : {}),
            },
            { parent: this },
        );

        this.agentServiceName = service.name;
        this.location = where;
        this.summary = pulumi.output({
            location: where,
            agentService: service.name,
            schedule: `${schedule} (UTC)`,
            retention: describeRetention(keep),
            staleAfter: formatAge(staleAfter),
            offsite:
                offsiteTarget && !("error" in offsiteTarget)
                    ? {
                          target: offsiteTarget.display,
                          encryption: `restic repository, key \`${OFFSITE_KEYS.encryptionKey}\` (keep a copy offline)`,
                          hostKey: `only the line in \`${OFFSITE_KEYS.knownHosts}\``,
                          ...(args.pointInTime && args.offsite ? { walEverySeconds: args.offsite.walEverySeconds ?? 60 } : {}),
                      }
                    : null,
            targets: args.targets.map((t) => t.id),
            scheduleRecord: record.urn,
            next:
                `npm run backup -- list --stack ${args.identity.stack}   (also: now | verify [name] | restore [name] | status` +
                (offsiteTarget ? ` | list --offsite | restore --from-offsite [name])` : ")"),
            ...(args.pointInTime
                ? {
                      pointInTime: {
                          ...args.pointInTime,
                          repository: pulumi.interpolate`${where}/${PITR_REPO_DIR}`,
                          restore: `npm run backup -- restore --to "YYYY-MM-DD HH:MM:SS" --stack ${args.identity.stack}   (UTC; or --to latest, or a backup label; --scratch to inspect first)`,
                      },
                  }
                : {}),
        });
        this.registerOutputs({ agentServiceName: this.agentServiceName, location: this.location, summary: this.summary });
    }
}
