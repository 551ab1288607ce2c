#!/usr/bin/env node
// @ts-check
// opsbook backup agent. One long-running container per stack runs `serve`; operators reach the
// other commands with `docker exec <agent> backup-agent <command>` (npm run backup does that).
//
//   serve                          back up on BACKUP_SCHEDULE (UTC); catch up at start when due;
//                                  GET /metrics on BACKUP_METRICS_PORT (the health verdict, ages)
//   now [--json]                   back up every target now, verify, prune; exit 1 if one failed
//   list [--json]                  backups with status, size, age; * marks the restore default
//   verify [name] [--json]         restore a stored backup into a scratch database again
//   restore [name] --confirmed [--force] [--json]
//                                  safety backup, then restore `name` (default: newest verified)
//   status                         status JSON (health, last verified backup per target, off-site copy)
//   health                         one-line status; exit 0 when every target (and the off-site copy) is fresh
//   list --offsite [--json]        the backups the off-site copy holds, by snapshot
//   fetch-offsite [name] [--json]  bring `name` (default: every verified backup missing here) back
//                                  from the off-site copy into this location; then `restore` it
//   fetch-offsite-repository [--json]
//                                  bring the pgBackRest repository of the lost database (the newest
//                                  off-site snapshot of another cluster than this stack's) back
//                                  beside the live one, as <repo>.offsite
//   swap-repository                make <repo>.offsite the live repository (the old one is kept
//                                  aside); only while Postgres is stopped (npm run backup does it)
//
// Env: BACKUP_DIR (/backups), BACKUP_SCHEDULE, BACKUP_KEEP_DAYS|WEEKS|MONTHS, BACKUP_TARGETS (JSON),
// BACKUP_POSTGRES_URL or BACKUP_POSTGRES_URL_FILE (secret), BACKUP_LOCATION (how it is shown to people),
// BACKUP_METRICS_PORT (`serve` answers GET /metrics there for the stack's Prometheus; 0: off);
// off-site (optional): BACKUP_OFFSITE_TARGET (sftp://user@host[:port]/path), BACKUP_OFFSITE_KNOWN_HOSTS
// (one line), BACKUP_OFFSITE_SSH_KEY_FILE and BACKUP_OFFSITE_PASSWORD_FILE (secret files), BACKUP_OFFSITE_HOSTNAME;
// BACKUP_PITR_REPO (the pgBackRest repository directory to make for Postgres, when PITR is on);
// BACKUP_OFFSITE_WAL_EVERY (seconds between shipments of that repository off-site, with off-site and PITR on).
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");
const plan = require("./plan");
const pg = require("./postgres");
const lite = require("./sqlite");
const { Progress, killChildren, lockHolder, readIfExists, redact, sha256File, sleep, withLock, writeFileAtomic } = require("./common");
const { readSecretEnv } = require("./secretEnv");
const offsite = require("./offsite");
const offsitePlan = require("./offsitePlan");

/**
 * @typedef {import("./plan").ManifestEntry} Entry
 * @typedef {{ id: string, kind: "postgres", database: string } | { id: string, kind: "sqlite", path: string }} Target
 */

// ---------------------------------------------------------------------------------------------
// Config

function loadConfig(env = process.env) {
    const dir = env.BACKUP_DIR || "/backups";
    const schedule = env.BACKUP_SCHEDULE || "0 3 * * *";
    const problem = plan.scheduleProblem(schedule);
    if (problem) {
        throw new Error(`BACKUP_SCHEDULE ${problem}`);
    }
    const cron = plan.parseCron(schedule);
    /** @param {string} name @param {number} fallback @param {number} min */
    const count = (name, fallback, min) => {
        const raw = env[name];
        const n = raw === undefined || raw === "" ? fallback : Number(raw);
        if (!Number.isInteger(n) || n < min) {
            throw new Error(`${name} must be an integer of at least ${min} (got ${raw})`);
        }
        return n;
    };
    const pitrRepo = env.BACKUP_PITR_REPO || undefined;
    const offsiteConfig = offsite.loadOffsiteConfig(env);
    const keep = { days: count("BACKUP_KEEP_DAYS", 7, 1), weeks: count("BACKUP_KEEP_WEEKS", 4, 0), months: count("BACKUP_KEEP_MONTHS", 6, 0) };
    /** @type {Target[]} */
    let targets;
    try {
        targets = JSON.parse(env.BACKUP_TARGETS || "[]");
    } catch {
        throw new Error("BACKUP_TARGETS must be a JSON list of targets");
    }
    if (!Array.isArray(targets) || targets.length === 0) {
        throw new Error("BACKUP_TARGETS lists nothing to back up");
    }
    for (const t of targets) {
        if (!t || !/^[a-z0-9][a-z0-9_-]*$/.test(t.id) || (t.kind === "postgres" ? typeof t.database !== "string" : t.kind !== "sqlite" || !String(t.path).startsWith("/"))) {
            throw new Error(`BACKUP_TARGETS has an invalid target: ${JSON.stringify(t)}`);
        }
    }
    const needsPostgres = targets.some((t) => t.kind === "postgres");
    const postgresUrl = needsPostgres ? readSecretEnv("BACKUP_POSTGRES_URL", env) : undefined;
    if (needsPostgres && !postgresUrl) {
        throw new Error("BACKUP_POSTGRES_URL is not set (nor BACKUP_POSTGRES_URL_FILE), and a Postgres target needs it");
    }
    const conn = needsPostgres ? pg.parseConnection(/** @type {string} */ (postgresUrl)) : undefined;
    return {
        dir,
        cron,
        periodSeconds: plan.periodSeconds(cron),
        staleAfterSeconds: plan.staleAfterSeconds(cron),
        metricsPort: count("BACKUP_METRICS_PORT", 0, 0),
        keep,
        targets,
        conn,
        location: env.BACKUP_LOCATION || dir,
        offsite: offsiteConfig,
        /** The pgBackRest repository directory to make for Postgres, when point-in-time recovery is on. */
        pitrRepo,
        /** Seconds between shipments of the pgBackRest repository off-site (0: not shipped: no off-site target or no PITR). */
        walEverySeconds: offsiteConfig && pitrRepo ? count("BACKUP_OFFSITE_WAL_EVERY", 60, offsitePlan.WAL_EVERY_LIMITS.min) : 0,
    };
}

