// @ts-check
// The backup agent's pure parts: cron schedules, retention, the manifest, names and health.
// Plain CommonJS on purpose: the agent runs on Debian's Node 18 with no build step, and the Pulumi
// program (components/backupPlan.ts, typed by plan.d.ts) imports this same file, so a schedule the
// spec accepts is exactly a schedule the agent can run.
"use strict";

// Cron expressions are croner's (pinned in package.json beside this file and installed into the
// image at build time), the same library and options as the spec's job check (components/spec.ts)
// and the reference app's scheduler (app/src/cron.ts): one grammar for every schedule the stack has.
const { Cron: CronerJob } = require("croner");

const DAY_MS = 86_400_000;

/** A schedule must fire at least this often: retention and the health signal assume it. */
const MAX_PERIOD_SECONDS = 31 * 86_400;

/**
 * croner's options for every schedule: five fields (minute hour day-of-month month day-of-week),
 * evaluated in UTC (`utcOffset: 0`: UTC has no DST, and a fixed offset spares croner a time-zone
 * lookup per step), never started (we only ask it for dates). Day-of-month and day-of-week are
 * combined with croner's default (`domAndDow: false`), Vixie cron's OR rule: when both fields are
 * restricted a day matches if either does (`0 3 1 * 1` = the 1st and every Monday). croner counts a
 * field as unrestricted only when it is exactly `*`, so `*\/2` restricts: `0 3 *\/2 * 1` is odd days
 * OR Mondays (next after 2025-01-02: 01-03), where Vixie's own C code, which looks only at the first
 * character, would AND them (01-13).
 */
const CRON_OPTIONS = Object.freeze({ mode: /** @type {const} */ ("5-part"), utcOffset: 0, paused: true });

/**
 * Parses a 5-field cron expression (minute hour day-of-month month day-of-week, UTC) with croner;
 * throws croner's reason when it is not one.
 * @param {string} expression
 * @returns {import("./plan").Cron}
 */
function parseCron(expression) {
    const source = String(expression).trim().split(/\s+/).join(" ");
    if (!source.startsWith("@") && source.split(" ").length !== 5) {
        throw new Error("must have 5 fields (minute hour day-of-month month day-of-week), e.g. `0 3 * * *`");
    }
    try {
        // croner fills in its defaults on the options object it is given: give it a copy.
        return { source, job: new CronerJob(source, { ...CRON_OPTIONS }) };
    } catch (err) {
        throw new Error(`is not a cron expression croner accepts (${String(/** @type {Error} */ (err).message).replace(/^CronPattern: /, "")})`);
    }
}

/**
 * The first time the schedule fires strictly after `after`, or undefined if it never does
 * (e.g. `0 0 30 2 *`).
 * @param {import("./plan").Cron} cron
 * @param {Date} after
 * @returns {Date | undefined}
 */
function nextRun(cron, after) {
    return cron.job.nextRun(after) ?? undefined;
}

/**
 * The longest gap between two runs, in seconds, over four calendar years (a leap year included):
 * `0 3 * * *` gives a day, `0 3 * * 1-5` three days (Friday to Monday). Infinity when the
 * schedule fires on fewer than two days in that window.
 * In UTC a 5-field schedule fires at the same times on every day it fires, so one firing day is
 * walked run by run (for the gaps within a day) and the rest day by day (at most ~1,500 steps),
 * never minute by minute.
 * @param {import("./plan").Cron} cron
 */
function periodSeconds(cron) {
    const known = PERIODS.get(cron.source);
    if (known !== undefined) {
        return known;
    }
    const period = walkPeriod(cron);
    if (PERIODS.size >= 256) {
        PERIODS.clear();
    }
    PERIODS.set(cron.source, period);
    return period;
}

/** Periods by expression: the spec, the component and the agent ask about the same few schedules. */
/** @type {Map<string, number>} */
const PERIODS = new Map();

