// Backups with the real engines: a stack's agent takes a first verified backup at deploy, `npm run
// backup` backs up, lists, verifies and restores; rows deleted after a backup come back; a corrupt
// backup file is a FAILED verification and never the restore default; the health signal is the age
// of the last verified backup; production's policy pack sees the schedule. Then the market
// watchdog's SQLite file is backed up online, into a host directory, while the app keeps writing,
// and restored.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { TestStack, agentMetrics, assertSecretsOnlyAsFiles, backupCli, docker, httpGet, httpPost, inspect, postgresApiConfig, printed, requireEngines, taskContainer, waitFor } from "./harness";

const PRODUCTION_POLICY = ["--policy-pack", "policies", "--policy-pack-config", "policies/config/production.json"];


interface Listed {
    name: string;
    target: string | null;
    status: "verified" | "failed" | "unverified";
    sizeBytes: number | null;
    ageSeconds: number;
    trigger: string | null;
    reason: string | null;
    restoreDefault: boolean;
    check: { tables: number; counted: { schema?: string; table: string; rows: number }[] } | null;
}

/** `npm run backup -- ...` for this stack, as a person runs it. */

async function list(stack: TestStack): Promise<Listed[]> {
    const res = await backupCli(stack, ["list", "--json"]);
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout).backups;
}

function rowsOf(entry: Listed | undefined, table: string): number | undefined {
    return entry?.check?.counted.find((c) => c.table === table)?.rows;
}