/** @typedef {ReturnType<typeof loadConfig>} Config */

// ---------------------------------------------------------------------------------------------
// The backup location: backup files, manifest.json (the record) and status.json (the last status)

const RESERVED = new Set(["manifest.json", "status.json", "lost+found", offsite.STATUS_FILE, offsite.WAL_STATUS_FILE]);

/** How soon a target without a recent verified backup is tried again. */
const RETRY_MS = 10 * 60_000;

/** @param {Config} cfg */
function readManifest(cfg) {
    return plan.parseManifest(readIfExists(path.join(cfg.dir, "manifest.json")));
}

/** @param {Config} cfg @param {Entry[]} entries */
function writeManifest(cfg, entries) {
    writeFileAtomic(path.join(cfg.dir, "manifest.json"), plan.serializeManifest(entries));
}

/** Files in the location the manifest does not know: listed, never pruned, restorable only with --force. @param {Config} cfg @param {Entry[]} entries */
function unknownFiles(cfg, entries) {
    const known = new Set(entries.map((e) => e.name));
    return fs
        .readdirSync(cfg.dir)
        .filter((f) => !known.has(f) && !RESERVED.has(f) && !f.startsWith(".") && !f.includes(".partial") && !f.includes(".tmp-") && !/\.corrupt-/.test(f))
        .filter((f) => plan.isSafeName(f) && fs.statSync(path.join(cfg.dir, f)).isFile());
}

/** A manifest that cannot be read is set aside (never deleted) and a new one started. @param {Config} cfg @param {Progress} progress */
function loadManifestForWrite(cfg, progress) {
    try {
        const { entries, problems } = readManifest(cfg);
        problems.forEach((p) => progress.step(`manifest: skipped ${p}`));
        return entries;
    } catch (err) {
        const aside = path.join(cfg.dir, `manifest.corrupt-${plan.stamp(new Date())}.json`);
        fs.renameSync(path.join(cfg.dir, "manifest.json"), aside);
        progress.step(`manifest: ${/** @type {Error} */ (err).message}; set aside as ${path.basename(aside)}, starting a new one (old backup files stay, listed as not in the manifest)`);
        return [];
    }
}

// ---------------------------------------------------------------------------------------------
// Back up, verify, prune

/** @param {Target} t */
function describe(t) {
    return t.kind === "postgres" ? `postgres ${t.database}` : `sqlite ${t.path}`;
}

/**
 * Verifies `file` for `entry.kind`; returns the check and, when it failed, why.
 * @param {Config} cfg @param {Entry} entry @param {string} file @param {Progress} progress
 * @returns {Promise<{ check?: import("./plan").BackupCheck, problem?: string }>}
 */
async function verifyFile(cfg, entry, file, progress) {
    try {
        if (entry.kind === "postgres") {
            const scratch = plan.scratchDatabaseName("verify", new Date());
            progress.step(`${entry.name}: verify: pg_restore into ${scratch}, compare, drop`);
            return await pg.verify(/** @type {any} */ (cfg.conn), file, entry.check, scratch);
        }
        progress.step(`${entry.name}: verify: integrity_check and row counts`);
        return await lite.verify(file, entry.check);
    } catch (err) {
        return { problem: redact(/** @type {Error} */ (err).message) };
    }
}

/**
 * One backup of one target: dump, checksum, verify, record. Never throws for a failed backup:
 * the failure is recorded (and returned) as an entry with its reason. Call with the lock held.
 * @param {Config} cfg @param {Target} target @param {string} trigger @param {Progress} progress
 * @returns {Promise<Entry>}
 */
async function backupTarget(cfg, target, trigger, progress) {
    const started = new Date();
    const entries = loadManifestForWrite(cfg, progress);
    const name = plan.backupName(target, started, new Set([...entries.map((e) => e.name), ...fs.readdirSync(cfg.dir)]));
    const file = path.join(cfg.dir, name);
    const partial = `${file}.partial`;
    /** @type {Entry} */
    const entry = { name, target: target.id, kind: target.kind, status: "failed", trigger, startedAt: started.toISOString() };
    progress.step(`${describe(target)}: backing up to ${name} (${trigger})`);
    try {
        if (target.kind === "postgres") {
            entry.check = await pg.dump(/** @type {any} */ (cfg.conn), target.database, partial, (s) => progress.step(`${name}: ${s}`));
        } else {
            await lite.dump(target.path, partial);
        }
        entry.sizeBytes = fs.statSync(partial).size;
        entry.sha256 = await sha256File(partial);
        progress.step(`${name}: written, ${plan.formatSize(entry.sizeBytes)}`);
        const { check, problem } = await verifyFile(cfg, entry, partial, progress);
        entry.check = target.kind === "sqlite" ? check : entry.check;
        entry.verifiedAt = new Date().toISOString();
        if (problem) {
            entry.reason = `verification failed: ${problem}`;
        } else {
            entry.status = "verified";
        }
        // Only a finished file gets its final name, so `list` never shows one half-way.
        fs.renameSync(partial, file);
    } catch (err) {
        fs.rmSync(partial, { force: true });
        entry.reason = redact(/** @type {Error} */ (err).message);
    }
    entry.finishedAt = new Date().toISOString();
    entry.durationMs = Date.now() - started.getTime();
    if (entry.status === "failed") {
        // A failed entry keeps no checksum: nothing may treat its file as good.
        delete entry.sha256;
    }
    writeManifest(cfg, [entry, ...loadManifestForWrite(cfg, progress).filter((e) => e.name !== entry.name)]);
    progress.step(`${name}: ${entry.status === "verified" ? "VERIFIED" : "FAILED"}${entry.reason ? `: ${entry.reason}` : ""} (${(entry.durationMs / 1000).toFixed(1)}s)`);
    return entry;
}

