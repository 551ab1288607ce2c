// The audit trail of a stack's procedures, kept by the stack's own swarm: one swarm config per
// entry, labelled with the stack. Why there: every stack has a swarm (not every stack has
// Postgres: market-watchdog has none), the swarm keeps configs in its Raft log, replicated to
// every manager and encrypted at rest, whichever machine ran the CLI; a config is immutable once
// created, so an entry cannot be edited afterwards, only removed (which needs `docker config rm`
// of that entry by name); and creating one is a single API call with the entry on stdin. Entries
// are not Pulumi resources, so `pulumi destroy` and a redeploy keep the trail.
import * as crypto from "node:crypto";
import * as os from "node:os";
import { LABEL_COMPONENT, LABEL_PROJECT, LABEL_STACK, StackIdentity, engineName } from "../components/naming";
import { looksLikeSecretName } from "../components/spec";
import { Engine } from "./engine";

/** The `opsbook.component` label of audit entries. */
export const AUDIT_COMPONENT = "audit";

export interface AuditEntry {
    /** When the procedure started (ISO 8601, UTC). */
    readonly at: string;
    /** Who ran it: the local user and host (`OPSBOOK_AUDIT_USER` overrides, e.g. in CI). */
    readonly who: string;
    readonly stack: string;
    readonly procedure: string;
    /** Its arguments, with any secret-looking one left out. */
    readonly args: Readonly<Record<string, string | boolean>>;
    readonly result: "ok" | "failed";
    /** Why it failed (first line, no secret: the CLI never holds one). */
    readonly error?: string;
    readonly durationMs: number;
}

/** Arguments as recorded: a name that looks like a secret's keeps its key, never its value. */
export function auditArgs(args: Record<string, string | boolean | undefined>): Record<string, string | boolean> {
    const out: Record<string, string | boolean> = {};
    for (const [key, value] of Object.entries(args)) {
        if (value === undefined) {
            continue;
        }
        out[key] = looksLikeSecretName(key.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()) ? "[left out]" : value;
    }
    return out;
}

export function currentUser(): string {
    return process.env.OPSBOOK_AUDIT_USER || `${os.userInfo().username}@${os.hostname()}`;
}

/**
 * The engine name of an entry: sortable by time, unique, and short enough for the engine's
 * 64-character limit on config names whatever the stack is called.
 */
export function auditEntryName(identity: StackIdentity, at: Date): string {
    const stamp = at.toISOString().replace(/[-:]/g, "").replace(".", "");
    return `${engineName(identity, "audit").slice(0, 36)}-${stamp}-${crypto.randomBytes(3).toString("hex")}`;
}

export async function recordAudit(engine: Engine, identity: StackIdentity, entry: AuditEntry): Promise<string> {
    const name = auditEntryName(identity, new Date(entry.at));
    const labels = { [LABEL_PROJECT]: identity.project, [LABEL_STACK]: identity.stack, [LABEL_COMPONENT]: AUDIT_COMPONENT };
    await engine.dockerOk(["config", "create", ...Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]), name, "-"], `${JSON.stringify(entry)}\n`);
    return name;
}

/** The stack's audit entries, newest first. */
export async function listAudit(engine: Engine, identity: StackIdentity): Promise<AuditEntry[]> {
    const ids = (
        await engine.dockerOk(["config", "ls", "--filter", `label=${LABEL_STACK}=${identity.stack}`, "--filter", `label=${LABEL_COMPONENT}=${AUDIT_COMPONENT}`, "-q"])
    )
        .split("\n")
        .filter(Boolean);
    if (ids.length === 0) {
        return [];
    }
    const res = await engine.docker(["config", "inspect", ...ids]);
    const configs = JSON.parse(res.stdout || "[]") as { Spec: { Labels?: Record<string, string>; Data: string } }[];
    const entries = configs
        .filter((c) => c.Spec.Labels?.[LABEL_PROJECT] === identity.project)
        .map((c) => JSON.parse(Buffer.from(c.Spec.Data, "base64").toString("utf8")) as AuditEntry);
    return entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
}
