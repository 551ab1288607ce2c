// What a stack backs up, where, and how its config is checked. Pure: tests need no engine.
// The schedule, retention and health rules are the agent's own (images/backup/agent/plan.js), so
// the spec accepts exactly the schedules the agent runs, and the outputs describe what it does.
import * as path from "path";
import type { Keep } from "../images/backup/agent/plan";
import type { Spec } from "./spec";

export type { Cron, Health, Keep, ManifestEntry, RetentionDecision } from "../images/backup/agent/plan";
export {
    compareChecks,
    formatAge,
    healthOf,
    nextRun,
    parseCron,
    parseManifest,
    periodSeconds,
    planRetention,
    restoreDefault,
    scheduleProblem,
    serializeManifest,
    staleAfterSeconds,
} from "../images/backup/agent/plan";

/** Where the agent sees the backup location, and the volumes of the SQLite databases it copies. */
/** The agent's alias on the data network, and the port of its /metrics (read by the stack's Prometheus). */
export const BACKUP_AGENT_HOST = "backup";
export const BACKUP_AGENT_METRICS_PORT = 9187;
export const BACKUP_MOUNT = "/backups";
export const SOURCES_MOUNT = "/sources";

/** The uid the agent runs as (the app's, so it can read and write the app's SQLite files). */
export const BACKUP_UID = 10001;

/** One database the agent backs up; `id` prefixes its backup files. */
export type BackupTarget =
    | { readonly id: string; readonly kind: "postgres"; readonly database: string }
    | {
          readonly id: string;
          readonly kind: "sqlite";
          /** The stack volume (spec name) the file lives on. */
          readonly volume: string;
          /** The file's path inside that volume. */
          readonly file: string;
          /** The file's path inside the agent container. */
          readonly path: string;
      };

/** Where backups are kept: a named volume of the stack, or a directory on the engine's host. */
export type BackupLocation = { readonly kind: "volume"; readonly name: string } | { readonly kind: "host"; readonly path: string };

const VOLUME_NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** What is wrong with `location`, or undefined. */
export function locationProblem(location: string): string | undefined {
    if (location.startsWith("/")) {
        const trimmed = location.replace(/\/+$/, "");
        if (trimmed === "") {
            return "must not be the root directory; use a directory of its own such as /srv/opsbook/backups";
        }
        if (path.posix.normalize(location) !== trimmed && path.posix.normalize(location) !== location) {
            return `\`${location}\` is not a normalized absolute path; write it without \`..\`, \`.\` or doubled slashes, e.g. /srv/opsbook/backups`;
        }
        return undefined;
    }
    if (!VOLUME_NAME.test(location)) {
        return `must be a volume name (lower-case words joined by -, e.g. \`backups\`) or an absolute host directory (e.g. /srv/opsbook/backups); got \`${location}\``;
    }
    return undefined;
}

export function parseLocation(location: string): BackupLocation {
    return location.startsWith("/") ? { kind: "host", path: location.replace(/\/+$/, "") } : { kind: "volume", name: location };
}

/** sqlite:////data/app.db -> /data/app.db (SQLAlchemy's form, as the reference app reads it). */
export function sqliteFileOf(databaseUrl: string): string | undefined {
    const m = /^sqlite:\/\/\/(.+)$/.exec(databaseUrl);
    return m ? path.posix.normalize(m[1]) : undefined;
}

function slug(text: string): string {
    return text
        .toLowerCase()
        .replace(/\.(db|sqlite3?)$/, "")
        .replace(/[^a-z0-9_]+/g, "-")
        .replace(/^-+|-+$/g, "");
}

/** A service's SQLite file and the volume it is on; `volume` undefined when it is on no volume. */
export interface SqliteFile {
    readonly service: string;
    readonly file: string;
    readonly volume?: string;
    readonly inVolume?: string;
}

/** The SQLite files the services declare in a plain DATABASE_URL (`sqlite:////<path>`). */
export function sqliteFiles(spec: Pick<Spec, "services">): SqliteFile[] {
    const found: SqliteFile[] = [];
    for (const [service, svc] of Object.entries(spec.services)) {
        const url = svc.env.DATABASE_URL;
        const file = url ? sqliteFileOf(url) : undefined;
        if (!file || !file.startsWith("/")) {
            continue;
        }
        const mount = Object.entries(svc.volumes)
            .filter(([, target]) => file.startsWith(`${target.replace(/\/+$/, "")}/`))
            .sort((a, b) => b[1].length - a[1].length)[0];
        found.push(mount ? { service, file, volume: mount[0], inVolume: file.slice(mount[1].replace(/\/+$/, "").length + 1) } : { service, file });
    }
    return found;
}