/** Applies retention; returns the names removed. @param {Config} cfg @param {Progress} progress */
function prune(cfg, progress) {
    const entries = loadManifestForWrite(cfg, progress);
    const decisions = plan.planRetention(entries, new Date(), cfg.keep);
    const drop = new Set(decisions.filter((d) => !d.keep).map((d) => d.name));
    if (drop.size === 0) {
        return [];
    }
    // Record first, then delete: a crash in between leaves unknown files (kept), never entries
    // that point at nothing.
    writeManifest(cfg, entries.filter((e) => !drop.has(e.name)));
    for (const name of drop) {
        fs.rmSync(path.join(cfg.dir, name), { force: true });
        progress.step(`pruned ${name} (outside ${cfg.keep.days} days / ${cfg.keep.weeks} weeks / ${cfg.keep.months} months)`);
    }
    return [...drop];
}

/** @param {Config} cfg */
function statusOf(cfg) {
    const now = new Date();
    /** @type {Entry[]} */
    let entries = [];
    let manifestProblem;
    try {
        entries = readManifest(cfg).entries;
    } catch (err) {
        manifestProblem = /** @type {Error} */ (err).message;
    }
    const holder = lockHolder();
    const health = plan.healthOf({ entries, targets: cfg.targets.map((t) => t.id), now, staleAfterSeconds: cfg.staleAfterSeconds });
    const copy = cfg.offsite ? offsiteStatusOf(cfg, now) : undefined;
    const shipped = cfg.offsite && cfg.walEverySeconds > 0 ? walStatusOf(cfg, now) : undefined;
    let pitrProof;
    if (cfg.pitrRepo) {
        try {
            pitrProof = plan.newestProof(readIfExists(path.join(cfg.pitrRepo, PITR_PROOFS_FILE)), now);
        } catch {
            // Unreadable proofs are no verdict: `npm run backup -- status` reads them from Postgres's side.
        }
    }
    return {
        // The shipped repository's verdict is reported (status, /metrics, the OffsiteWalStale
        // alert) but is not part of the agent's health: that gates the first deploy, which must
        // not wait for Postgres's stanza, and Swarm restarting the agent would not ship sooner.
        ok: health.ok && !manifestProblem && (copy === undefined || copy.ok),
        checkedAt: now.toISOString(),
        location: cfg.location,
        schedule: cfg.cron.source,
        nextRunAt: plan.nextRun(cfg.cron, now)?.toISOString() ?? null,
        periodSeconds: cfg.periodSeconds,
        staleAfterSeconds: cfg.staleAfterSeconds,
        keep: cfg.keep,
        running: holder ? { what: holder.what, since: holder.since } : null,
        ...(manifestProblem ? { problem: manifestProblem } : {}),
        targets: health.targets,
        offsite: copy ?? null,
        ...(shipped ? { offsiteWal: shipped } : {}),
        ...(cfg.pitrRepo ? { pitrProof: pitrProof ?? null } : {}),
    };
}

/** The off-site copy's status as `status` and `health` show it. @param {Config} cfg @param {Date} now */
function offsiteStatusOf(cfg, now) {
    const oc = /** @type {NonNullable<Config["offsite"]>} */ (cfg.offsite);
    const recorded = offsite.readStatus(cfg.dir);
    const current = recorded && recorded.target === oc.target.display ? recorded : undefined;
    const verdict = offsitePlan.offsiteHealth(current, now, cfg.staleAfterSeconds);
    return {
        ok: verdict.ok,
        target: oc.target.display,
        lastCopyAt: current?.lastCopyAt ?? null,
        ageSeconds: verdict.ageSeconds,
        lastSnapshot: current?.lastSnapshot ?? null,
        lastAttemptAt: current?.lastAttemptAt ?? null,
        lastError: current?.lastError ?? null,
        durationMs: current?.durationMs ?? null,
        bytesProcessed: current?.bytesProcessed ?? null,
        bytesAdded: current?.bytesAdded ?? null,
        ...(verdict.problem ? { problem: verdict.problem } : {}),
    };
}

/** The shipped pgBackRest repository's status as `status`, `health` and /metrics show it. @param {Config} cfg @param {Date} now */
function walStatusOf(cfg, now) {
    const oc = /** @type {NonNullable<Config["offsite"]>} */ (cfg.offsite);
    const recorded = offsite.readWalStatus(cfg.dir);
    const current = recorded && recorded.target === oc.target.display ? recorded : undefined;
    const verdict = offsitePlan.walShippingHealth(current, now, cfg.walEverySeconds);
    return {
        ok: verdict.ok,
        target: oc.target.display,
        everySeconds: cfg.walEverySeconds,
        staleAfterSeconds: verdict.staleAfterSeconds,
        lastShippedAt: current?.lastShippedAt ?? null,
        ageSeconds: verdict.ageSeconds,
        lastSnapshot: current?.lastSnapshot ?? null,
        systemId: current?.systemId ?? null,
        durationMs: current?.durationMs ?? null,
        bytesAdded: current?.bytesAdded ?? null,
        lastError: current?.lastError ?? null,
        ...(verdict.problem ? { problem: verdict.problem } : {}),
    };
}

/** The Postgres cluster's system identifier, or undefined when it cannot be read now (the server is down). @param {Config} cfg */
async function systemIdOf(cfg) {
    if (!cfg.conn || !cfg.pitrRepo) {
        return undefined;
    }
    return pg.systemIdentifier(cfg.conn).catch(() => undefined);
}

/** Copies the location off-site when the stack has an off-site target. Call with the lock held. @param {Config} cfg @param {Progress} progress */
async function copyOffsite(cfg, progress) {
    if (!cfg.offsite) {
        return undefined;
    }
    const result = await offsite.copyOffsite(cfg.offsite, cfg, (s) => progress.step(s), await systemIdOf(cfg));
    writeStatus(cfg);
    return result;
}

/** Where Postgres's `pitr` records each pgBackRest backup's proof, in the repository (images/postgres/pitr.sh). */
const PITR_PROOFS_FILE = "opsbook-proofs.json";

