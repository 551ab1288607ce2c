// Point-in-time recovery with pgBackRest: the spec's defaults and limits, and the rules that decide
// whether a restore target can be reached, before anything changes. Pure: tests need no engine;
// `npm run backup -- restore --to ...` runs these same functions (scripts/lib/pitr-target.ts)
// on what `pitr info` reports from the repository.

/** Where the repository is inside the backup location: an off-site copy of the location carries it. */
export const PITR_REPO_DIR = "pgbackrest";
/** The uid the agent runs as, and the group Postgres joins to write the repository it creates. */
export const PITR_REPO_GROUP = "10001";

/** Limits of the `backups.pointInTime` keys, so the schema, its messages and the docs agree. */
export const PITR_LIMITS = {
    /**
     * At least 2: pgBackRest expires the oldest full backup as soon as a new one is complete, before
     * the new one has been proven by a restore; with 1, there would be moments with no proven backup.
     */
    keepFull: { min: 2, max: 60, default: 7 },
    /** A full backup at least weekly bounds the WAL a restore must replay. */
    fullEveryHours: { min: 1, max: 168, default: 24 },
    /** archive_timeout: the most seconds of committed writes not yet in the repository (the RPO on host loss). */
    archiveTimeoutSeconds: { min: 10, max: 3600, default: 60 },
} as const;

/** The `backups.pointInTime` settings a stack runs with. */
export interface PointInTimeSettings {
    /** Full backups kept (repo1-retention-full). */
    readonly keepFull: number;
    /** Hours between scheduled full backups. */
    readonly fullEveryHours: number;
    /** archive_timeout in seconds. */
    readonly archiveTimeoutSeconds: number;
    /**
     * Where the repository key comes from: `generated` (@pulumi/random, exported as
     * `pitrRepositoryKey`) or `PITR_REPOSITORY_KEY` (a lost stack's key, to restore its repository).
     */
    readonly keySource?: "generated" | "PITR_REPOSITORY_KEY";
}

/** What the `backups` output says about point-in-time recovery. */
export interface PointInTimeSummary extends PointInTimeSettings {
    /** The pgBackRest repository, for people: `<location>/pgbackrest`. */
    readonly repository: string;
    /** What to run to restore to a time. */
    readonly restore: string;
}

/** One backup as `pitr info` reports it (pgBackRest's info plus opsbook's proof record). */
export interface PitrBackup {
    readonly label: string;
    readonly type: "full" | "diff" | "incr";
    /** Epoch seconds. */
    readonly startedAt: number;
    readonly stoppedAt: number;
    readonly databaseBytes?: number;
    readonly repoBytes?: number;
    readonly proof: { readonly ok: boolean; readonly provenAt: string; readonly problem?: string } | null;
}

/** What `pitr info` prints (the part these rules read). */
export interface PitrInfo {
    /** Epoch seconds, on the database's clock. */
    readonly now: number;
    readonly backups: PitrBackup[];
    readonly archive?: {
        readonly segmentsWaiting?: number;
        readonly server?: { readonly secondsSinceLastArchived?: number | null; readonly failedCount?: number; readonly lastFailedWal?: string | null; readonly lastArchivedWal?: string | null } | null;
    };
}

export type RestoreTarget = { readonly kind: "latest" } | { readonly kind: "time"; readonly at: Date } | { readonly kind: "backup"; readonly label: string };

const LABEL = /^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/;
/** "2026-12-01 14:04", "2026-12-01 14:04:00", "2026-12-01T14:04:00.250Z", "2026-12-01 16:04:00+02:00". */
const TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Is `text` a pgBackRest backup label (e.g. 20261202-061138F or 20261202-061138F_20261202-070000I)? */
export function isBackupLabel(text: string): boolean {
    return LABEL.test(text);
}

/** Parses `--to` (a time, UTC unless it says otherwise, or `latest`), or names what is wrong. */
export function parseRestoreTarget(text: string): RestoreTarget | { readonly problem: string } {
    const trimmed = text.trim();
    if (trimmed === "latest") {
        return { kind: "latest" };
    }
    if (isBackupLabel(trimmed)) {
        return { kind: "backup", label: trimmed };
    }
    const m = TIME.exec(trimmed);
    if (!m) {
        return { problem: `\`--to ${text}\` is not a time; write it as "YYYY-MM-DD HH:MM[:SS[.mmm]]" (UTC unless it ends in Z or an offset such as +02:00), or \`latest\`` };
    }
    const [, y, mo, d, h, mi, s = "0", frac = "0", zone = "Z"] = m;
    let offsetMinutes = 0;
    if (!/^(Z|UTC)$/i.test(zone)) {
        const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
        offsetMinutes = (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? "0"));
    }
    const ms = Math.round(Number(`0.${frac}`) * 1000);
    const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms) - offsetMinutes * 60_000;
    const at = new Date(utc);
    // Date.UTC rolls 2026-02-31 over to March; a date that does not exist is refused instead.
    const back = new Date(utc + offsetMinutes * 60_000);
    if (back.getUTCMonth() !== Number(mo) - 1 || back.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
        return { problem: `\`--to ${text}\` is not a valid date and time` };
    }
    return { kind: "time", at };
}