/** @param {import("./plan").Cron} cron */
function walkPeriod(cron) {
    const start = Date.UTC(2024, 0, 1);
    const end = Date.UTC(2028, 0, 1);
    const firstRun = cron.job.nextRun(new Date(start - 1));
    if (!firstRun || firstRun.getTime() >= end) {
        return Infinity;
    }
    const firstDay = Math.floor(firstRun.getTime() / DAY_MS) * DAY_MS;
    let longest = 0;
    let lastOfDay = firstRun.getTime();
    for (let run = cron.job.nextRun(firstRun); run && run.getTime() < firstDay + DAY_MS; run = cron.job.nextRun(run)) {
        longest = Math.max(longest, run.getTime() - lastOfDay);
        lastOfDay = run.getTime();
    }
    const lastOffset = lastOfDay - firstDay;
    let firingDays = 1;
    for (let run = cron.job.nextRun(new Date(lastOfDay)); run && run.getTime() < end; run = cron.job.nextRun(new Date(lastOfDay))) {
        firingDays++;
        longest = Math.max(longest, run.getTime() - lastOfDay);
        lastOfDay = Math.floor(run.getTime() / DAY_MS) * DAY_MS + lastOffset;
    }
    return firingDays <= 1 ? Infinity : longest / 1000;
}

/**
/**
 * What is wrong with a backup schedule, in words that say how to fix it; undefined when it is fine.
 * @param {string} expression
 * @returns {string | undefined}
 */
function scheduleProblem(expression) {
    let cron;
    try {
        cron = parseCron(expression);
    } catch (err) {
        return `${/** @type {Error} */ (err).message}; write a 5-field cron expression in UTC such as \`0 3 * * *\` (03:00 every day)`;
    }
    const period = periodSeconds(cron);
    if (period > MAX_PERIOD_SECONDS) {
        const gap = Number.isFinite(period) ? `its longest gap is ${formatAge(period)}` : "it almost never fires";
        return `must run at least once every 31 days, but ${gap}; use e.g. \`0 3 * * *\` (daily) or \`0 3 * * 0\` (weekly)`;
    }
    return undefined;
}

/**
 * The health threshold: a target is stale when its newest verified backup is older than two
 * periods, i.e. at least one whole scheduled run was missed or failed, not merely late.
 * @param {import("./plan").Cron} cron
 */
function staleAfterSeconds(cron) {
    return 2 * periodSeconds(cron);
}

// ---------------------------------------------------------------------------------------------
// Names