/** @param {Config} cfg */
function writeStatus(cfg) {
    writeFileAtomic(path.join(cfg.dir, "status.json"), `${JSON.stringify(statusOf(cfg), null, 2)}\n`);
}

/** Backs up every target (or one), then prunes. Call with the lock held. @param {Config} cfg @param {string} trigger @param {Progress} progress @param {Target[]} [only] */
async function runAll(cfg, trigger, progress, only) {
    const results = [];
    for (const target of only ?? cfg.targets) {
        results.push(await backupTarget(cfg, target, trigger, progress));
    }
    const pruned = prune(cfg, progress);
    writeStatus(cfg);
    // Every run ends with the off-site copy of what is now in the location (verified backups,
    // failed ones for diagnosis, the manifest), pruned by the same retention.
    const offsiteResult = await copyOffsite(cfg, progress);
    return { results, pruned, offsite: offsiteResult };
}

// ---------------------------------------------------------------------------------------------
// Commands

/** @param {string[]} args */
function flags(args) {
    return { json: args.includes("--json"), force: args.includes("--force"), confirmed: args.includes("--confirmed"), rest: args.filter((a) => !a.startsWith("--")) };
}

/** @param {unknown} value */
function printJson(value) {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** @param {Entry} e */
function checkSummary(e) {
    if (e.status === "failed") {
        return e.reason ?? "";
    }
    const largest = e.check?.counted[0];
    const tables = `${e.check?.tables ?? "?"} tables`;
    return largest ? `${tables}; ${largest.schema ? `${largest.schema}.` : ""}${largest.table} ${largest.rows.toLocaleString("en-US")} rows` : tables;
}

/** @param {Config} cfg @param {string[]} args */
async function cmdNow(cfg, args) {
    const f = flags(args);
    const progress = new Progress();
    const only = f.rest.length > 0 ? cfg.targets.filter((t) => f.rest.includes(t.id)) : undefined;
    if (only && only.length === 0) {
        throw new Error(`no target named ${f.rest.join(", ")}; targets: ${cfg.targets.map((t) => t.id).join(", ")}`);
    }
    const { results, pruned, offsite: copied } = await withLock("backup (now)", 60 * 60_000, progress, () => runAll(cfg, "manual", progress, only));
    if (f.json) {
        printJson({ backups: results, pruned, offsite: copied ?? null });
    } else {
        for (const e of results) {
            const size = e.sizeBytes !== undefined ? plan.formatSize(e.sizeBytes) : "-";
            process.stdout.write(`${e.status === "verified" ? "verified" : "FAILED  "}  ${e.name}  ${size} in ${((e.durationMs ?? 0) / 1000).toFixed(1)}s  ${checkSummary(e)}\n`);
        }
        for (const name of pruned) {
            process.stdout.write(`pruned    ${name}\n`);
        }
        if (copied) {
            process.stdout.write(
                copied.lastError
                    ? `off-site  FAILED: ${copied.lastError}\n`
                    : `off-site  ${copied.target} snapshot ${copied.lastSnapshot}: ${plan.formatSize(copied.bytesProcessed ?? 0)}, ${plan.formatSize(copied.bytesAdded ?? 0)} sent, in ${((copied.durationMs ?? 0) / 1000).toFixed(1)}s (checked)\n`,
            );
        }
    }
    return results.every((e) => e.status === "verified") && !copied?.lastError ? 0 : 1;
}

/** The off-site copy's backups. @param {Config} cfg @param {{ json: boolean }} f */
async function cmdListOffsite(cfg, f) {
    if (!cfg.offsite) {
        throw new Error(`the stack has no off-site copy; set \`${offsitePlan.KEYS.target}\` (README, "Off-site copies")`);
    }
    const listed = await offsite.listOffsite(cfg.offsite, cfg);
    if (f.json) {
        printJson(listed);
        return 0;
    }
    const out = [`Off-site copy at ${listed.target}: ${listed.snapshots.length} snapshot(s), newest ${listed.snapshots[0]?.time ?? "-"}`];
    for (const b of listed.backups) {
        out.push(`  ${b.name}  ${b.status}  ${b.sizeBytes === undefined ? "-" : plan.formatSize(b.sizeBytes)}  snapshot ${b.snapshot}  ${b.status === "verified" ? checkSummary(b) : b.reason ?? ""}`);
    }
    process.stdout.write(`${out.join("\n")}\n`);
    return 0;
}

/** @param {Config} cfg @param {string[]} args */
async function cmdFetchOffsite(cfg, args) {
    const f = flags(args);
    if (!cfg.offsite) {
        throw new Error(`the stack has no off-site copy to fetch from; set \`${offsitePlan.KEYS.target}\`, \`${offsitePlan.KEYS.knownHosts}\`, ${offsitePlan.KEYS.sshKey} and ${offsitePlan.KEYS.encryptionKey} as they were, and deploy`);
    }
    const oc = cfg.offsite;
    const progress = new Progress();
    const result = await withLock("fetch from off-site", 60 * 60_000, progress, async () => {
        const r = await offsite.fetchOffsite(oc, cfg, f.rest[0], (s) => progress.step(s));
        writeStatus(cfg);
        return r;
    });
    // The newest fetched backup of each target: what `restore --from-offsite` restores by default.
    const newestByTarget = new Map();
    for (const e of result.fetched) {
        if (e.status === "verified" && !newestByTarget.has(e.target)) {
            newestByTarget.set(e.target, e.name);
        }
    }
    const out = { ...result, restoreCandidates: [...newestByTarget.values()] };
    if (f.json) {
        printJson(out);
    } else {
        process.stdout.write(
            [
                `fetched   ${result.fetched.length} backup(s) from ${result.target} (${plan.formatSize(result.bytes)} in ${(result.durationMs / 1000).toFixed(1)}s)`,
                ...result.fetched.map((e) => `          ${e.name}  ${e.status}  snapshot ${e.snapshot}`),
                ...result.directories.map((d) => `          ${d}/ (directory)`),
            ].join("\n") + "\n",
        );
    }
    return 0;
}

/** @param {Config} cfg @param {string[]} args */
function cmdList(cfg, args) {
    const f = flags(args);
    const { entries, problems } = readManifest(cfg);
    const now = Date.now();
    const defaults = new Set(cfg.targets.map((t) => plan.restoreDefault(entries, t.id)?.name).filter(Boolean));
    const rows = [
        ...[...entries]
            .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))
            .map((e) => ({
                name: e.name,
                target: e.target,
                kind: e.kind,
                status: e.status,
                sizeBytes: e.sizeBytes ?? null,
                startedAt: e.startedAt,
                ageSeconds: Math.round((now - Date.parse(e.startedAt)) / 1000),
                durationMs: e.durationMs ?? null,
                trigger: e.trigger ?? null,
                check: e.check ?? null,
                reason: e.reason ?? null,
                restoreDefault: defaults.has(e.name),
                inManifest: true,
            })),
        ...unknownFiles(cfg, entries).map((name) => {
            const st = fs.statSync(path.join(cfg.dir, name));
            return {
                name,
                target: null,
                kind: name.endsWith(".dump") ? "postgres" : name.endsWith(".db") ? "sqlite" : null,
                status: "unverified",
                sizeBytes: st.size,
                startedAt: st.mtime.toISOString(),
                ageSeconds: Math.round((now - st.mtimeMs) / 1000),
                durationMs: null,
                trigger: null,
                check: null,
                reason: "not in the manifest; run `verify <name>` to check it",
                restoreDefault: false,
                inManifest: false,
            };
        }),
    ];
    if (f.json) {
        printJson({ location: cfg.location, schedule: cfg.cron.source, keep: cfg.keep, staleAfterSeconds: cfg.staleAfterSeconds, backups: rows, problems });
        return 0;
    }
    const out = [
        `Backups in ${cfg.location} (schedule \`${cfg.cron.source}\` UTC; keep ${cfg.keep.days} days, ${cfg.keep.weeks} weeks, ${cfg.keep.months} months)`,
    ];
    if (rows.length === 0) {
        out.push("  none yet: run `now` to take one");
    } else {
        const table = rows.map((r) => [
            r.restoreDefault ? "*" : " ",
            r.name,
            r.status === "failed" ? "FAILED" : r.status,
            r.sizeBytes === null ? "-" : plan.formatSize(r.sizeBytes),
            plan.formatAge(r.ageSeconds),
            r.trigger ?? "-",
            r.status === "verified" ? checkSummary(/** @type {Entry} */ (entries.find((e) => e.name === r.name))) : r.reason ?? "",
        ]);
        const header = [" ", "NAME", "STATUS", "SIZE", "AGE", "TRIGGER", "CHECK / REASON"];
        const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
        for (const row of [header, ...table]) {
            out.push(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ").trimEnd());
        }
        out.push("* = restore default (the newest verified backup of its target)");
    }
    problems.forEach((p) => out.push(`manifest problem: ${p}`));
    process.stdout.write(`${out.join("\n")}\n`);
    return 0;
}

