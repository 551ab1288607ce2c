// The backup system's pure parts: cron and period math, retention, the manifest, health, and the
// `opsbook:backups` spec keys. The agent runs the same plan.js these tests import.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
    ManifestEntry,
    backupIssues,
    backupTargets,
    backupsEnabled,
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
} from "../../components/backupPlan";
import { SpecError, parseSpec } from "../../components/spec";
import { applyPreset } from "../../presets";

const HOUR = 3600;
const DAY = 86_400;
const at = (iso: string) => new Date(iso);
const next = (expr: string, after: string) => nextRun(parseCron(expr), at(after))?.toISOString();

describe("cron schedules", () => {
    it("finds the next run in UTC, strictly after the given time", () => {
        assert.equal(next("0 3 * * *", "2025-01-01T02:59:59Z"), "2025-01-01T03:00:00.000Z");
        assert.equal(next("0 3 * * *", "2025-01-01T03:00:00Z"), "2025-01-02T03:00:00.000Z");
        assert.equal(next("*/15 * * * *", "2025-01-01T10:07:00Z"), "2025-01-01T10:15:00.000Z");
        assert.equal(next("30 23 31 12 *", "2025-06-01T00:00:00Z"), "2025-12-31T23:30:00.000Z");
        assert.equal(next("0 0 29 2 *", "2025-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z");
    });

    it("treats day-of-week 7 as Sunday and ORs the two day fields when both are restricted (croner, Vixie cron's OR rule)", () => {
        // 2025-01-05 is a Sunday.
        assert.equal(next("0 3 * * 7", "2025-01-01T00:00:00Z"), "2025-01-05T03:00:00.000Z");
        assert.equal(next("0 3 * * 0", "2025-01-01T00:00:00Z"), "2025-01-05T03:00:00.000Z");
        // 1st of the month OR a Monday: Monday 2025-01-06 comes before February 1st.
        assert.equal(next("0 3 1 * 1", "2025-01-02T00:00:00Z"), "2025-01-06T03:00:00.000Z");
        // croner counts only a bare `*` as unrestricted: `*/2` restricts, so odd days OR Mondays.
        assert.equal(next("0 3 */2 * 1", "2025-01-02T00:00:00Z"), "2025-01-03T03:00:00.000Z");
    });

    it("gives the longest gap between runs as the period", () => {
        assert.equal(periodSeconds(parseCron("0 3 * * *")), DAY);
        assert.equal(periodSeconds(parseCron("*/15 * * * *")), 15 * 60);
        assert.equal(periodSeconds(parseCron("0 3 * * 1-5")), 3 * DAY, "Friday to Monday");
        assert.equal(periodSeconds(parseCron("0 9,17 * * *")), 16 * HOUR, "17:00 to 09:00");
        assert.equal(periodSeconds(parseCron("0 3 1 * *")), 31 * DAY);
        assert.equal(staleAfterSeconds(parseCron("0 3 * * *")), 2 * DAY);
    });

    it("names what is wrong with a schedule and how to write one", () => {
        assert.equal(scheduleProblem("0 3 * * *"), undefined);
        assert.match(scheduleProblem("0 3 * *") ?? "", /must have 5 fields .* e\.g\. `0 3 \* \* \*`/);
        assert.match(scheduleProblem("75 3 * * *") ?? "", /^is not a cron expression croner accepts \(Invalid value for minute: 75\); write a 5-field cron expression in UTC/);
        assert.match(scheduleProblem("99 99 99 99 99") ?? "", /Invalid value for minute: 99/);
        assert.match(scheduleProblem("0 3 * * 8") ?? "", /Invalid value for dayOfWeek: 8/);
        assert.match(scheduleProblem("0 5-3 * * *") ?? "", /From value is larger than to value: '5-3'/);
        assert.match(scheduleProblem("0 3 31 * *") ?? "", /must run at least once every 31 days, but its longest gap is 61d00h/);
        assert.match(scheduleProblem("0 0 30 2 *") ?? "", /it almost never fires/);
    });
});

function entry(name: string, startedAt: string, status: "verified" | "failed" = "verified", target = "postgres-app"): ManifestEntry {
    return status === "verified"
        ? { name, target, kind: "postgres", status, startedAt, sha256: "a".repeat(64) }
        : { name, target, kind: "postgres", status, startedAt, reason: "pg_dump failed" };
}

/** One verified backup a day at 03:00 for `days` days up to `last`. */
function daily(days: number, last: string, target = "postgres-app"): ManifestEntry[] {
    const end = Date.parse(last);
    return Array.from({ length: days }, (_, i) => {
        const d = new Date(end - i * DAY * 1000);
        return entry(`${target}-${d.toISOString().slice(0, 10)}.dump`, d.toISOString(), "verified", target);
    });
}

function kept(entries: ManifestEntry[], now: string, keep = { days: 7, weeks: 4, months: 6 }): string[] {
    return planRetention(entries, at(now), keep)
        .filter((d) => d.keep)
        .map((d) => d.name.replace(/^postgres-app-/, "").replace(/\.dump$/, ""))
        .sort();
}

describe("retention", () => {
    it("keeps all of the last 7 days, the newest of each of 4 weeks and of each of 6 months (daily backups for a year)", () => {
        const names = kept(daily(400, "2025-06-30T03:00:00Z"), "2025-06-30T03:05:00Z");
        assert.deepEqual(names, [
            // newest of each month: Jan..Jun 2025 (the 30th is the newest in June)
            "2025-01-31",
            "2025-02-28",
            "2025-03-31",
            "2025-04-30",
            "2025-05-31",
            // newest of each ISO week: W24 ends Sunday 2025-06-15, W25 Sunday 06-22; W26 and W27 are in the 7 days
            "2025-06-15",
            "2025-06-22",
            // every backup younger than 7 days
            "2025-06-24",
            "2025-06-25",
            "2025-06-26",
            "2025-06-27",
            "2025-06-28",
            "2025-06-29",
            "2025-06-30",
        ]);
    });

    it("never prunes the newest verified backup, however old, and counts weeks and months that have a backup", () => {
        // Backups stopped 200 days ago: no day window applies, but history is kept, not wiped.
        const names = kept(daily(60, "2024-12-10T03:00:00Z"), "2025-06-28T00:00:00Z", { days: 7, weeks: 2, months: 2 });
        assert.deepEqual(names, ["2024-11-30", "2024-12-08", "2024-12-10"]);
        const only = kept([entry("postgres-app-old.dump", "2020-01-01T00:00:00Z")], "2025-01-01T00:00:00Z", { days: 1, weeks: 0, months: 0 });
        assert.deepEqual(only, ["old"]);
    });

    it("counts only verified backups; failed ones are kept for the day window, for diagnosis, then removed", () => {
        const decisions = planRetention(
            [
                entry("postgres-app-new-failed.dump", "2025-01-10T03:00:00Z", "failed"),
                entry("postgres-app-old-failed.dump", "2024-12-01T03:00:00Z", "failed"),
                entry("postgres-app-verified.dump", "2024-11-01T03:00:00Z"),
            ],
            at("2025-01-10T04:00:00Z"),
            { days: 7, weeks: 4, months: 6 },
        );
        assert.deepEqual(
            decisions.map((d) => [d.name, d.keep, d.reasons.join("; ")]),
            [
                ["postgres-app-new-failed.dump", true, "failed, kept 7 days for diagnosis"],
                ["postgres-app-old-failed.dump", false, ""],
                ["postgres-app-verified.dump", true, "newest verified; newest of week 2024-W44; newest of month 2024-11"],
            ],
        );
    });

    it("decides per target: a busy Postgres does not push a SQLite file's backups out", () => {
        const entries = [...daily(30, "2025-03-30T03:00:00Z"), ...daily(1, "2024-01-01T03:00:00Z", "sqlite-data-app")];
        const decisions = planRetention(entries, at("2025-03-30T04:00:00Z"), { days: 1, weeks: 0, months: 0 });
        assert.deepEqual(
            decisions.filter((d) => d.keep).map((d) => d.name),
            ["postgres-app-2025-03-30.dump", "sqlite-data-app-2024-01-01.dump"],
        );
    });
});

describe("manifest", () => {
    it("reads a missing or empty manifest as no backups, and round-trips entries newest first", () => {
        assert.deepEqual(parseManifest(undefined), { entries: [], problems: [] });
        assert.deepEqual(parseManifest("  \n"), { entries: [], problems: [] });
        const a = entry("postgres-app-a.dump", "2025-01-01T03:00:00Z");
        const b = entry("postgres-app-b.dump", "2025-01-02T03:00:00Z", "failed");
        const text = serializeManifest([a, b]);
        assert.deepEqual(parseManifest(text).entries, [b, a]);
    });

    it("refuses a damaged manifest rather than reading it as empty (which would prune by it)", () => {
        assert.throws(() => parseManifest("{\"version\": 1, \"backups\": [ "), /manifest\.json is not valid JSON/);
        assert.throws(() => parseManifest(JSON.stringify({ version: 2, backups: [] })), /not a version 1 backup manifest/);
        assert.throws(() => parseManifest("[]"), /not a version 1 backup manifest/);
    });

    it("skips entries that do not validate, naming each, so their files stay as unknown files", () => {
        const good = entry("postgres-app-good.dump", "2025-01-01T03:00:00Z");
        const { entries, problems } = parseManifest(
            JSON.stringify({
                version: 1,
                backups: [
                    good,
                    { ...good, name: "../../etc/passwd" },
                    { ...good, name: "postgres-app-nosum.dump", sha256: undefined },
                    { ...good, name: "postgres-app-when.dump", startedAt: "yesterday" },
                    { ...good, name: "postgres-app-why.dump", status: "failed" },
                    good,
                ],
            }),
        );
        assert.deepEqual(entries, [good]);
        assert.deepEqual(problems, [
            "entry 1 (../../etc/passwd): `name` is not a safe file name",
            "entry 2 (postgres-app-nosum.dump): a verified entry needs its `sha256`",
            "entry 3 (postgres-app-when.dump): `startedAt` is not a date",
            "entry 4 (postgres-app-why.dump): a failed entry needs its `reason`",
            "entry 5 (postgres-app-good.dump): listed twice; the first is kept",
        ]);
    });
});

describe("verification and health", () => {
    const expected = { tables: 2, counted: [{ schema: "public", table: "items", rows: 1204 }, { schema: "public", table: "other", rows: 2 }] };

    it("accepts a restore that holds what the dump's snapshot held, and names the first difference otherwise", () => {
        assert.equal(compareChecks(expected, expected), undefined);
        assert.equal(compareChecks(undefined, { tables: 0, counted: [] }), undefined);
        assert.equal(compareChecks(expected, { ...expected, tables: 1 }), "the restore has 1 tables, the source had 2");
        assert.equal(
            compareChecks(expected, { tables: 2, counted: [{ schema: "public", table: "items", rows: 1203 }, expected.counted[1]] }),
            "table public.items has 1203 rows in the restore, 1204 in the source",
        );
        assert.equal(compareChecks(expected, { tables: 2, counted: [{ schema: "public", table: "items", rows: -1 }] }), "table public.items is missing from the restore");
    });

    it("offers the newest verified backup for restore, never a newer failed one", () => {
        const entries = [
            entry("postgres-app-corrupt.dump", "2025-01-03T03:00:00Z", "failed"),
            entry("postgres-app-good.dump", "2025-01-02T03:00:00Z"),
            entry("postgres-app-older.dump", "2025-01-01T03:00:00Z"),
        ];
        assert.equal(restoreDefault(entries)?.name, "postgres-app-good.dump");
        assert.equal(restoreDefault(entries, "sqlite-data-app"), undefined);
    });

    it("is healthy while every target's newest verified backup is younger than two periods", () => {
        const entries = [entry("postgres-app-a.dump", "2025-01-01T03:00:00Z"), entry("postgres-app-b.dump", "2025-01-02T03:00:00Z", "failed")];
        const fresh = healthOf({ entries, targets: ["postgres-app"], now: at("2025-01-02T04:00:00Z"), staleAfterSeconds: 2 * DAY });
        assert.equal(fresh.ok, true);
        assert.deepEqual(fresh.targets[0].lastVerified, { name: "postgres-app-a.dump", startedAt: "2025-01-01T03:00:00Z", ageSeconds: 25 * HOUR });

        const stale = healthOf({ entries, targets: ["postgres-app"], now: at("2025-01-03T03:00:01Z"), staleAfterSeconds: 2 * DAY });
        assert.equal(stale.ok, false);
        assert.equal(stale.targets[0].problem, "the newest verified backup is 2d00h old (stale after 2d00h); the last attempt failed: pg_dump failed");

        const none = healthOf({ entries: [], targets: ["postgres-app"], now: at("2025-01-03T00:00:00Z"), staleAfterSeconds: 2 * DAY, running: "postgres-app" });
        assert.equal(none.ok, false);
        assert.equal(none.targets[0].problem, "no verified backup yet (a backup is running now)");
    });

    it("formats ages for people", () => {
        assert.deepEqual([45, 12 * 60, 3 * HOUR + 5 * 60, 2 * DAY + 4 * HOUR, Infinity].map(formatAge), ["45s", "12m", "3h05m", "2d04h", "never"]);
    });

    it("ships plan.js that matches the types the program relies on (tsc --checkJs)", async () => {
        const root = path.resolve(__dirname, "..", "..");
        const agent = path.join(root, "images", "backup", "agent");
        const args = ["--noEmit", "--allowJs", "--checkJs", "--strict", "--target", "ES2022", "--module", "commonjs", "--moduleResolution", "node", "--skipLibCheck", "--types", "node"];
        const files = ["plan.js", "offsitePlan.js", "offsite.js", "common.js", "postgres.js", "sqlite.js", "agent.js"].map((f) => path.join(agent, f));
        const result = await new Promise<{ code: number; out: string }>((resolve) =>
            execFile(path.join(root, "node_modules", ".bin", "tsc"), [...args, ...files], { cwd: root }, (err, stdout, stderr) =>
                resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
            ),
        );
        assert.equal(result.code, 0, result.out);
    });
});

function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        parseSpec(raw);
    } catch (err) {
        assert.ok(err instanceof SpecError, `expected a SpecError, got ${String(err)}`);
        return err.problems;
    }
    assert.fail("the spec was accepted");
}

