// One cron grammar: the spec's check, the reference app's scheduler and the backup agent all read
// schedules with croner, pinned to one version, and agree on when a schedule is next due.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as app from "../../app/src/cron";
import * as agent from "../../images/backup/agent/plan";
import { SpecError, cronProblem, cronSchedule, parseSpec } from "../../components/spec";

const root = path.resolve(__dirname, "..", "..");
const FROM = new Date("2025-01-02T00:00:00Z");

function jobProblems(schedule: string): string[] {
    try {
        parseSpec({ services: { api: {} }, jobs: { eod: { schedule, service: "api", path: "/jobs/eod" } } });
    } catch (err) {
        assert.ok(err instanceof SpecError, String(err));
        return err.problems;
    }
    return [];
}

describe("one cron grammar (croner)", () => {
    it("pins the same croner version for the program, the app and the backup agent", () => {
        const pinned = (file: string) => JSON.parse(fs.readFileSync(path.join(root, file), "utf8")) as { dependencies?: Record<string, string>; packages?: Record<string, { version?: string }> };
        const version = pinned("package.json").dependencies?.croner;
        assert.match(version ?? "", /^\d+\.\d+\.\d+$/, "an exact version, not a range");
        assert.equal(pinned("app/package.json").dependencies?.croner, version);
        assert.equal(pinned("images/backup/agent/package.json").dependencies?.croner, version);
        for (const lock of ["package-lock.json", "app/package-lock.json", "images/backup/agent/package-lock.json"]) {
            assert.equal(pinned(lock).packages?.["node_modules/croner"]?.version, version, lock);
        }
    });

    it("gives the same next due time for `0 3 */2 * 1` from 2025-01-02 everywhere: 2025-01-03 03:00 UTC (odd days OR Mondays)", () => {
        const expected = "2025-01-03T03:00:00.000Z";
        assert.equal(cronSchedule("0 3 */2 * 1").nextRun(FROM)?.toISOString(), expected, "spec");
        assert.equal(app.nextRun(app.parseCron("0 3 */2 * 1"), FROM)?.toISOString(), expected, "app scheduler");
        assert.equal(agent.nextRun(agent.parseCron("0 3 */2 * 1"), FROM)?.toISOString(), expected, "backup agent");
    });

    it("agrees on a spread of schedules", () => {
        const schedules = ["0 21 * * *", "5 0 * * *", "*/15 9-17 1,15 * 1-5", "0 3 1 * 1", "0 3 * * 7", "0 0 29 2 *", "30 23 31 12 *", "0 0 * * MON", "@daily"];
        for (const expr of schedules) {
            const spec = cronSchedule(expr).nextRun(FROM)?.toISOString();
            assert.equal(app.nextRun(app.parseCron(expr), FROM)?.toISOString(), spec, `app: ${expr}`);
            assert.equal(agent.nextRun(agent.parseCron(expr), FROM)?.toISOString(), spec, `agent: ${expr}`);
        }
    });

    it("refuses `99 99 99 99 99` in a job, naming the key and croner's reason", () => {
        assert.deepEqual(jobProblems("99 99 99 99 99"), [
            "`opsbook:jobs.eod.schedule` is not a cron expression croner accepts (Invalid value for minute: 99); write 5 fields (minute hour day-of-month month day-of-week) in UTC, e.g. `0 21 * * *`",
        ]);
        assert.throws(() => app.parseCron("99 99 99 99 99"), /Invalid value for minute: 99/);
        assert.throws(() => agent.parseCron("99 99 99 99 99"), /Invalid value for minute: 99/);
    });

    it("refuses what the app and the agent refuse, and accepts what they accept", () => {
        for (const expr of ["0 3 * *", "0 0 3 * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "5/15 * * * *", "daily"]) {
            assert.ok(cronProblem(expr), `spec accepted ${expr}`);
            assert.throws(() => app.parseCron(expr), /cron/, `app accepted ${expr}`);
            assert.throws(() => agent.parseCron(expr), /./, `agent accepted ${expr}`);
        }
        assert.deepEqual(jobProblems("0 21 * * *"), []);
        assert.match(jobProblems("0 3 * *")[0], /^`opsbook:jobs.eod.schedule` must be a 5-field cron expression .*; it has 4 fields$/);
    });

    it("passes the backup agent's own test, run by plain node as in the image", async () => {
        const result = await new Promise<{ code: number; out: string }>((resolve) =>
            execFile(process.execPath, ["--test", path.join(root, "images", "backup", "agent", "test")], { cwd: root }, (err, stdout, stderr) =>
                resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
            ),
        );
        assert.equal(result.code, 0, result.out);
    });
});

describe("the backup agent's /metrics", () => {
    it("gives the health verdict per target, the age of the newest verified backup (none when there is none) and the bound", () => {
        const text = agent.metricsText({
            ok: false,
            staleAfterSeconds: 172800,
            targets: [
                { target: "postgres-app", ok: true, lastVerified: { ageSeconds: 3600 } },
                { target: "sqlite-data", ok: false, lastVerified: null },
            ],
        });
        assert.match(text, /^opsbook_backup_target_fresh\{target="postgres-app"\} 1$/m);
        assert.match(text, /^opsbook_backup_target_fresh\{target="sqlite-data"\} 0$/m);
        assert.match(text, /^opsbook_backup_last_verified_age_seconds\{target="postgres-app"\} 3600$/m);
        assert.doesNotMatch(text, /last_verified_age_seconds\{target="sqlite-data"\}/);
        assert.match(text, /^opsbook_backup_stale_after_seconds 172800$/m);
        assert.match(text, /^opsbook_backup_manifest_readable 1$/m);
        assert.match(agent.metricsText({ ok: false, staleAfterSeconds: 1, problem: "unreadable", targets: [] }), /^opsbook_backup_manifest_readable 0$/m);
        assert.doesNotMatch(text, /offsite/, "no off-site series without an off-site target");
        const withCopy = agent.metricsText({ ok: true, staleAfterSeconds: 10, targets: [], offsite: { ok: false, target: "sftp://b@h/p", ageSeconds: null } });
        assert.match(withCopy, /^opsbook_backup_offsite_fresh\{offsite="sftp:\/\/b@h\/p"\} 0$/m);
        assert.doesNotMatch(withCopy, /offsite_age_seconds\{/, "no age before the first copy");
        assert.doesNotMatch(withCopy, /offsite_wal/, "no shipping series without point-in-time recovery");
        const shipped = agent.metricsText({ ok: true, staleAfterSeconds: 10, targets: [], offsiteWal: { ok: true, target: "sftp://b@h/p", ageSeconds: 12, staleAfterSeconds: 90 } });
        assert.match(shipped, /^opsbook_backup_offsite_wal_fresh\{offsite="sftp:\/\/b@h\/p"\} 1$/m);
        assert.match(shipped, /^opsbook_backup_offsite_wal_age_seconds\{offsite="sftp:\/\/b@h\/p"\} 12$/m);
        assert.match(shipped, /^opsbook_backup_offsite_wal_stale_after_seconds\{offsite="sftp:\/\/b@h\/p"\} 90$/m);
        const proofs = JSON.stringify({ "20261201-030000F": { ok: true, provenAt: "2026-12-01T03:05:00Z" }, "20261202-030000F": { ok: false, provenAt: "2026-12-02T03:06:00Z", problem: "invalid result" } });
        const newest = agent.newestProof(proofs, new Date("2026-12-02T04:06:00Z"));
        assert.deepEqual(newest, { label: "20261202-030000F", ok: false, provenAt: "2026-12-02T03:06:00Z", ageSeconds: 3600, problem: "invalid result" });
        assert.equal(agent.newestProof(undefined, new Date()), undefined);
        assert.equal(agent.newestProof("not json", new Date()), undefined);
        const withProof = agent.metricsText({ ok: true, staleAfterSeconds: 10, targets: [], pitrProof: newest });
        assert.match(withProof, /^opsbook_backup_pitr_proof_ok\{label="20261202-030000F"\} 0$/m);
        assert.match(withProof, /^opsbook_backup_pitr_proof_age_seconds\{label="20261202-030000F"\} 3600$/m);
    });
});