/**
 * Finds a stored backup by name; a file the manifest does not know becomes an `imported` entry.
 * @param {Config} cfg @param {string} name @param {Progress} progress
 */
function findBackup(cfg, name, progress) {
    if (!plan.isSafeName(name)) {
        throw new Error(`\`${name}\` is not a backup name; run \`list\` to see them`);
    }
    const entries = loadManifestForWrite(cfg, progress);
    const known = entries.find((e) => e.name === name);
    if (known) {
        return known;
    }
    const file = path.join(cfg.dir, name);
    if (!fs.existsSync(file)) {
        throw new Error(`no backup named ${name} in ${cfg.location}; run \`list\` to see them`);
    }
    const kind = name.endsWith(".dump") ? "postgres" : name.endsWith(".db") ? "sqlite" : undefined;
    const target = cfg.targets.find((t) => name.startsWith(`${t.id}-`)) ?? cfg.targets.filter((t) => t.kind === kind)[0];
    if (!kind || !target) {
        throw new Error(`cannot tell which database ${name} belongs to: name it <target>-<stamp>.dump (Postgres) or .db (SQLite); targets: ${cfg.targets.map((t) => t.id).join(", ")}`);
    }
    /** @type {Entry} */
    const entry = { name, target: target.id, kind, status: "failed", reason: "not verified yet", trigger: "imported", startedAt: fs.statSync(file).mtime.toISOString() };
    return entry;
}

/**
 * Verifies a stored backup again (the runbooks' periodic restore test): its checksum must match
 * what was written, and it must restore and hold what it held. The result replaces its status.
 * @param {Config} cfg @param {Entry} entry @param {Progress} progress
 */
async function reverify(cfg, entry, progress) {
    const file = path.join(cfg.dir, entry.name);
    const started = Date.now();
    const updated = { ...entry };
    let problem;
    if (!fs.existsSync(file)) {
        problem = "the file is missing";
    } else {
        const sha = await sha256File(file);
        updated.sizeBytes = fs.statSync(file).size;
        if (entry.sha256 && entry.sha256 !== sha) {
            problem = "the file changed since it was written (sha256 mismatch): it is corrupt";
        } else {
            const result = await verifyFile(cfg, entry, file, progress);
            problem = result.problem;
            if (!entry.check && result.check) {
                updated.check = result.check;
            }
            if (!problem) {
                updated.sha256 = sha;
            }
        }
    }
    updated.verifiedAt = new Date().toISOString();
    if (problem) {
        updated.status = "failed";
        updated.reason = `verification failed: ${problem}`;
        delete updated.sha256;
    } else {
        updated.status = "verified";
        delete updated.reason;
        if (entry.trigger === "imported") {
            updated.durationMs = Date.now() - started;
        }
    }
    writeManifest(cfg, [updated, ...loadManifestForWrite(cfg, progress).filter((e) => e.name !== updated.name)]);
    progress.step(`${updated.name}: ${updated.status === "verified" ? "VERIFIED" : "FAILED"}${updated.reason ? `: ${updated.reason}` : ""}`);
    return updated;
}

