// Types of offsitePlan.js for the TypeScript side (components/offsitePlan.ts, unit tests).
import type { ManifestEntry } from "./plan";

export interface OffsiteTarget {
    user: string;
    hostname: string;
    port: number;
    /** Absolute directory on the off-site host that holds the restic repository. */
    path: string;
    /** restic's name for it: `sftp:user@host:/path`. */
    repository: string;
    /** The target as people write it (`sftp://user@host[:port]/path`). */
    display: string;
}

export interface OffsiteStatus {
    target: string;
    lastAttemptAt?: string;
    lastCopyAt?: string;
    lastSnapshot?: string;
    lastError?: string | null;
    lastErrorAt?: string;
    durationMs?: number;
    bytesAdded?: number;
    bytesProcessed?: number;
    filesProcessed?: number;
    checkedAt?: string;
}

export const KEYS: { readonly target: string; readonly knownHosts: string; readonly sshKey: string; readonly encryptionKey: string; readonly walEverySeconds: string; readonly repositoryKey: string };
export const TAGS: { readonly location: string; readonly wal: string };
export const WAL_EVERY_LIMITS: { readonly min: number; readonly max: number };
export function walForgetArgs(): string[];
export function defaultWalEverySeconds(archiveTimeoutSeconds: number): number;
export function walStaleAfterSeconds(everySeconds: number): number;
export function walShippingHealth(status: { lastShippedAt?: string; lastError?: string | null } | undefined, now: Date, everySeconds: number): { ok: boolean; ageSeconds: number | null; staleAfterSeconds: number; problem?: string };
export function systemTag(systemId: string): string;
export function pickRepositorySnapshot(snapshots: { id: string; time: string; tags?: string[] | null }[], ownSystemId: string | undefined): { id: string; time: string; systemId: string; shipped: boolean } | { problem: string };
export const MIN_ENCRYPTION_KEY_LENGTH: number;
export function parseOffsiteTarget(value: string): OffsiteTarget | { error: string };
export function sshKeyProblem(text: string | undefined): string | undefined;
export function encryptionKeyProblem(text: string | undefined): string | undefined;
export function sshOptions(opts: { port: number; keyFile: string; knownHostsFile: string; keyType?: string }): string[];
export function sftpCommand(target: OffsiteTarget, files: { keyFile: string; knownHostsFile: string; keyType?: string }): string;
export function knownHostsKeyType(line: string): string | undefined;
export function offsiteFailure(stderr: string, target: OffsiteTarget): string;
export function forgetArgs(keep: { days: number; weeks: number; months: number }): string[];
export function offsiteHealth(status: OffsiteStatus | undefined, now: Date, staleAfterSeconds: number): { ok: boolean; ageSeconds: number | null; problem?: string };
export function planFetch(snapshots: { id: string; time: string; entries: ManifestEntry[] }[], localNames: Set<string>, name?: string): { entry: ManifestEntry; snapshot: string }[];

/** The vanished paths when every error of a restic backup (exit 3) is a file gone before it was read, else undefined. */
export function onlyVanishedFiles(output: string, exists: (path: string) => boolean): string[] | undefined;

/** The JSON messages of a line-per-message output (restic --json). */
export function jsonLines(text: string): any[];