/** @param {Date} date e.g. 20250101T030000Z */
function stamp(date) {
    return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

/** Backup file names: letters, digits, dot, dash, underscore; nothing that leaves the directory. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

/** @param {string} name */
function isSafeName(name) {
    return SAFE_NAME.test(name) && !name.includes("..");
}

/**
 * `<target>-<stamp>.<ext>`, with `-2`, `-3`... when two backups of a target start in one second.
 * @param {{ id: string, kind: "postgres" | "sqlite" }} target
 * @param {Date} date
 * @param {Set<string>} taken
 */
function backupName(target, date, taken) {
    const ext = target.kind === "postgres" ? ".dump" : ".db";
    const base = `${target.id}-${stamp(date)}`;
    let name = `${base}${ext}`;
    for (let n = 2; taken.has(name); n++) {
        name = `${base}-${n}${ext}`;
    }
    return name;
}

/** Scratch databases the agent creates and drops: `verify_<stamp>` and `restore_<stamp>`. */
const SCRATCH_DATABASE = /^(verify|restore)_\d{8}t\d{6}z(_\d+)?$/;

/**
 * @param {"verify" | "restore"} purpose
 * @param {Date} date
 */
function scratchDatabaseName(purpose, date) {
    return `${purpose}_${stamp(date).toLowerCase()}`;
}

// ---------------------------------------------------------------------------------------------
// Manifest

const MANIFEST_VERSION = 1;

/**
 * Reads manifest.json. A missing or empty file is an empty manifest; a file that is not a
 * manifest throws, so the agent never mistakes a damaged manifest for "no backups" (and then
 * prunes by it). Entries that do not validate are left out and named in `problems`; their files
 * are then unknown files, which are listed but never pruned.
 * @param {string | undefined} text
 * @returns {{ entries: import("./plan").ManifestEntry[], problems: string[] }}
 */
function parseManifest(text) {
    if (text === undefined || text.trim() === "") {
        return { entries: [], problems: [] };
    }
    let doc;
    try {
        doc = JSON.parse(text);
    } catch (err) {
        throw new Error(`manifest.json is not valid JSON (${/** @type {Error} */ (err).message})`);
    }
    if (!doc || typeof doc !== "object" || doc.version !== MANIFEST_VERSION || !Array.isArray(doc.backups)) {
        throw new Error(`manifest.json is not a version ${MANIFEST_VERSION} backup manifest`);
    }
    /** @type {import("./plan").ManifestEntry[]} */
    const entries = [];
    /** @type {string[]} */
    const problems = [];
    const seen = new Set();
    doc.backups.forEach((/** @type {any} */ e, /** @type {number} */ i) => {
        const problem = entryProblem(e);
        if (problem) {
            problems.push(`entry ${i}${e && typeof e.name === "string" ? ` (${e.name})` : ""}: ${problem}`);
        } else if (seen.has(e.name)) {
            problems.push(`entry ${i} (${e.name}): listed twice; the first is kept`);
        } else {
            seen.add(e.name);
            entries.push(e);
        }
    });
    return { entries, problems };
}

/** @param {any} e */
function entryProblem(e) {
    if (!e || typeof e !== "object") {
        return "not an object";
    }
    if (typeof e.name !== "string" || !isSafeName(e.name)) {
        return "`name` is not a safe file name";
    }
    if (typeof e.target !== "string" || e.target === "") {
        return "`target` is missing";
    }
    if (e.kind !== "postgres" && e.kind !== "sqlite") {
        return "`kind` must be postgres or sqlite";
    }
    if (e.status !== "verified" && e.status !== "failed") {
        return "`status` must be verified or failed";
    }
    if (typeof e.startedAt !== "string" || Number.isNaN(Date.parse(e.startedAt))) {
        return "`startedAt` is not a date";
    }
    if (e.status === "verified" && (typeof e.sha256 !== "string" || !/^[a-f0-9]{64}$/.test(e.sha256))) {
        return "a verified entry needs its `sha256`";
    }
    if (e.status === "failed" && typeof e.reason !== "string") {
        return "a failed entry needs its `reason`";
    }
    return undefined;
}

/** @param {import("./plan").ManifestEntry[]} entries */
function serializeManifest(entries) {
    const sorted = [...entries].sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || a.name.localeCompare(b.name));
    return `${JSON.stringify({ version: MANIFEST_VERSION, backups: sorted }, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Retention

/** @param {Date} d ISO week of a UTC date, e.g. 2025-W01 */
function isoWeek(d) {
    const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
    const weekday = day.getUTCDay() || 7;
    day.setUTCDate(day.getUTCDate() + 4 - weekday);
    const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
    const week = Math.ceil(((day.getTime() - yearStart) / DAY_MS + 1) / 7);
    return `${day.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** @param {Date} d */
function monthKey(d) {
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
}

/**
 * Which backups to keep, per target, the way the well-known backup containers and restic/borg do:
 * - every verified backup younger than `days` days;
 * - the newest verified backup of each of the `weeks` most recent ISO weeks (UTC) that have one;
 * - the newest verified backup of each of the `months` most recent calendar months that have one;
 * - always the newest verified backup, however old.
 * Counting weeks and months that *have* a backup (not calendar weeks back from today) means a
 * long outage never prunes the history away. Failed backups never count; they are kept `days`
 * days for diagnosis and then removed.
 * @param {import("./plan").ManifestEntry[]} entries
 * @param {Date} now
 * @param {import("./plan").Keep} keep
 * @returns {import("./plan").RetentionDecision[]}
 */
function planRetention(entries, now, keep) {
    /** @type {Map<string, string[]>} */
    const reasons = new Map(entries.map((e) => [e.name, []]));
    const byTarget = new Map();
    for (const e of entries) {
        byTarget.set(e.target, [...(byTarget.get(e.target) ?? []), e]);
    }
    const windowMs = keep.days * DAY_MS;
    for (const list of byTarget.values()) {
        const newestFirst = [...list].sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt));
        const verified = newestFirst.filter((e) => e.status === "verified");
        if (verified.length > 0) {
            reasons.get(verified[0].name)?.push("newest verified");
        }
        for (const e of newestFirst) {
            const age = now.getTime() - Date.parse(e.startedAt);
            if (age < windowMs) {
                reasons.get(e.name)?.push(e.status === "verified" ? `within ${keep.days} days` : `failed, kept ${keep.days} days for diagnosis`);
            }
        }
        /** @param {number} count @param {(d: Date) => string} bucketOf @param {string} label */
        const newestPerBucket = (count, bucketOf, label) => {
            const seen = new Set();
            for (const e of verified) {
                const bucket = bucketOf(new Date(e.startedAt));
                if (seen.has(bucket)) {
                    continue;
                }
                if (seen.size >= count) {
                    break;
                }
                seen.add(bucket);
                reasons.get(e.name)?.push(`newest of ${label} ${bucket}`);
            }
        };
        newestPerBucket(keep.weeks, isoWeek, "week");
        newestPerBucket(keep.months, monthKey, "month");
    }
    return entries.map((e) => {
        const why = reasons.get(e.name) ?? [];
        return { name: e.name, keep: why.length > 0, reasons: why };
    });
}

