// Types of plan.js for the TypeScript side (components/backupPlan.ts, unit tests). plan.js is
// checked against these with `tsc --allowJs --checkJs` (see test/unit/backupPlan.test.ts).
import type { Cron as CronerJob } from "croner";

/** A parsed 5-field cron expression (UTC): croner's job, never started, asked only for dates. */
export interface Cron {
    /** The expression, its fields separated by single spaces. */
    readonly source: string;
    readonly job: CronerJob;
}

/** One backup as manifest.json records it. */
export interface ManifestEntry {
    /** File name in the backup location. */
    name: string;
    /** Target id, e.g. `postgres-app` or `sqlite-data-signal_sentinel`. */
    target: string;
    kind: "postgres" | "sqlite";
    /** Only verified backups count for retention, health and restore. */
    status: "verified" | "failed";
    /** Why it failed. */
    reason?: string;
    /** schedule, catch-up, manual, pre-restore or imported. */
    trigger?: string;
    /** When the dump started: the moment its data is from. */
    startedAt: string;
    finishedAt?: string;
    sizeBytes?: number;
    durationMs?: number;
    /** Of the file as written; a file that no longer matches is corrupt. */
    sha256?: string;
    /** What the verification restore found. */
    check?: BackupCheck;
    /** When the last verification ran (a re-verify updates it). */
    verifiedAt?: string;
}

export interface BackupCheck {
    /** Number of user tables. */
    tables: number;
    /** Exact row counts of the largest tables (Postgres: at the dump's snapshot). */
    counted: { schema?: string; table: string; rows: number }[];
    /** SQLite: the result of PRAGMA integrity_check. */
    integrity?: string;
}

export interface Keep {
    readonly days: number;
    readonly weeks: number;
    readonly months: number;
}

export interface RetentionDecision {
    name: string;
    keep: boolean;
    /** Why it is kept (empty when it is pruned). */
    reasons: string[];
}

export interface TargetHealth {
    target: string;
    ok: boolean;
    lastVerified: { name: string; startedAt: string; ageSeconds: number } | null;
    lastAttempt: { name: string; status: "verified" | "failed"; reason?: string } | null;
    problem?: string;
}

export interface Health {
    ok: boolean;
    staleAfterSeconds: number;
    targets: TargetHealth[];
}

export const MAX_PERIOD_SECONDS: number;
export const MANIFEST_VERSION: number;
export const SCRATCH_DATABASE: RegExp;
export function parseCron(expression: string): Cron;
export function nextRun(cron: Cron, after: Date): Date | undefined;
export function periodSeconds(cron: Cron): number;
export function staleAfterSeconds(cron: Cron): number;
export function scheduleProblem(expression: string): string | undefined;
export function stamp(date: Date): string;
export function isSafeName(name: string): boolean;
export function backupName(target: { id: string; kind: "postgres" | "sqlite" }, date: Date, taken: Set<string>): string;
export function scratchDatabaseName(purpose: "verify" | "restore", date: Date): string;
export function parseManifest(text: string | undefined): { entries: ManifestEntry[]; problems: string[] };
export function serializeManifest(entries: ManifestEntry[]): string;
export function isoWeek(d: Date): string;
export function planRetention(entries: ManifestEntry[], now: Date, keep: Keep): RetentionDecision[];
export function restoreDefault(entries: ManifestEntry[], target?: string): ManifestEntry | undefined;
export function healthOf(input: { entries: ManifestEntry[]; targets: string[]; now: Date; staleAfterSeconds: number; running?: string }): Health;
export function formatAge(seconds: number): string;
export function formatSize(bytes: number): string;
/** Why a restore's tables and row counts differ from the backup's record; undefined when they match. */
export function compareChecks(expected: BackupCheck | undefined, actual: BackupCheck): string | undefined;

/** The agent's status as Prometheus text (its /metrics). */
export function metricsText(status: {
    ok: boolean;
    staleAfterSeconds: number;
    problem?: string;
    targets: { target: string; ok: boolean; lastVerified: { ageSeconds: number } | null }[];
    offsite?: { ok: boolean; target: string; ageSeconds?: number | null } | null;
    offsiteWal?: { ok: boolean; target: string; ageSeconds?: number | null; staleAfterSeconds: number } | null;
    pitrProof?: { label: string; ok: boolean; ageSeconds: number } | null;
}): string;

/** The newest pgBackRest proof recorded in the repository's opsbook-proofs.json, or undefined. */
export function newestProof(text: string | undefined, now: Date): { label: string; ok: boolean; provenAt: string; ageSeconds: number; problem?: string } | undefined;