/** @param {Config} cfg @param {string[]} args */
async function cmdVerify(cfg, args) {
    const f = flags(args);
    const progress = new Progress();
    const result = await withLock("verify", 60 * 60_000, progress, async () => {
        const name = f.rest[0] ?? plan.restoreDefault(readManifest(cfg).entries)?.name;
        if (!name) {
            throw new Error("no verified backup to verify; name one (see `list`)");
        }
        const entry = await reverify(cfg, findBackup(cfg, name, progress), progress);
        writeStatus(cfg);
        return entry;
    });
    if (f.json) {
        printJson(result);
    } else {
        process.stdout.write(`${result.status === "verified" ? "verified" : "FAILED  "}  ${result.name}  ${checkSummary(result)}\n`);
    }
    return result.status === "verified" ? 0 : 1;
}

/** @param {Config} cfg @param {string[]} args */
async function cmdRestore(cfg, args) {
    const f = flags(args);
    if (!f.confirmed) {
        throw new Error("restore replaces live data: run it through `npm run backup -- restore`, which asks for confirmation (or pass --confirmed)");
    }
    const progress = new Progress();
    const result = await withLock("restore", 60 * 60_000, progress, async () => {
        const entries = readManifest(cfg).entries;
        let name = f.rest[0];
        if (!name) {
            const defaults = cfg.targets.map((t) => plan.restoreDefault(entries, t.id)).filter((e) => e !== undefined);
            if (defaults.length !== 1) {
                throw new Error(
                    defaults.length === 0 ? "there is no verified backup to restore" : `name the backup to restore; the newest verified ones are ${defaults.map((e) => e?.name).join(", ")}`,
                );
            }
            name = /** @type {Entry} */ (defaults[0]).name;
        }
        const entry = findBackup(cfg, name, progress);
        const target = cfg.targets.find((t) => t.id === entry.target);
        if (!target) {
            throw new Error(`${name} belongs to ${entry.target}, which this stack no longer backs up`);
        }
        const file = path.join(cfg.dir, entry.name);
        if (entry.status !== "verified" && !f.force) {
            throw new Error(`${name} is not a verified backup (${entry.reason ?? entry.status}); nothing was changed. Pick a verified one (see \`list\`) or pass --force`);
        }
        if (!fs.existsSync(file)) {
            throw new Error(`${name} is listed but its file is missing from ${cfg.location}; nothing was changed`);
        }
        progress.step(`${name}: checking its sha256 against the manifest`);
        if (entry.sha256 && (await sha256File(file)) !== entry.sha256) {
            if (!f.force) {
                throw new Error(`${name} changed since it was verified (sha256 mismatch): it is corrupt; nothing was changed. Pick another backup (see \`list\`)`);
            }
            progress.step(`${name}: sha256 mismatch, restoring anyway (--force)`);
        }
        const safety = await backupTarget(cfg, target, "pre-restore", progress);
        if (safety.status !== "verified") {
            if (!f.force) {
                throw new Error(`the safety backup before the restore failed (${safety.reason}); nothing was changed. Fix that, or pass --force to restore without one`);
            }
            progress.step("the safety backup failed; restoring anyway (--force)");
        }
        const when = new Date();
        let previous;
        let check;
        if (target.kind === "postgres") {
            previous = `${target.database}_pre_restore_${plan.stamp(when).toLowerCase()}`;
            await pg.restoreLive(/** @type {any} */ (cfg.conn), target.database, file, entry.check, plan.scratchDatabaseName("restore", when), previous, (s) => progress.step(s));
        } else {
            progress.step(`restoring ${target.path} online from ${name} (SQLite backup API)`);
            check = await lite.restoreLive(target.path, file);
            const problem = plan.compareChecks(entry.check, check);
            if (problem) {
                progress.step(`note: the live database already differs from the backup (${problem}): the app wrote after the restore`);
            }
        }
        writeStatus(cfg);
        progress.step(`restored ${name}`);
        const into = target.kind === "postgres" ? `database ${target.database}` : `the live SQLite file ${target.path}`;
        return { restored: name, target: target.id, kind: target.kind, into, safetyBackup: safety.status === "verified" ? safety.name : null, previousDatabase: previous ?? null, check: check ?? entry.check ?? null };
    });
    if (f.json) {
        printJson(result);
    } else {
        process.stdout.write(
            [
                `restored  ${result.restored} into ${result.into}`,
                result.safetyBackup ? `safety    ${result.safetyBackup} (the data as it was just before; restore it to undo)` : "safety    none (--force)",
                ...(result.previousDatabase ? [`previous  kept as database ${result.previousDatabase}; drop it when you no longer need it`] : []),
            ].join("\n") + "\n",
        );
    }
    return 0;
}

/** @param {Config} cfg */
async function cmdFetchRepository(cfg) {
    if (!cfg.offsite || !cfg.pitrRepo) {
        throw new Error(`the stack has no off-site copy of a pgBackRest repository to fetch; set \`${offsitePlan.KEYS.target}\`, \`${offsitePlan.KEYS.knownHosts}\`, ${offsitePlan.KEYS.sshKey} and ${offsitePlan.KEYS.encryptionKey} as they were, keep \`opsbook:backups.pointInTime\` on, and deploy`);
    }
    const oc = cfg.offsite;
    const repoDir = cfg.pitrRepo;
    const progress = new Progress();
    const ownSystemId = await systemIdOf(cfg);
    if (!ownSystemId) {
        throw new Error("cannot read this stack's Postgres system identifier (is Postgres up?); it tells the lost database's repository from this stack's own; nothing was changed");
    }
    const result = await withLock("fetch repository from off-site", 60 * 60_000, progress, () => offsite.fetchRepository(oc, { dir: cfg.dir, repoDir, ownSystemId }, (s) => progress.step(s)));
    printJson({ ...result, ownSystemId });
    return 0;
}

/** @param {Config} cfg */
function cmdSwapRepository(cfg) {
    if (!cfg.pitrRepo) {
        throw new Error("the stack has no pgBackRest repository (`opsbook:backups.pointInTime` is off)");
    }
    printJson(offsite.swapRepository(cfg.pitrRepo, plan.stamp(new Date()).toLowerCase()));
    return 0;
}

