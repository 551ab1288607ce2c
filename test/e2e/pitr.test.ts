// Point-in-time recovery drills with the real engines (issue 13, items 1 and 4): a Postgres stack
// archives WAL with pgBackRest into `<backup location>/pgbackrest` and proves its first base
// backup; a steady writer posts rows through the api; at a time T between two acknowledged
// writes the test notes T, the writer keeps going; restoring to T (first into a scratch
// database, then into the live one) finds exactly the rows acknowledged up to T and none after;
// the restored database is read-only until `confirm`; targets outside the range are refused
// before anything changes; a corrupt archived WAL file makes verification fail loudly, naming it.
// Figures (base backup, archive lag under the writer, restore durations) are printed, not asserted.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { TestStack, agentMetrics, backupCli, docker, httpPost, postgresApiConfig, printed, requireEngines, taskContainer, waitFor } from "./harness";

// An api on Postgres (its migrations make the /items table); archive_timeout at its floor so the
// drill does not wait a minute for a segment switch.
const PITR_SLICE = postgresApiConfig({ monitoring: true, backups: "    pointInTime:\n      archiveTimeoutSeconds: 10\n" });

/** A time as the operator types it: UTC, milliseconds. */
function typed(at: Date): string {
    return at.toISOString().replace("T", " ").replace("Z", "");
}

function figure(name: string, value: string): void {
    process.stderr.write(`[figure] ${name}: ${value}\n`);
}