// ---------------------------------------------------------------------------------------------
// Verification

/**
 * Compares what a restore holds with what the dump's snapshot held; a reason when they differ.
 * @param {import("./plan").BackupCheck | undefined} expected
 * @param {import("./plan").BackupCheck} actual
 */
function compareChecks(expected, actual) {
    if (!expected) {
        return undefined;
    }
    if (expected.tables !== actual.tables) {
        return `the restore has ${actual.tables} tables, the source had ${expected.tables}`;
    }
    for (const want of expected.counted) {
        const got = actual.counted.find((c) => (c.schema ?? "public") === (want.schema ?? "public") && c.table === want.table);
        const name = want.schema ? `${want.schema}.${want.table}` : want.table;
        if (!got || got.rows < 0) {
            return `table ${name} is missing from the restore`;
        }
        if (got.rows !== want.rows) {
            return `table ${name} has ${got.rows} rows in the restore, ${want.rows} in the source`;
        }
    }
    return undefined;
}

// ---------------------------------------------------------------------------------------------
// Status and health

/**
 * The newest verified backup of a target (or of all targets), the one `restore` offers by default.
 * @param {import("./plan").ManifestEntry[]} entries
 * @param {string} [target]
 */
function restoreDefault(entries, target) {
    return entries
        .filter((e) => e.status === "verified" && (target === undefined || e.target === target))
        .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))[0];
}

/**
 * The agent's health: every target has a verified backup whose data is younger than
 * `staleAfterSeconds` (two schedule periods). The age counts from the dump's start, the moment
 * its data is from.
 * @param {{ entries: import("./plan").ManifestEntry[], targets: string[], now: Date, staleAfterSeconds: number, running?: string }} input
 * @returns {import("./plan").Health}
 */