/** What the stack's agent backs up: the Postgres database, then each SQLite file on a volume once. */
export function backupTargets(spec: Pick<Spec, "postgres" | "services">): BackupTarget[] {
    const targets: BackupTarget[] = [];
    if (spec.postgres.enabled) {
        targets.push({ id: `postgres-${slug(spec.postgres.database)}`, kind: "postgres", database: spec.postgres.database });
    }
    for (const f of sqliteFiles(spec)) {
        if (f.volume === undefined || f.inVolume === undefined) {
            continue;
        }
        const id = `sqlite-${f.volume}-${slug(f.inVolume)}`;
        if (!targets.some((t) => t.id === id)) {
            targets.push({ id, kind: "sqlite", volume: f.volume, file: f.inVolume, path: `${SOURCES_MOUNT}/${f.volume}/${f.inVolume}` });
        }
    }
    return targets;
}

/** Backups are on unless turned off: by default whenever there is a database to back up. */
export function backupsEnabled(spec: Pick<Spec, "postgres" | "services" | "backups">): boolean {
    return spec.backups.enabled ?? backupTargets(spec).length > 0;
}

/** pgBackRest point-in-time recovery is on unless turned off: by default whenever backups cover Postgres. */
export function pointInTimeEnabled(spec: Pick<Spec, "postgres" | "services" | "backups">): boolean {
    return spec.postgres.enabled && backupsEnabled(spec) && (spec.backups.pointInTime.enabled ?? true);
}

/** Problems that need more than one key to see, by key path under `opsbook:`. */
export function backupIssues(spec: Pick<Spec, "postgres" | "services" | "backups">): { path: string[]; message: string }[] {
    const issues: { path: string[]; message: string }[] = [];
    if (spec.backups.enabled === true && backupTargets(spec).length === 0) {
        issues.push({
            path: ["backups", "enabled"],
            message: "is true, but the stack has nothing to back up (no Postgres, no SQLite DATABASE_URL on a volume); remove `backups` or add the database",
        });
    }
    if (spec.backups.pointInTime.enabled === true && !spec.postgres.enabled) {
        issues.push({ path: ["backups", "pointInTime", "enabled"], message: "is true, but the stack has no Postgres; point-in-time recovery is for Postgres only (SQLite files keep their verified online copies)" });
    }
    if (!backupsEnabled(spec)) {
        if (spec.backups.pointInTime.enabled === true && spec.postgres.enabled) {
            issues.push({ path: ["backups", "pointInTime", "enabled"], message: "is true, but `backups.enabled` is false; the pgBackRest repository lives in the backup location, so turn backups on or point-in-time recovery off" });
        }
        return issues;
    }
    const location = parseLocation(spec.backups.location);
    if (location.kind === "volume") {
        for (const [service, svc] of Object.entries(spec.services)) {
            if (location.name in svc.volumes) {
                issues.push({
                    path: ["backups", "location"],
                    message: `names \`${location.name}\`, a volume \`services.${service}\` mounts; backups must not live beside the data they protect, so choose another name such as \`backups\``,
                });
                break;
            }
        }
    }
    for (const f of sqliteFiles(spec)) {
        if (f.volume === undefined) {
            issues.push({
                path: ["services", f.service, "env", "DATABASE_URL"],
                message: `is a SQLite file (${f.file}) on no volume: it is lost when the container is replaced and cannot be backed up; mount a volume at its directory in \`services.${f.service}.volumes\``,
            });
        }
    }
    return issues;
}

/** The backup agent's image key, when the stack runs one. */
export function backupImageKeys(spec: Pick<Spec, "postgres" | "services" | "backups" | "images">): Record<string, string> {
    return backupsEnabled(spec) ? { "opsbook:images.backup": spec.images.backup } : {};
}

/** e.g. "7 days, 4 weeks, 6 months". */
export function describeRetention(keep: Keep): string {
    const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    return [unit(keep.days, "day"), unit(keep.weeks, "week"), unit(keep.months, "month")].join(", ");
}
