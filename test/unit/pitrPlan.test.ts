// The pure rules of point-in-time recovery: the `backups.pointInTime` spec keys and their
// refusals, and the restore-target checks `npm run backup -- restore --to` runs before anything
// changes (components/pitrPlan.ts).
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { pointInTimeEnabled } from "../../components/backupPlan";
import { PitrBackup, PitrInfo, parseRestoreTarget, pgTime, planRestore, restorableRange } from "../../components/pitrPlan";
import { parseSpec } from "../../components/spec";
import { specProblems } from "./specProblems";

const api = { api: { uses: ["postgres"] } };
const at = (iso: string) => Date.parse(iso) / 1000;

function backup(label: string, startIso: string, stopIso: string, proven: boolean | null): PitrBackup {
    return {
        label,
        type: label.includes("_") ? "incr" : "full",
        startedAt: at(startIso),
        stoppedAt: at(stopIso),
        proof: proven === null ? null : { ok: proven, provenAt: stopIso, ...(proven ? {} : { problem: "pgbackrest verify failed: invalid result" }) },
    };
}

const info: PitrInfo = {
    now: at("2026-12-01T15:00:00Z"),
    backups: [
        backup("20261130-030000F", "2026-11-30T03:00:00Z", "2026-11-30T03:00:05Z", true),
        backup("20261201-030000F", "2026-12-01T03:00:00Z", "2026-12-01T03:00:06Z", true),
        backup("20261201-030000F_20261201-120000I", "2026-12-01T12:00:00Z", "2026-12-01T12:00:02Z", null),
    ],
};

describe("backups.pointInTime spec keys", () => {
    it("is on by default for a stack with Postgres, with defaults from the runbooks, and off without Postgres", () => {
        const spec = parseSpec({ services: api });
        assert.deepEqual(spec.backups.pointInTime, { keepFull: 7, fullEveryHours: 24, archiveTimeoutSeconds: 60 });
        assert.equal(pointInTimeEnabled(spec), true);
        assert.equal(pointInTimeEnabled(parseSpec({ services: api, backups: { pointInTime: { enabled: false } } })), false);
        assert.equal(pointInTimeEnabled(parseSpec({ services: api, backups: { enabled: false } })), false);
        assert.equal(pointInTimeEnabled(parseSpec({ postgres: { enabled: false }, redis: { enabled: false }, services: { web: {} } })), false);
    });

    it("refuses a retention that would keep no proven backup, and other values out of range, naming the key and the range", () => {
        assert.deepEqual(specProblems({ services: api, backups: { pointInTime: { keepFull: 1 } } }), [
            "`opsbook:backups.pointInTime.keepFull` must be from 2 to 60: with fewer than 2, the only proven backup is expired as soon as a new one ends, before a restore has proven the new one",
        ]);
        assert.deepEqual(specProblems({ services: api, backups: { pointInTime: { keepFull: 2.5 } } }), ["`opsbook:backups.pointInTime.keepFull` must be a whole number from 2 to 60"]);
        assert.deepEqual(specProblems({ services: api, backups: { pointInTime: { fullEveryHours: 200 } } }), ["`opsbook:backups.pointInTime.fullEveryHours` must be from 1 to 168"]);
        assert.deepEqual(specProblems({ services: api, backups: { pointInTime: { archiveTimeoutSeconds: 1 } } }), [
            "`opsbook:backups.pointInTime.archiveTimeoutSeconds` must be from 10 to 3600: below 10 s each forced segment switch writes a mostly empty 16 MB file",
        ]);
        assert.equal(specProblems({ services: api, backups: { pointInTime: { keepFul: 3 } } }).length, 1);
    });

    it("refuses point-in-time recovery without Postgres or without backups", () => {
        const noPostgres = specProblems({ postgres: { enabled: false }, redis: { enabled: false }, services: { web: {} }, backups: { pointInTime: { enabled: true } } });
        assert.ok(noPostgres.some((p) => /`opsbook:backups\.pointInTime\.enabled` is true, but the stack has no Postgres/.test(p)), noPostgres.join("\n"));
        const noBackups = specProblems({ services: api, backups: { enabled: false, pointInTime: { enabled: true } } });
        assert.ok(noBackups.some((p) => /`opsbook:backups\.pointInTime\.enabled` is true, but `backups\.enabled` is false/.test(p)), noBackups.join("\n"));
    });
});