function healthOf(input) {
    const targets = input.targets.map((id) => {
        const newest = restoreDefault(input.entries, id);
        const lastAttempt = input.entries
            .filter((e) => e.target === id)
            .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))[0];
        const ageSeconds = newest ? Math.max(0, Math.round((input.now.getTime() - Date.parse(newest.startedAt)) / 1000)) : undefined;
        const ok = ageSeconds !== undefined && ageSeconds <= input.staleAfterSeconds;
        let problem;
        if (!newest) {
            problem = lastAttempt ? `no verified backup; the last attempt failed: ${lastAttempt.reason}` : "no verified backup yet";
        } else if (!ok) {
            problem = `the newest verified backup is ${formatAge(/** @type {number} */ (ageSeconds))} old (stale after ${formatAge(input.staleAfterSeconds)})`;
            if (lastAttempt && lastAttempt.status === "failed") {
                problem += `; the last attempt failed: ${lastAttempt.reason}`;
            }
        }
        return {
            target: id,
            ok,
            lastVerified: newest ? { name: newest.name, startedAt: newest.startedAt, ageSeconds: /** @type {number} */ (ageSeconds) } : null,
            lastAttempt: lastAttempt ? { name: lastAttempt.name, status: lastAttempt.status, ...(lastAttempt.reason ? { reason: lastAttempt.reason } : {}) } : null,
            ...(problem ? { problem: input.running === id ? `${problem} (a backup is running now)` : problem } : {}),
        };
    });
    return { ok: targets.every((t) => t.ok), staleAfterSeconds: input.staleAfterSeconds, targets };
}