const api = { api: { uses: ["postgres"], env: { APP_ROLE: "api" } } };

describe("`opsbook:backups` spec keys", () => {
    it("fills in the documented defaults and turns backups on for a stack with Postgres", () => {
        const spec = parseSpec({ services: api });
        assert.deepEqual(spec.backups, { schedule: "0 3 * * *", keepDays: 7, keepWeeks: 4, keepMonths: 6, location: "backups", verify: true, memoryMb: 256, pointInTime: { keepFull: 7, fullEveryHours: 24, archiveTimeoutSeconds: 60 } });
        assert.equal(spec.images.backup, "opsbook/backup:1");
        assert.equal(backupsEnabled(spec), true);
        assert.deepEqual(backupTargets(spec), [{ id: "postgres-app", kind: "postgres", database: "app" }]);
    });

    it("backs up the market watchdog's SQLite file on its volume, once for the two services that share it", () => {
        const spec = parseSpec(applyPreset({ preset: "market-watchdog" }));
        assert.equal(backupsEnabled(spec), true);
        assert.deepEqual(backupTargets(spec), [
            { id: "sqlite-data-signal_sentinel", kind: "sqlite", volume: "data", file: "signal_sentinel.db", path: "/sources/data/signal_sentinel.db" },
        ]);
    });

    it("stays off for a stack with nothing to back up, and can be turned off", () => {
        const stateless = parseSpec({ postgres: { enabled: false }, redis: { enabled: false }, services: { web: {} } });
        assert.equal(backupsEnabled(stateless), false);
        assert.equal(backupsEnabled(parseSpec({ services: api, backups: { enabled: false } })), false);
    });

    it("accepts a host directory as the location", () => {
        const spec = parseSpec({ services: api, backups: { location: "/srv/opsbook/backups", schedule: "30 2 * * 1-5", keepDays: 14 } });
        assert.equal(spec.backups.location, "/srv/opsbook/backups");
        assert.equal(spec.backups.keepDays, 14);
    });

    it("names the key and the fix for each mistake", () => {
        assert.deepEqual(problemsOf({ services: api, backups: { schedule: "0 25 * * *" } }), [
            "`opsbook:backups.schedule` is not a cron expression croner accepts (Invalid value for hour: 25); write a 5-field cron expression in UTC such as `0 3 * * *` (03:00 every day)",
        ]);
        assert.deepEqual(problemsOf({ services: api, backups: { verify: false } }), [
            "`opsbook:backups.verify` cannot be turned off: a backup counts (for retention, health and restore) only once it has been restored into a scratch database and checked; remove `verify`, and if verification is too slow for your database, back up less often with `schedule`",
        ]);
        assert.match(problemsOf({ services: api, backups: { location: "backups/../etc" } })[0], /^`opsbook:backups\.location` must be a volume name .* or an absolute host directory/);
        assert.match(problemsOf({ services: api, backups: { location: "/srv/../etc" } })[0], /^`opsbook:backups\.location` `\/srv\/\.\.\/etc` is not a normalized absolute path/);
        assert.match(problemsOf({ services: api, backups: { location: "/" } })[0], /^`opsbook:backups\.location` must not be the root directory/);
        assert.match(problemsOf({ services: api, backups: { keepDays: 0 } })[0], /^`opsbook:backups\.keepDays` /);
        assert.match(problemsOf({ services: api, backups: { keepweeks: 4 } })[0], /^`opsbook:backups`: unknown key\(s\) `keepweeks`/);
    });

    it("refuses a location that is a volume the services mount, and backups of nothing", () => {
        assert.deepEqual(problemsOf(applyPreset({ preset: "market-watchdog", backups: { location: "data" } })), [
            "`opsbook:backups.location` names `data`, a volume `services.web` mounts; backups must not live beside the data they protect, so choose another name such as `backups`",
        ]);
        assert.deepEqual(problemsOf({ postgres: { enabled: false }, redis: { enabled: false }, services: { web: {} }, backups: { enabled: true } }), [
            "`opsbook:backups.enabled` is true, but the stack has nothing to back up (no Postgres, no SQLite DATABASE_URL on a volume); remove `backups` or add the database",
        ]);
    });

    it("refuses a SQLite file on no volume when backups are on: it could not be backed up", () => {
        assert.deepEqual(problemsOf({ services: { ...api, web: { env: { DATABASE_URL: "sqlite:////app/state.db" } } } }), [
            "`opsbook:services.web.env.DATABASE_URL` is a SQLite file (/app/state.db) on no volume: it is lost when the container is replaced and cannot be backed up; mount a volume at its directory in `services.web.volumes`",
        ]);
        // With backups off, it is the stack's own business.
        const off = parseSpec({ services: { ...api, web: { env: { DATABASE_URL: "sqlite:////app/state.db" } } }, backups: { enabled: false } });
        assert.deepEqual(backupIssues(off), []);
    });
});