describe("backups of a Postgres stack", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-backup");
    let api = "";
    let agentService = "";
    let postgresService = "";
    let backedUp = "";
    /** The running task of the agent service (`npm run backup` execs into the same one). */
    const agent = () => taskContainer(agentService);

    before(async () => {
        requireEngines();
        await stack.init(postgresApiConfig());
    });
    after(() => stack.dispose());

    const psql = async (sql: string) => docker("exec", "-u", "postgres", await taskContainer(postgresService), "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", "opsbook_admin", "-d", "app", "-c", sql);
    const items = async () => (await httpGet(`${api}/items`)).body.items as { id: number; name: string }[];

    it("deploys an agent that has a verified first backup before `pulumi up` returns, and says where backups are", async () => {
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        api = outputs.endpoints.api;
        postgresService = outputs.postgresService;
        agentService = outputs.backups.agentService;
        assert.equal(outputs.backups.location, `volume opsbook-${stack.name}-backups`);
        assert.equal(agentService, `opsbook-${stack.name}-backup`);
        assert.equal(outputs.backups.schedule, "0 3 * * * (UTC)");
        assert.equal(outputs.backups.staleAfter, "2d00h");
        assert.match(outputs.backups.next, new RegExp(`^npm run backup -- list --stack ${stack.name}`));
        const first = await list(stack);
        assert.equal(first.length, 1, JSON.stringify(first));
        assert.equal(first[0].status, "verified");
        assert.equal(first[0].trigger, "first");
        assert.match(first[0].name, /^postgres-app-\d{8}T\d{6}Z\.dump$/);
    });

    it("runs the agent hardened, on the stack network only, with a memory limit and the password only in a secret file", async () => {
        const task = await agent();
        const container = await inspect(task, "container");
        assert.deepEqual(container.HostConfig.PortBindings ?? {}, {});
        assert.equal(container.HostConfig.ReadonlyRootfs, true);
        assert.deepEqual(container.HostConfig.CapDrop, ["ALL"]);
        assert.equal(container.HostConfig.Memory, 256 * 1024 * 1024);
        assert.equal(container.Config.User, "10001:10001");
        const service = await inspect(agentService, "service");
        assert.deepEqual(service.Endpoint.Ports ?? [], [], "the agent publishes a port");
        const outputs = await stack.outputs();
        assert.deepEqual(Object.keys(container.NetworkSettings.Networks), [outputs.networks.data], "the agent is on another network than the stack's data network");
        const ps = await docker("exec", task, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
        assert.equal(ps.code, 0, ps.stderr);
        assert.doesNotMatch(ps.stdout, /postgres:\/\/|PGPASSWORD/);
        assert.ok((container.Config.Env as string[]).includes("BACKUP_POSTGRES_URL_FILE=/run/secrets/BACKUP_POSTGRES_URL"), JSON.stringify(container.Config.Env));
        const files = await assertSecretsOnlyAsFiles(stack);
        assert.ok(files >= 3, `only ${files} secret files were checked`);
    });

    it("backs up now: pg_dump -Fc, restored into a scratch database and compared row for row", async () => {
        for (const name of ["alpha", "beta", "gamma", "delta", "epsilon"]) {
            const res = await httpPost(`${api}/items`, { name });
            assert.equal(res.status, 201, JSON.stringify(res.body));
        }
        const res = await backupCli(stack, ["now"]);
        assert.equal(res.code, 0, `${printed(res)}`);
        assert.match(res.stdout, /^verified {2}postgres-app-\d{8}T\d{6}Z\.dump {2}[\d.]+ KiB in [\d.]+s {2}\d+ tables; public\.items 5 rows$/m);
        assert.match(res.stderr, /\[backup\] .*pg_dump -Fc of app at snapshot \S+ .*\(\d+\.\ds\)/);
        assert.match(res.stderr, /\[backup\] .*verify: pg_restore into verify_\d{8}t\d{6}z, compare, drop/);
        const newest = (await list(stack)).find((b) => b.restoreDefault);
        assert.equal(rowsOf(newest, "items"), 5);
        backedUp = newest!.name;
        // No scratch database is left behind.
        const dbs = await psql("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'verify\\_%' OR datname LIKE 'restore\\_%'");
        assert.equal(dbs.stdout.trim(), "");
    });

    it("reports the age of the last verified backup as its health and in its status JSON", async () => {
        // The deploy returns once the health command passes; the engine's own probe runs every 10 s.
        const task = await agent();
        await waitFor("the engine reports the agent healthy", 30, () => docker("inspect", "-f", "{{.State.Health.Status}}", task), (r) => r.stdout.trim() === "healthy");
        const res = await backupCli(stack, ["status"]);
        assert.equal(res.code, 0, res.stderr);
        const status = JSON.parse(res.stdout);
        assert.equal(status.ok, true);
        assert.equal(status.staleAfterSeconds, 2 * 86_400);
        assert.equal(status.targets[0].target, "postgres-app");
        assert.equal(status.targets[0].lastVerified.name, backedUp);
        assert.ok(status.targets[0].lastVerified.ageSeconds >= 0 && status.targets[0].lastVerified.ageSeconds < 600, JSON.stringify(status));

        // The same verdict as the stack's Prometheus reads it from the agent's /metrics, asked from
        // inside the agent's task (the port is published nowhere).
        const metrics = await agentMetrics(task);
        assert.match(metrics, /^200\n/);
        assert.match(metrics, /^opsbook_backup_target_fresh\{target="postgres-app"\} 1$/m);
        assert.match(metrics, /^opsbook_backup_last_verified_age_seconds\{target="postgres-app"\} \d+$/m);
        assert.match(metrics, /^opsbook_backup_stale_after_seconds 172800$/m);
    });

    it("restores deleted rows, after the stack name is typed and a safety backup is taken; the app keeps its grants", async () => {
        const del = await psql("DELETE FROM items");
        assert.equal(del.code, 0, del.stderr);
        assert.equal((await items()).length, 0);

        const refused = await backupCli(stack, ["restore", backedUp], "production\n");
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /Type the stack name \(e2e-backup-[0-9a-f]+\) to go on/);
        assert.match(refused.stderr, /aborted \(you typed 'production'\); nothing was changed/);
        assert.equal((await items()).length, 0);

        const res = await backupCli(stack, ["restore", backedUp], `${stack.name}\n`);
        assert.equal(res.code, 0, `${printed(res)}`);
        assert.match(res.stdout, new RegExp(`^Restored ${backedUp} into database app of stack ${stack.name}\\.$`, "m"));
        assert.match(res.stdout, /READ_ONLY' true/);
        assert.match(res.stdout, /The previous database is kept as app_pre_restore_\d{8}t\d{6}z/);
        assert.match(res.stderr, /swapping restore_\d{8}t\d{6}z in as app/);
        const restored = await waitFor("the api reads the restored rows", 30, () => items(), (rows) => rows.length === 5);
        assert.deepEqual(restored.map((r) => r.name), ["alpha", "beta", "gamma", "delta", "epsilon"]);
        const write = await waitFor("the api writes again", 30, () => httpPost(`${api}/items`, { name: "after-restore" }), (r) => r.status === 201);
        assert.equal(write.body.name, "after-restore");

        const safety = (await list(stack)).find((b) => b.trigger === "pre-restore");
        assert.equal(safety?.status, "verified", "no verified safety backup");
        assert.equal(rowsOf(safety, "items"), 0, "the safety backup holds the data as it was before the restore");
    });

    it("reports a corrupt backup file as FAILED, never offers it for restore, and refuses to restore it", async () => {
        // A truncated copy, as a half-copied file would be.
        const copy = backedUp.replace(/Z\.dump$/, "Z-copy.dump");
        const task = await agent();
        const trunc = await docker("exec", task, "sh", "-c", `head -c "$(($(stat -c %s /backups/${backedUp}) / 2))" /backups/${backedUp} > /backups/${copy}`);
        assert.equal(trunc.code, 0, trunc.stderr);
        const verifyCopy = await backupCli(stack, ["verify", copy]);
        assert.notEqual(verifyCopy.code, 0, "a truncated backup verified");
        assert.match(verifyCopy.stdout, new RegExp(`^FAILED {4}${copy} {2}verification failed: pg_restore failed: `, "m"));

        // Bytes flipped in place in a backup that had verified (bit rot on the disk).
        const flip = await docker("exec", task, "sh", "-c", `printf 'XXXXXXXX' | dd of=/backups/${backedUp} bs=1 seek=2000 conv=notrunc 2>/dev/null`);
        assert.equal(flip.code, 0, flip.stderr);
        const verifyFlipped = await backupCli(stack, ["verify", backedUp]);
        assert.notEqual(verifyFlipped.code, 0, "a corrupted backup verified");
        assert.match(verifyFlipped.stdout, /FAILED .*the file changed since it was written \(sha256 mismatch\): it is corrupt/);

        const listed = await list(stack);
        for (const name of [copy, backedUp]) {
            const e = listed.find((b) => b.name === name);
            assert.equal(e?.status, "failed", JSON.stringify(e));
            assert.equal(e?.restoreDefault, false, `${name} is offered for restore`);
        }
        const human = await backupCli(stack, ["list"]);
        assert.match(human.stdout, new RegExp(`^ +${copy.replace(/\./g, "\\.")} +FAILED `, "m"));

        const refused = await backupCli(stack, ["restore", backedUp]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, new RegExp(`${backedUp} is failed \\(verification failed: .*\\); nothing was changed`));
    });

    it("changes nothing on a second pulumi up", async () => {
        const res = await stack.up(["--expect-no-changes"]);
        assert.equal(res.code, 0, `second pulumi up reported changes or failed:\n${printed(res)}`);
    });

    it("records the schedule in a BackupSchedule resource whose refresh reports the last verified backup", async () => {
        const refresh = await stack.pulumi(["refresh", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(refresh.code, 0, refresh.stderr);
        const exported = JSON.parse((await stack.pulumi(["stack", "export", "--show-secrets"])).stdout);
        const record = exported.deployment.resources.find((r: { type: string }) => r.type.endsWith(":BackupSchedule"));
        assert.ok(record, "no BackupSchedule in the state");
        assert.equal(record.outputs.schedule, "0 3 * * *");
        assert.deepEqual(record.outputs.keep, { days: 7, weeks: 4, months: 6 });
        assert.equal(record.outputs.verify, true);
        assert.equal(record.outputs.healthy, true);
        const newest = (await list(stack)).find((b) => b.restoreDefault);
        assert.equal(record.outputs.targetStatus[0].lastVerified, newest?.name);
    });

    it("passes production's policy pack: the schedule satisfies `backups-scheduled`, which fires without it", async () => {
        // Production also requires content-pinned images (`images-pinned`): pinned as production pins them,
        // and an alert receiver (`monitoring-with-receiver`): a webhook, its URL set as a secret on stdin.
        await stack.pinImages();
        // The value names the config key that holds the URL; the CLI takes `urlSecret` for a secret by its name.
        const monitoringOn = await stack.pulumi(["config", "set", "--path", "opsbook:monitoring.enabled", "true"]);
        assert.equal(monitoringOn.code, 0, monitoringOn.stderr);
        const receiver = await stack.pulumi(["config", "set", "--plaintext", "--path", "opsbook:monitoring.receivers.webhook.urlSecret", "ALERT_WEBHOOK_URL"]);
        assert.equal(receiver.code, 0, receiver.stderr);
        const url = await stack.pulumi(["config", "set", "--secret", "ALERT_WEBHOOK_URL"], "https://alerts.example.net/opsbook");
        assert.equal(url.code, 0, url.stderr);
        const ok = await stack.pulumi(["preview", "--non-interactive", ...PRODUCTION_POLICY]);
        const out = ok.stdout + ok.stderr;
        assert.doesNotMatch(out, /backups-scheduled/, out);
        assert.equal(ok.code, 0, out);

        const off = await stack.pulumi(["config", "set", "--path", "opsbook:backups.enabled", "false"]);
        assert.equal(off.code, 0, off.stderr);
        const refused = await stack.pulumi(["preview", "--non-interactive", ...PRODUCTION_POLICY]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stdout + refused.stderr, /backups-scheduled/);
        await stack.pulumi(["config", "rm", "--path", "opsbook:backups.enabled"]);
        await stack.pulumi(["config", "rm", "--path", "opsbook:monitoring.receivers"]);
        await stack.pulumi(["config", "set", "--path", "opsbook:monitoring.enabled", "false"]);
        await stack.pulumi(["config", "rm", "ALERT_WEBHOOK_URL"]);
        await stack.unpinImages();
    });

    it("`npm run backup` names the agent service and says what to do when no task of it runs", async () => {
        const down = await docker("service", "scale", "--detach=false", `${agentService}=0`);
        assert.equal(down.code, 0, down.stderr);
        try {
            await waitFor("no running agent task", 60, async () => (await docker("ps", "-q", "--filter", `label=com.docker.swarm.service.name=${agentService}`)).stdout.trim(), (out) => out === "");
            const res = await backupCli(stack, ["list"]);
            assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
            assert.match(res.stderr, new RegExp(`no task of the agent service ${agentService} of stack ${stack.name} is running \\('docker service ps ${agentService}' shows why\\); 'npm run deploy -- ${stack.name}' starts it again`));
        } finally {
            const up = await docker("service", "scale", "--detach=false", `${agentService}=1`);
            assert.equal(up.code, 0, up.stderr);
        }
    });
});

describe("online backup of the market watchdog's SQLite file, into a host directory", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-sqlite-bk");
    // The location a user chose on the host; the agent (uid 10001) must be able to write there.
    const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-e2e-backups-"));
    let web = "";
    let agentService = "";

    before(async () => {
        requireEngines();
        if (process.getuid?.() === 0) {
            fs.chownSync(hostDir, 10001, 10001);
        } else {
            fs.chmodSync(hostDir, 0o777);
        }
        await stack.init(`config:\n  opsbook:preset: market-watchdog\n  opsbook:monitoring:\n    enabled: false\n  opsbook:backups:\n    location: ${hostDir}\n`);
    });
    after(async () => {
        await stack.dispose();
        fs.rmSync(hostDir, { recursive: true, force: true });
    });

    it("deploys with the SQLite file on its volume as the target and the host directory as the location", async () => {
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        web = outputs.endpoints.web;
        agentService = outputs.backups.agentService;
        assert.equal(agentService, `opsbook-${stack.name}-backup`);
        assert.deepEqual(outputs.backups.targets, ["sqlite-data-signal_sentinel"]);
        assert.equal(outputs.backups.location, hostDir);
        const first = await list(stack);
        assert.equal(first[0]?.status, "verified", JSON.stringify(first));
        assert.deepEqual(fs.readdirSync(hostDir).sort(), [first[0].name, "manifest.json", "status.json"].sort());
    });

    it("loses no acknowledged write and stops no writer while backups run", async () => {
        // A writer that keeps inserting rows, one request at a time, and remembers every id it got.
        const acked: number[] = [];
        const failures: string[] = [];
        let writing = true;
        const writer = (async () => {
            for (let i = 0; writing; i++) {
                try {
                    const res = await httpPost(`${web}/items`, { name: `w${i}` });
                    if (res.status === 201) {
                        acked.push(res.body.id);
                    } else {
                        failures.push(`${res.status} ${JSON.stringify(res.body)}`);
                    }
                } catch (err) {
                    failures.push(String(err));
                }
            }
        })();
        await waitFor("the writer is writing", 30, async () => acked.length, (n) => n >= 5);
        const rounds: { name: string; ackedBefore: number }[] = [];
        for (let round = 0; round < 3; round++) {
            const ackedBefore = Math.max(...acked);
            const res = await backupCli(stack, ["now", "--json"]);
            assert.equal(res.code, 0, `${printed(res)}`);
            const made = JSON.parse(res.stdout).backups[0];
            assert.equal(made.status, "verified", JSON.stringify(made));
            assert.equal(made.check.integrity, "ok");
            rounds.push({ name: made.name, ackedBefore });
        }
        writing = false;
        await writer;
        assert.deepEqual(failures, [], "a write failed while backups ran");
        const agent = await taskContainer(agentService);
        for (const { name, ackedBefore } of rounds) {
            const count = await docker("exec", agent, "sqlite3", "-readonly", `/backups/${name}`, `SELECT count(*) FROM items WHERE id <= ${ackedBefore}`);
            assert.equal(count.stdout.trim(), String(ackedBefore), `${name} misses a write acknowledged before it started`);
        }
        stack.log(`writer: ${acked.length} rows acknowledged during ${rounds.length} backups, none failed`);
    });

    it("restores the file online: deleted rows come back and the app keeps writing", async () => {
        const newest = (await list(stack)).find((b) => b.restoreDefault)!;
        const expected = rowsOf(newest, "items")!;
        assert.ok(expected > 0);
        const del = await docker("exec", await taskContainer(agentService), "sqlite3", "/sources/data/signal_sentinel.db", ".timeout 5000", "DELETE FROM items");
        assert.equal(del.code, 0, del.stderr);
        assert.equal((await httpGet(`${web}/items`)).body.items.length, 0);

        const res = await backupCli(stack, ["restore", "--force"]);
        assert.equal(res.code, 0, `${printed(res)}`);
        assert.match(res.stdout, new RegExp(`^Restored ${newest.name} into the live SQLite file /sources/data/signal_sentinel\\.db`, "m"));
        assert.equal((await httpGet(`${web}/items`)).body.items.length, expected);
        const write = await httpPost(`${web}/items`, { name: "after-restore" });
        assert.equal(write.status, 201, JSON.stringify(write.body));
        const status = JSON.parse((await backupCli(stack, ["status"])).stdout);
        assert.equal(status.ok, true, JSON.stringify(status));
    });
});