describe("point-in-time recovery of Postgres with pgBackRest", { timeout: 10 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-pitr");
    let api = "";
    let postgresService = "";

    before(async () => {
        requireEngines();
        await stack.init(PITR_SLICE);
        // The content-addressed tags: a toolchain run elsewhere may move the stable ones.
        await stack.pinImages();
    });
    after(() => stack.dispose());

    const pg = () => taskContainer(postgresService);
    const psql = async (sql: string, db = "app") => docker("exec", await pg(), "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "/var/run/postgresql", "-U", "opsbook_admin", "-d", db, "-c", sql);
    const status = async () => {
        const res = await backupCli(stack, ["status", "--json"]);
        assert.equal(res.code, 0, res.stderr);
        return JSON.parse(res.stdout);
    };

    it("deploys Postgres archiving into <location>/pgbackrest, encrypted, with the key only in a secret file, and proves a first base backup", async () => {
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        api = outputs.endpoints.api;
        postgresService = outputs.postgresService;
        assert.equal(outputs.backups.pointInTime.repository, `volume opsbook-${stack.name}-backups/pgbackrest`);
        assert.equal(outputs.backups.pointInTime.archiveTimeoutSeconds, 10);
        const key: string = outputs.pitrRepositoryKey;
        assert.equal(key.length, 64);

        const task = await pg();
        const env = await docker("inspect", "-f", "{{json .Config.Env}}", task);
        assert.doesNotMatch(env.stdout, new RegExp(key), "the repository key is in the environment");
        assert.match(env.stdout, /PITR_CIPHER_PASS_FILE=\/run\/secrets\/PITR_CIPHER_PASS/);
        const ps = await docker("exec", task, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
        assert.doesNotMatch(ps.stdout, new RegExp(key), "the repository key is on a command line");
        const conf = await docker("exec", task, "stat", "-c", "%a %u", "/tmp/pgbackrest/pgbackrest.conf");
        assert.equal(conf.stdout.trim(), "600 999");
        // Encrypted at rest: the key is nowhere in the repository, and pgBackRest's own info file,
        // plain text in an unencrypted repository, is ciphertext here.
        const grep = await docker("exec", task, "sh", "-c", `grep -rl -- '${key}' /backups/pgbackrest || true`);
        assert.equal(grep.stdout.trim(), "");
        const info = await waitFor("the stanza's archive.info", 120, () => docker("exec", task, "sh", "-c", "head -c 512 /backups/pgbackrest/archive/main/archive.info | od -c | head -3"), (r) => r.code === 0 && r.stdout.length > 0);
        assert.doesNotMatch(info.stdout, /\[ *d *b *\]|b +a +c +k +r +e +s +t/, "archive.info is plain text: the repository is not encrypted");

        const t0 = Date.now();
        const proven = await waitFor(
            "a proven pgBackRest base backup",
            240,
            () => status(),
            (s) => (s.pointInTime?.backups ?? []).some((b: { proof: { ok: boolean } | null }) => b.proof?.ok === true),
        );
        const first = proven.pointInTime.backups[0];
        stack.log(`first base backup ${first.label} proven (waited ${Math.round((Date.now() - t0) / 1000)}s after the deploy)`);
        figure("first base backup", `${first.label}: ${first.databaseBytes} B database, ${first.repoBytes} B in the repository (compressed, encrypted), ${first.stoppedAt - first.startedAt} s`);
        // Archiving failed (and Postgres kept the WAL) until the agent had made the repository
        // directory; since then every segment went out.
        const server = proven.pointInTime.archive.server;
        assert.ok(server.lastArchivedAt && (!server.lastFailedAt || Date.parse(server.lastArchivedAt) > Date.parse(server.lastFailedAt)), JSON.stringify(server));
    });

    it("restores to a time T: exactly the rows acknowledged up to T, none after (scratch first, then live, read-only until confirmed)", async () => {
        const acked: { name: string; at: number }[] = [];
        let writing = true;
        let failures = 0;
        // T is noted by the writer itself, right after an acknowledgement and before the next
        // request: no write is in flight at T, so every row is either acknowledged up to T or
        // started after it.
        let markAsked = false;
        let T: Date | undefined;
        let before = 0;
        const writer = (async () => {
            for (let i = 0; writing; i++) {
                const res = await httpPost(`${api}/items`, { name: `w-${i}` }).catch(() => ({ status: 0, body: null }));
                if (res.status === 201) {
                    acked.push({ name: `w-${i}`, at: Date.now() });
                } else {
                    failures += 1;
                }
                if (markAsked && T === undefined) {
                    T = new Date();
                    before = acked.length;
                    await new Promise((r) => setTimeout(r, 5));
                }
                await new Promise((r) => setTimeout(r, 50));
            }
        })();
        await waitFor("the writer has acknowledged rows", 30, async () => acked.length, (n) => n >= 20);
        markAsked = true;
        await waitFor("the writer noted T", 10, async () => T, (t) => t !== undefined);
        const lagSamples: number[] = [];
        const lagUntil = Date.now() + 12_000;
        while (Date.now() < lagUntil) {
            const info = await docker("exec", await pg(), "pitr", "info");
            lagSamples.push(JSON.parse(info.stdout).archive.server.secondsSinceLastArchived);
            await new Promise((r) => setTimeout(r, 1000));
        }
        writing = false;
        await writer;
        assert.ok(T);
        const mark: Date = T;
        const upToT = acked.filter((a) => a.at <= mark.getTime()).map((a) => a.name);
        const afterT = acked.filter((a) => a.at > mark.getTime()).map((a) => a.name);
        assert.equal(upToT.length, before);
        assert.ok(afterT.length > 10, `only ${afterT.length} rows written after T`);
        assert.equal(failures, 0);
        figure("archive lag under the writer (s since the last archived WAL, sampled about every second)", `${lagSamples.join(", ")} (archive_timeout 10 s; ${acked.length} rows in ${((acked[acked.length - 1].at - acked[0].at) / 1000).toFixed(1)} s)`);

        // Scratch: the live database is untouched.
        let t0 = Date.now();
        const scratch = await backupCli(stack, ["restore", "--to", typed(mark), "--scratch", "--json"]);
        assert.equal(scratch.code, 0, `${printed(scratch)}`);
        figure("restore to a time into a scratch database", `${((Date.now() - t0) / 1000).toFixed(1)} s (command: npm run backup -- restore --to "${typed(mark)}" --scratch)`);
        const copy = JSON.parse(scratch.stdout).database as string;
        assert.match(copy, /^app_pitr_\d{8}t\d{6}$/);
        const inCopy = await psql("SELECT name FROM items WHERE name LIKE 'w-%' ORDER BY id", copy);
        assert.deepEqual(inCopy.stdout.split("\n").filter(Boolean), upToT);
        const live = await psql("SELECT count(*) FROM items WHERE name LIKE 'w-%'");
        assert.equal(Number(live.stdout.trim()), acked.length, "the scratch restore changed the live database");

        // Live: safety backup, restart, replay to T, promote.
        t0 = Date.now();
        const res = await backupCli(stack, ["restore", "--to", typed(mark), "--force"]);
        assert.equal(res.code, 0, `${printed(res)}`);
        figure("restore to a time into the live database (safety backup, restart, replay, promote)", `${((Date.now() - t0) / 1000).toFixed(1)} s (command: npm run backup -- restore --to "${typed(mark)}" --force)`);
        assert.match(res.stdout, /READ-ONLY/);
        assert.match(res.stdout, /npx opsbook read-only on/);
        assert.match(res.stdout, /Undo .*restore \d{8}-\d{6}F_\d{8}-\d{6}I/);
        const rows = await psql("SELECT name FROM items WHERE name LIKE 'w-%' ORDER BY id");
        assert.equal(rows.code, 0, rows.stderr);
        assert.deepEqual(rows.stdout.split("\n").filter(Boolean), upToT, "the restored rows are not exactly those acknowledged up to T");

        const refused = await psql("INSERT INTO items(name) VALUES ('while-read-only')");
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /read-only transaction/);
        const confirm = await backupCli(stack, ["confirm"]);
        assert.equal(confirm.code, 0, confirm.stderr);
        await waitFor("the api writes again", 30, () => httpPost(`${api}/items`, { name: "after-confirm" }), (r) => r.status === 201);
    });

    it("refuses a target before the oldest proven backup or in the future before anything changes, naming the range", async () => {
        const beforeRestore = (await status()).pointInTime.restored;
        for (const to of ["2000-01-01 00:00:00", "2999-01-01 00:00:00"]) {
            const res = await backupCli(stack, ["restore", "--to", to, "--force"]);
            assert.equal(res.code, 2, `${to}: ${res.stdout}\n${res.stderr}`);
            assert.match(res.stderr, /possible: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \.\. \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \(now\), or `latest`; nothing was changed/);
        }
        const bad = await backupCli(stack, ["restore", "--to", "yesterday", "--force"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /is not a time/);
        assert.deepEqual((await status()).pointInTime.restored, beforeRestore);
    });

    it("takes and proves a full base backup on demand, and lists it with the archive lag", async () => {
        const t0 = Date.now();
        const res = await backupCli(stack, ["now", "--full"]);
        assert.equal(res.code, 0, `${printed(res)}`);
        const line = res.stdout.split("\n").find((l) => l.startsWith("{") && l.includes('"label"'));
        assert.ok(line, res.stdout);
        const b = JSON.parse(line);
        assert.equal(b.type, "full");
        figure("full base backup + proof (pgbackrest verify + scratch restore + sanity query)", `${((Date.now() - t0) / 1000).toFixed(1)} s in all; backup ${b.durationMs} ms, ${b.repoBytes} B in the repository (command: npm run backup -- now --full)`);
        const list = await backupCli(stack, ["list"]);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /archiving: last WAL archived \d+ s ago/);
        assert.match(list.stdout, new RegExp(`${b.label} +full .*proven`));
    });

    it("fails verification loudly when an archived WAL file is corrupt, naming the file", async () => {
        const sabotage = await docker("exec", await pg(), "pitr", "sabotage-wal");
        assert.equal(sabotage.code, 0, sabotage.stderr);
        const file = sabotage.stdout.trim().split("/").pop()!;
        const res = await backupCli(stack, ["verify"]);
        assert.notEqual(res.code, 0, "verification passed with a corrupt WAL file");
        assert.ok(`${res.stdout}\n${res.stderr}`.includes(file), `the failure does not name ${file}:\n${res.stdout}\n${res.stderr}`);
        assert.match(res.stderr, /PROOF FAILED: pgbackrest verify failed/);
        const s = await status();
        const newest = s.pointInTime.backups[s.pointInTime.backups.length - 1];
        assert.equal(newest.proof.ok, false);
        // The stack's Prometheus reads the same verdict from the backup agent (PitrProofFailed fires on it).
        const agent = await taskContainer((await stack.outputs()).backups.agentService);
        const metrics = await agentMetrics(agent);
        assert.match(metrics, new RegExp(`^opsbook_backup_pitr_proof_ok\\{label="${newest.label}"\\} 0$`, "m"), metrics);
    });
});