/** @param {Config} cfg */
function cmdHealth(cfg) {
    const s = statusOf(cfg);
    // One short line: the engine keeps 4 KiB of health output, and the BackupSchedule resource
    // reads it back with `pulumi refresh`.
    const line = {
        ok: s.ok,
        checkedAt: s.checkedAt,
        staleAfterSeconds: s.staleAfterSeconds,
        ...(s.problem ? { problem: s.problem } : {}),
        ...(s.running ? { running: s.running.what } : {}),
        ...(s.offsite ? { offsite: { ok: s.offsite.ok, ageSeconds: s.offsite.ageSeconds, ...(s.offsite.problem ? { problem: s.offsite.problem.slice(0, 300) } : {}) } } : {}),
        ...(s.offsiteWal ? { offsiteWal: { ok: s.offsiteWal.ok, ageSeconds: s.offsiteWal.ageSeconds, ...(s.offsiteWal.problem ? { problem: s.offsiteWal.problem.slice(0, 300) } : {}) } } : {}),
        targets: s.targets.map((t) => ({
            target: t.target,
            ok: t.ok,
            lastVerified: t.lastVerified?.name ?? null,
            lastVerifiedAt: t.lastVerified?.startedAt ?? null,
            ageSeconds: t.lastVerified?.ageSeconds ?? null,
            ...(t.problem ? { problem: t.problem.slice(0, 300) } : {}),
        })),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    return s.ok ? 0 : 1;
}

/** @param {Config} cfg */
async function serve(cfg) {
    const progress = new Progress();
    let busy = false;
    let stopping = false;
    const stop = (/** @type {string} */ signal) => {
        stopping = true;
        progress.step(`${signal}: stopping${busy ? " (interrupting the running backup)" : ""}`);
        if (!busy) {
            process.exit(0);
        }
        killChildren();
        setTimeout(() => process.exit(1), 20_000).unref();
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));

    // The location must be writable by this uid before anything else is worth doing.
    const probe = path.join(cfg.dir, `.write-probe-${process.pid}`);
    try {
        fs.writeFileSync(probe, "");
        fs.rmSync(probe);
    } catch (err) {
        throw new Error(
            `cannot write to the backup location ${cfg.location} (${/** @type {NodeJS.ErrnoException} */ (err).code}) as uid ${process.getuid?.()}; ` +
                `for a host directory run: sudo install -d -o ${process.getuid?.()} -g ${process.getgid?.()} -m 0750 <dir>`,
        );
    }
    if (cfg.pitrRepo) {
        // Postgres's pgBackRest writes its repository here as a member of this uid's group: the
        // directory is group-writable and set-group-id, so what it writes stays readable by this
        // agent and by whatever copies the location off-site. Postgres cannot make it itself:
        // it does not own the location.
        fs.mkdirSync(cfg.pitrRepo, { recursive: true });
        fs.chmodSync(cfg.pitrRepo, 0o2770);
        progress.step(`pgBackRest repository directory ${cfg.pitrRepo} ready for Postgres`);
    }
    progress.step(`agent up: ${cfg.targets.map(describe).join(", ")} -> ${cfg.location}; schedule \`${cfg.cron.source}\` UTC, stale after ${plan.formatAge(cfg.staleAfterSeconds)}`);

    // The stack's Prometheus reads the same verdict `health` prints, on the data network only.
    if (cfg.metricsPort > 0) {
        http.createServer((req, res) => {
            if (req.method !== "GET" || req.url !== "/metrics") {
                res.writeHead(404).end();
                return;
            }
            try {
                res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" }).end(plan.metricsText(statusOf(cfg)));
            } catch (err) {
                res.writeHead(500).end(redact(/** @type {Error} */ (err).message));
            }
        })
            .on("error", (err) => progress.step(`metrics on :${cfg.metricsPort} unavailable: ${err.message}`))
            .listen(cfg.metricsPort);
    }

    /** @param {string} trigger @param {Target[]} [only] */
    const run = async (trigger, only) => {
        busy = true;
        try {
            return await withLock(`scheduled backup (${trigger})`, 60 * 60_000, progress, async () => {
                const r = await runAll(cfg, trigger, progress, only);
                process.stdout.write(
                    `${JSON.stringify({ ts: new Date().toISOString(), msg: "backup run", trigger, results: r.results.map((e) => ({ name: e.name, status: e.status, reason: e.reason, sizeBytes: e.sizeBytes, durationMs: e.durationMs })), pruned: r.pruned })}\n`,
                );
                return r;
            });
        } catch (err) {
            progress.step(`run failed: ${redact(/** @type {Error} */ (err).message)}`);
            return undefined;
        } finally {
            busy = false;
        }
    };

    await withLock("startup cleanup", 60 * 60_000, progress, async () => {
        for (const f of fs.readdirSync(cfg.dir).filter((n) => n.endsWith(".partial"))) {
            fs.rmSync(path.join(cfg.dir, f), { force: true });
            progress.step(`removed ${f}, left by an interrupted run`);
        }
        if (cfg.conn) {
            const dropped = await pg.dropLeftovers(cfg.conn, plan.SCRATCH_DATABASE).catch((err) => {
                progress.step(`could not look for leftover scratch databases yet: ${redact(err.message)}`);
                return [];
            });
            dropped.forEach((n) => progress.step(`dropped scratch database ${n}, left by an interrupted run`));
        }
        writeStatus(cfg);
    });

    // Fail fast and loudly: a wrong host key, a refused key or a wrong encryption key is named
    // now, in the log and in `status`/`health`, not after the first backup.
    if (cfg.offsite) {
        const oc = cfg.offsite;
        await withLock("off-site check", 60 * 60_000, progress, async () => {
            try {
                await offsite.openRepository(oc, true, (s) => progress.step(s));
                // A task stopped in the middle of a copy leaves its lock in the repository; restic
                // removes only locks it can tell are stale.
                await offsite.unlockStale(oc);
                progress.step(`off-site: ${oc.target.display} reachable, host key as configured, repository open`);
            } catch (err) {
                const message = redact(/** @type {Error} */ (err).message);
                progress.step(`OFF-SITE COPY IMPOSSIBLE: ${message}`);
                const previous = offsite.readStatus(cfg.dir);
                const status = { ...(previous && previous.target === oc.target.display ? previous : {}), target: oc.target.display, lastAttemptAt: new Date().toISOString(), lastError: message, lastErrorAt: new Date().toISOString() };
                writeFileAtomic(path.join(cfg.dir, offsite.STATUS_FILE), `${JSON.stringify(status, null, 2)}\n`);
            }
            writeStatus(cfg);
        });
    }

    // The pgBackRest repository goes off-site every walEverySeconds, beside the schedule: a host
    // loss then costs about archive_timeout + this interval of writes, not a schedule period.
    // Not under the agent's lock (a backup run holds it for minutes); restic itself lets
    // backups run side by side.
    if (cfg.offsite && cfg.pitrRepo && cfg.walEverySeconds > 0) {
        const oc = cfg.offsite;
        const repoDir = cfg.pitrRepo;
        const everyMs = cfg.walEverySeconds * 1000;
        progress.step(`off-site: shipping ${repoDir} every ${cfg.walEverySeconds} s`);
        (async () => {
            for (let n = 0; !stopping; n++) {
                const t0 = Date.now();
                const shipped = await offsite.shipRepository(
                    oc,
                    // Prune shipped snapshots about hourly; retry a locked repository for most of one interval.
                    { dir: cfg.dir, repoDir, systemId: await systemIdOf(cfg), prune: n > 0 && n % Math.max(1, Math.round(3600 / cfg.walEverySeconds)) === 0, retryForMs: Math.max(5000, everyMs - 5000) },
                    (s) => progress.step(s),
                );
                if (n === 0 && !shipped.lastError) {
                    progress.step(`off-site: repository shipped (snapshot ${shipped.lastSnapshot}, ${shipped.durationMs} ms)`);
                }
                await sleep(Math.max(1000, everyMs - (Date.now() - t0)));
            }
        })().catch((err) => progress.step(`off-site WAL shipping stopped: ${redact(/** @type {Error} */ (err).message)}`));
    }

    // A target is due when it has no verified backup younger than one period: at the first start,
    // after the host was off at the scheduled time, or after a failed run. Due targets are backed
    // up at start and then retried every RETRY_MS, so the health signal recovers within minutes
    // of the cause being fixed instead of at the next scheduled run.
    const dueTargets = () => {
        const entries = readManifest(cfg).entries;
        return cfg.targets.filter((t) => {
            const newest = plan.restoreDefault(entries, t.id);
            return !newest || Date.now() - Date.parse(newest.startedAt) > cfg.periodSeconds * 1000;
        });
    };
    let due = dueTargets();
    if (due.length > 0) {
        await run(readManifest(cfg).entries.length === 0 ? "first" : "catch-up", due);
    }
    while (!stopping) {
        due = dueTargets();
        const offsiteDue = cfg.offsite !== undefined && !offsiteStatusOf(cfg, new Date()).ok;
        const next = plan.nextRun(cfg.cron, new Date());
        if (!next) {
            throw new Error(`the schedule \`${cfg.cron.source}\` never fires again`);
        }
        const retryAt = due.length > 0 || offsiteDue ? Math.min(Date.now() + RETRY_MS, next.getTime()) : next.getTime();
        const retrying = retryAt < next.getTime();
        progress.step(
            retrying
                ? `retrying ${[...due.map(describe), ...(offsiteDue && due.length === 0 ? ["the off-site copy"] : [])].join(", ")} at ${new Date(retryAt).toISOString()} (${due.length > 0 ? "no recent verified backup" : "the off-site copy is failing or stale"})`
                : `next backup at ${next.toISOString()}`,
        );
        // Wake at least once a minute, so a clock jump or a stop request is noticed.
        while (!stopping && Date.now() < retryAt) {
            await sleep(Math.min(retryAt - Date.now(), 60_000));
        }
        if (!stopping) {
            if (retrying && due.length === 0) {
                busy = true;
                try {
                    await withLock("off-site copy (retry)", 60 * 60_000, progress, () => copyOffsite(cfg, progress));
                } catch (err) {
                    progress.step(`off-site retry failed: ${redact(/** @type {Error} */ (err).message)}`);
                } finally {
                    busy = false;
                }
            } else {
                await (retrying ? run("retry", due) : run("schedule"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

async function main() {
    const [cmd = "help", ...args] = process.argv.slice(2);
    if (cmd === "help" || cmd === "--help" || cmd === "-h") {
        const text = fs.readFileSync(__filename, "utf8").split("\n").slice(2, 24);
        process.stdout.write(`${text.map((l) => l.replace(/^\/\/ ?/, "")).join("\n")}\n`);
        return 0;
    }
    const cfg = loadConfig();
    switch (cmd) {
        case "serve":
            await serve(cfg);
            return 0;
        case "now":
            return cmdNow(cfg, args);
        case "list":
            return args.includes("--offsite") ? cmdListOffsite(cfg, flags(args)) : cmdList(cfg, args);
        case "fetch-offsite":
            return cmdFetchOffsite(cfg, args);
        case "fetch-offsite-repository":
            return cmdFetchRepository(cfg);
        case "swap-repository":
            return cmdSwapRepository(cfg);
        case "verify":
            return cmdVerify(cfg, args);
        case "restore":
            return cmdRestore(cfg, args);
        case "status":
            printJson(statusOf(cfg));
            return 0;
        case "health":
            return cmdHealth(cfg);
        default:
            throw new Error(`unknown command \`${cmd}\`; commands: serve, now, list, verify, restore, fetch-offsite, fetch-offsite-repository, swap-repository, status, health`);
    }
}

main().then(
    (code) => process.exit(code),
    (err) => {
        process.stderr.write(`[backup] error: ${redact(err instanceof Error ? err.message : String(err))}\n`);
        process.exit(1);
    },
);