/** @param {number} seconds e.g. 45s, 12m, 3h05m, 2d04h */
function formatAge(seconds) {
    if (!Number.isFinite(seconds)) {
        return "never";
    }
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) {
        return `${s}s`;
    }
    if (s < 3600) {
        return `${Math.floor(s / 60)}m`;
    }
    if (s < 86_400) {
        return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
    }
    return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, "0")}h`;
}

/** @param {number} bytes e.g. 812 B, 12.3 KiB, 4.0 MiB */
function formatSize(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = bytes;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * The newest proof Postgres's `pitr` recorded (images/postgres/pitr.sh keeps `{ label: { ok,
 * provenAt, problem? } }` in the repository), or undefined when none is readable yet.
 * @param {string | undefined} text @param {Date} now
 * @returns {{ label: string, ok: boolean, provenAt: string, ageSeconds: number, problem?: string } | undefined}
 */
function newestProof(text, now) {
    /** @type {Record<string, { ok?: unknown, provenAt?: unknown, problem?: unknown }>} */
    let proofs;
    try {
        proofs = JSON.parse(text ?? "null");
    } catch {
        return undefined;
    }
    if (!proofs || typeof proofs !== "object") {
        return undefined;
    }
    const newest = Object.entries(proofs)
        .filter(([, p]) => p && typeof p.provenAt === "string" && !Number.isNaN(Date.parse(p.provenAt)))
        .sort(([, a], [, b]) => Date.parse(String(b.provenAt)) - Date.parse(String(a.provenAt)))[0];
    if (!newest) {
        return undefined;
    }
    const [label, p] = newest;
    const provenAt = String(p.provenAt);
    return {
        label,
        ok: p.ok === true,
        provenAt,
        ageSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(provenAt)) / 1000)),
        ...(typeof p.problem === "string" ? { problem: p.problem } : {}),
    };
}

/**
 * The agent's status as Prometheus text: per target its verdict (`healthOf`'s, so the alert and
 * `backup-agent health` cannot disagree) and the age of its newest verified backup (absent when
 * there is none); the staleness bound; whether the manifest could be read. Names and ages only.
 * With an off-site target, its verdict and the age of the last copy likewise; with point-in-time
 * recovery, whether the newest pgBackRest backup's proof passed.
 * @param {{ ok: boolean, staleAfterSeconds: number, problem?: string, targets: { target: string, ok: boolean, lastVerified: { ageSeconds: number } | null }[], offsite?: { ok: boolean, target: string, ageSeconds?: number | null } | null, offsiteWal?: { ok: boolean, target: string, ageSeconds?: number | null, staleAfterSeconds: number } | null, pitrProof?: { label: string, ok: boolean, ageSeconds: number } | null }} status
 * @returns {string}
 */
function metricsText(status) {
    const label = (/** @type {string} */ v) => JSON.stringify(v).replace(/\\u[0-9a-f]{4}/gi, "");
    /** @type {string[]} */
    const lines = [];
    /** One gauge: its HELP and TYPE lines, then a sample per [labels, value]. @param {string} name @param {string} help @param {[string, number][]} samples */
    const gauge = (name, help, samples) => {
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...samples.map(([labels, value]) => `${name}${labels} ${value}`));
    };
    const byTarget = (/** @type {string} */ target) => `{target=${label(target)}}`;
    gauge(
        "opsbook_backup_target_fresh",
        "1 when the target has a verified backup younger than opsbook_backup_stale_after_seconds.",
        status.targets.map((t) => [byTarget(t.target), t.ok ? 1 : 0]),
    );
    gauge(
        "opsbook_backup_last_verified_age_seconds",
        "Age of the target's newest verified backup (from the moment its data is from).",
        status.targets.flatMap((t) => (t.lastVerified ? [[byTarget(t.target), t.lastVerified.ageSeconds]] : [])),
    );
    gauge("opsbook_backup_stale_after_seconds", "Two schedule periods: a verified backup older than this is stale.", [["", status.staleAfterSeconds]]);
    gauge("opsbook_backup_manifest_readable", "0 when the agent cannot read its manifest (status says why).", [["", status.problem ? 0 : 1]]);
    if (status.offsite) {
        const where = `{offsite=${label(status.offsite.target)}}`;
        gauge("opsbook_backup_offsite_fresh", "1 when the off-site copy succeeded within opsbook_backup_stale_after_seconds.", [[where, status.offsite.ok ? 1 : 0]]);
        if (typeof status.offsite.ageSeconds === "number") {
            gauge("opsbook_backup_offsite_age_seconds", "Age of the last successful off-site copy.", [[where, status.offsite.ageSeconds]]);
        }
    }
    if (status.offsiteWal) {
        const where = `{offsite=${label(status.offsiteWal.target)}}`;
        gauge(
            "opsbook_backup_offsite_wal_fresh",
            "1 when the pgBackRest repository (base backups and WAL archive) was shipped off-site within opsbook_backup_offsite_wal_stale_after_seconds.",
            [[where, status.offsiteWal.ok ? 1 : 0]],
        );
        if (typeof status.offsiteWal.ageSeconds === "number") {
            gauge("opsbook_backup_offsite_wal_age_seconds", "Age of the last successful shipment of the pgBackRest repository off-site (the writes a host loss would cost, plus archive_timeout).", [[where, status.offsiteWal.ageSeconds]]);
        }
        gauge("opsbook_backup_offsite_wal_stale_after_seconds", "Three shipping intervals plus a minute.", [[where, status.offsiteWal.staleAfterSeconds]]);
    }
    if (status.pitrProof) {
        const which = `{label=${label(status.pitrProof.label)}}`;
        gauge(
            "opsbook_backup_pitr_proof_ok",
            "1 when the newest pgBackRest backup passed its proof (pgbackrest verify of the archive + a scratch restore).",
            [[which, status.pitrProof.ok ? 1 : 0]],
        );
        gauge("opsbook_backup_pitr_proof_age_seconds", "Age of that proof.", [[which, status.pitrProof.ageSeconds]]);
    }
    return `${lines.join("\n")}\n`;
}

module.exports = {
    metricsText,
    newestProof,
    MAX_PERIOD_SECONDS,
    MANIFEST_VERSION,
    SCRATCH_DATABASE,
    parseCron,
    nextRun,
    periodSeconds,
    staleAfterSeconds,
    scheduleProblem,
    stamp,
    isSafeName,
    backupName,
    scratchDatabaseName,
    parseManifest,
    serializeManifest,
    isoWeek,
    planRetention,
    restoreDefault,
    compareChecks,
    healthOf,
    formatAge,
    formatSize,
};