/** A time as recovery_target_time reads it, in UTC with milliseconds: "2026-12-01 14:04:00.250+00". */
export function pgTime(at: Date): string {
    return `${at.toISOString().replace("T", " ").replace("Z", "")}+00`;
}

/** A time for people: "2026-12-01 14:04:00 UTC". */
export function showTime(epochSeconds: number): string {
    return `${new Date(epochSeconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "")} UTC`;
}

/** The backups a restore may start from: proven ones, or every one with --force. Oldest first. */
export function usableBackups(info: PitrInfo, force = false): PitrBackup[] {
    return [...info.backups].filter((b) => force || b.proof?.ok === true).sort((a, b) => a.stoppedAt - b.stoppedAt);
}

/** The span a restore to a time can reach: from the end of the oldest usable backup to now. */
export function restorableRange(info: PitrInfo, force = false): { readonly from: number; readonly to: number } | undefined {
    const usable = usableBackups(info, force);
    return usable.length === 0 ? undefined : { from: usable[0].stoppedAt, to: info.now };
}

/** How the restore is carried out: the backup set pgBackRest starts from, and how far WAL is replayed. */
export interface RestorePlan {
    readonly set: string;
    /** pgBackRest's --type: `time` (to --target), `default` (to the end of the archive), `immediate` (the backup's own end). */
    readonly type: "time" | "default" | "immediate";
    /** recovery_target_time, for type `time`. */
    readonly target?: string;
    /** For people: what the restore reaches. */
    readonly describe: string;
}

/**
 * Decides the restore of `target` from what the repository holds, or says why it cannot be done,
 * naming the range that is possible. Nothing has changed when this refuses. The set is chosen
 * here (the newest usable backup that ended before the target), not left to pgBackRest, so the
 * choice honours proofs and is shown to the operator before the confirmation.
 */
export function planRestore(info: PitrInfo, target: RestoreTarget, opts: { force?: boolean } = {}): RestorePlan | { readonly problem: string } {
    const usable = usableBackups(info, opts.force);
    const proofHint = opts.force ? "" : " proven";
    if (usable.length === 0) {
        const unproven = info.backups.length > 0 && !opts.force ? ` (${info.backups.length} not proven yet: \`npm run backup -- verify\` proves the newest)` : "";
        return { problem: `there is no${proofHint} pgBackRest backup to restore from${unproven}; nothing was changed` };
    }
    const range = { from: usable[0].stoppedAt, to: info.now };
    const possible = `possible: ${showTime(range.from)} .. ${showTime(range.to)} (now), or \`latest\``;
    if (target.kind === "backup") {
        const found = info.backups.find((b) => b.label === target.label);
        if (!found) {
            return { problem: `there is no pgBackRest backup ${target.label}; backups: ${info.backups.map((b) => b.label).join(", ") || "none"}` };
        }
        if (!usable.includes(found)) {
            return { problem: `${target.label} is not proven (${found.proof?.problem ?? "no proof yet"}); nothing was changed. Prove it with \`npm run backup -- verify ${target.label}\` or pass --force` };
        }
        return { set: found.label, type: "immediate", describe: `backup ${found.label} as it was when it ended (${showTime(found.stoppedAt)})` };
    }
    const newest = usable[usable.length - 1];
    if (target.kind === "latest") {
        return { set: newest.label, type: "default", describe: `the latest archived point (backup ${newest.label} plus every archived WAL segment after it)` };
    }
    const at = target.at.getTime() / 1000;
    if (at < range.from) {
        return { problem: `\`--to ${showTime(at)}\` is before the end of the oldest${proofHint} backup (${usable[0].label}); ${possible}; nothing was changed` };
    }
    if (at > range.to) {
        return { problem: `\`--to ${showTime(at)}\` is in the future; ${possible}; nothing was changed` };
    }
    const from = [...usable].reverse().find((b) => b.stoppedAt <= at)!;
    return { set: from.label, type: "time", target: pgTime(target.at), describe: `${pgTime(target.at)} (from backup ${from.label}, then WAL replayed to that time)` };
}

/** The archiving state in one line, for `status` and `list`. */
export function archiveSummary(info: PitrInfo): string {
    const server = info.archive?.server;
    if (!server) {
        return "archiving: unknown (the server did not answer)";
    }
    const lag = server.secondsSinceLastArchived;
    const parts = [
        lag === null || lag === undefined ? "no WAL archived yet" : `last WAL archived ${lag} s ago (${server.lastArchivedWal})`,
        `${info.archive?.segmentsWaiting ?? 0} segment(s) waiting`,
    ];
    if ((server.failedCount ?? 0) > 0) {
        parts.push(`${server.failedCount} failed attempt(s), last ${server.lastFailedWal}`);
    }
    return `archiving: ${parts.join("; ")}`;
}