describe("restore targets", () => {
    it("reads times as UTC unless they carry a zone, `latest`, and backup labels; refuses what is not a time", () => {
        assert.deepEqual(parseRestoreTarget("2026-12-01 14:04:00"), { kind: "time", at: new Date("2026-12-01T14:04:00Z") });
        assert.deepEqual(parseRestoreTarget("2026-12-01 14:04"), { kind: "time", at: new Date("2026-12-01T14:04:00Z") });
        assert.deepEqual(parseRestoreTarget("2026-12-01T14:04:00.25Z"), { kind: "time", at: new Date("2026-12-01T14:04:00.250Z") });
        assert.deepEqual(parseRestoreTarget("2026-12-01 16:04:00+02:00"), { kind: "time", at: new Date("2026-12-01T14:04:00Z") });
        assert.deepEqual(parseRestoreTarget("latest"), { kind: "latest" });
        assert.deepEqual(parseRestoreTarget("20261201-030000F"), { kind: "backup", label: "20261201-030000F" });
        assert.match((parseRestoreTarget("yesterday") as { problem: string }).problem, /is not a time; write it as "YYYY-MM-DD HH:MM\[:SS\[\.mmm\]\]"/);
        assert.match((parseRestoreTarget("2026-02-30 10:00:00") as { problem: string }).problem, /is not a valid date and time/);
        assert.match((parseRestoreTarget("2026-12-01 24:00:00") as { problem: string }).problem, /is not a valid date and time/);
    });

    it("writes the target as recovery_target_time reads it", () => {
        assert.equal(pgTime(new Date("2026-12-01T14:04:00.250Z")), "2026-12-01 14:04:00.250+00");
    });

    it("restores a time from the newest proven backup that ended before it; the range starts at the oldest proven one and ends now", () => {
        assert.deepEqual(restorableRange(info), { from: at("2026-11-30T03:00:05Z"), to: info.now });
        const plan = planRestore(info, { kind: "time", at: new Date("2026-12-01T14:04:00Z") });
        assert.deepEqual(plan, {
            set: "20261201-030000F",
            type: "time",
            target: "2026-12-01 14:04:00.000+00",
            describe: "2026-12-01 14:04:00.000+00 (from backup 20261201-030000F, then WAL replayed to that time)",
        });
        assert.equal((planRestore(info, { kind: "time", at: new Date("2026-11-30T10:00:00Z") }) as { set: string }).set, "20261130-030000F");
        // The unproven incremental counts only with --force.
        assert.equal((planRestore(info, { kind: "time", at: new Date("2026-12-01T14:04:00Z") }, { force: true }) as { set: string }).set, "20261201-030000F_20261201-120000I");
        assert.deepEqual(planRestore(info, { kind: "latest" }), {
            set: "20261201-030000F",
            type: "default",
            describe: "the latest archived point (backup 20261201-030000F plus every archived WAL segment after it)",
        });
    });

    it("refuses a time before the oldest proven backup or in the future, naming the possible range", () => {
        const range = "possible: 2026-11-30 03:00:05 UTC .. 2026-12-01 15:00:00 UTC (now), or `latest`; nothing was changed";
        assert.deepEqual(planRestore(info, { kind: "time", at: new Date("2026-11-30T03:00:04Z") }), {
            problem: `\`--to 2026-11-30 03:00:04 UTC\` is before the end of the oldest proven backup (20261130-030000F); ${range}`,
        });
        assert.deepEqual(planRestore(info, { kind: "time", at: new Date("2026-12-01T15:00:01Z") }), { problem: `\`--to 2026-12-01 15:00:01 UTC\` is in the future; ${range}` });
    });

    it("restores a named backup only when it is proven (or with --force), and says so when there is nothing to restore", () => {
        assert.deepEqual(planRestore(info, { kind: "backup", label: "20261130-030000F" }), {
            set: "20261130-030000F",
            type: "immediate",
            describe: "backup 20261130-030000F as it was when it ended (2026-11-30 03:00:05 UTC)",
        });
        assert.match((planRestore(info, { kind: "backup", label: "20261201-030000F_20261201-120000I" }) as { problem: string }).problem, /is not proven \(no proof yet\); nothing was changed/);
        assert.match((planRestore(info, { kind: "backup", label: "20250101-000000F" }) as { problem: string }).problem, /there is no pgBackRest backup 20250101-000000F/);
        const failedOnly: PitrInfo = { now: info.now, backups: [backup("20261201-030000F", "2026-12-01T03:00:00Z", "2026-12-01T03:00:06Z", false)] };
        assert.match((planRestore(failedOnly, { kind: "latest" }) as { problem: string }).problem, /there is no proven pgBackRest backup to restore from \(1 not proven yet/);
    });
});
