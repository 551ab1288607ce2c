// The host-loss drill of issue 13 with the real engine and a real SSH host (an sshd-only network
// namespace, test/hosts/server.sh): a Postgres stack with point-in-time recovery ships its
// pgBackRest repository (base backups + WAL archive) off-site every `walEverySeconds`; a steady
// writer records every acknowledged row and when; the host is lost (the agent stops shipping, then
// the stack, its database volume and its backup location volume are destroyed); a fresh stack
// restores from the off-site copy alone. Every row acknowledged up to (loss - the shipping bound)
// must be back, nothing that was never written may appear. A restore without the lost stack's
// repository key, or with another key, is refused before anything changes, naming the key.
// Figures (RPO measured, restore time) are printed, not asserted beyond the bound.
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestStack, agentMetrics, backupCli, docker, httpPost, postgresApiConfig, printed, requireEngines, taskContainer, waitFor } from "./harness";
import { TestServer, startOffsiteHost, stopTestServer } from "../hosts/server";

// Addresses of this file on the test bridge (.41/.42 belong to offsite.test.ts).
const HOST_NAME = "opsbook-os3";
const HOST_ADDRESS = "10.213.0.43";
/** archive_timeout and the shipping interval of the drill: the floor of both. */
const ARCHIVE_TIMEOUT = 10;
const WAL_EVERY = 10;
/**
 * The most seconds of acknowledged writes a host loss may cost: a segment waits up to
 * archive_timeout to be archived, then up to one shipping interval plus one transfer to be
 * shipped. The transfer is bounded generously here (the machine is shared).
 */
const SHIPPING_BOUND = ARCHIVE_TIMEOUT + WAL_EVERY + 20;

function figure(name: string, value: string): void {
    process.stderr.write(`[figure] ${name}: ${value}\n`);
}

function stackConfig(target: string, knownHosts: string): string {
    return postgresApiConfig({
        backups:
            `    pointInTime:\n      archiveTimeoutSeconds: ${ARCHIVE_TIMEOUT}\n` +
            `    offsite:\n      target: ${target}\n      knownHosts: "${knownHosts}"\n      walEverySeconds: ${WAL_EVERY}\n`,
    });
}

async function setSecret(stack: TestStack, name: string, value: string): Promise<void> {
    // On stdin, as an operator pastes it: never on a command line.
    const res = await stack.pulumi(["config", "set", "--secret", name], value);
    assert.equal(res.code, 0, res.stderr);
}

describe("host loss: a fresh stack restores Postgres from the off-site pgBackRest repository alone", { timeout: 25 * 60 * 1000 }, () => {
    let host: TestServer;
    let target = "";
    const encryptionKey = crypto.randomBytes(36).toString("base64");
    const lost = new TestStack("e2e-offwal");
    const fresh = new TestStack("e2e-offwal2");
    let repositoryKey = "";
    const acked: { name: string; at: number }[] = [];
    const attempted = new Set<string>();
    let lossAt = 0;

    before(async () => {
        requireEngines();
        ({ host, target } = await startOffsiteHost(HOST_NAME, HOST_ADDRESS));
    });
    after(async () => {
        await lost.dispose();
        await fresh.dispose();
        await stopTestServer(HOST_NAME);
    });

    const init = async (stack: TestStack) => {
        await stack.init(stackConfig(target, host.knownHosts));
        // The content-addressed tags: a toolchain run elsewhere may move the stable ones.
        await stack.pinImages();
        await setSecret(stack, "OFFSITE_SSH_KEY", fs.readFileSync(host.identityFile, "utf8"));
        await setSecret(stack, "OFFSITE_ENCRYPTION_KEY", encryptionKey);
    };
    const status = async (stack: TestStack) => {
        const res = await backupCli(stack, ["status", "--json"]);
        assert.equal(res.code, 0, res.stderr);
        return JSON.parse(res.stdout);
    };
    const psql = async (stack: TestStack, sql: string) => {
        const pg = await taskContainer((await stack.outputs()).postgresService);
        return docker("exec", pg, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "/var/run/postgresql", "-U", "opsbook_admin", "-d", "app", "-c", sql);
    };

    it("ships the pgBackRest repository off-site every walEverySeconds, its age in status and /metrics", async () => {
        await init(lost);
        const up = await lost.up();
        assert.equal(up.code, 0, `pulumi up failed:\n${printed(up)}`);
        const outputs = await lost.outputs();
        assert.equal(outputs.backups.offsite.walEverySeconds, WAL_EVERY);
        assert.equal(outputs.backups.pointInTime.keySource, "generated");
        repositoryKey = outputs.pitrRepositoryKey;
        assert.equal(repositoryKey.length, 64);
        // A proven base backup, shipped: what a restore after a host loss starts from.
        const proven = await waitFor(
            "a proven base backup and a shipment after it",
            300,
            () => status(lost),
            (s) => {
                const p = (s.pointInTime?.backups ?? []).find((b: { proof: { ok: boolean; provenAt: string } | null }) => b.proof?.ok === true);
                return p !== undefined && s.offsiteWal?.lastShippedAt !== null && Date.parse(s.offsiteWal.lastShippedAt) > Date.parse(p.proof.provenAt);
            },
        );
        assert.equal(proven.offsiteWal.ok, true, JSON.stringify(proven.offsiteWal));
        assert.equal(proven.offsiteWal.everySeconds, WAL_EVERY);
        assert.match(proven.offsiteWal.systemId, /^\d+$/);
        const shippedAt = proven.offsiteWal.lastShippedAt;
        const next = await waitFor("the next shipment", 3 * WAL_EVERY + 30, () => status(lost), (s) => s.offsiteWal.lastShippedAt !== shippedAt);
        const gap = (Date.parse(next.offsiteWal.lastShippedAt) - Date.parse(shippedAt)) / 1000;
        figure("shipping interval (s between two shipments of the pgBackRest repository)", `${gap.toFixed(1)} (walEverySeconds ${WAL_EVERY}; last shipment took ${next.offsiteWal.durationMs} ms, ${next.offsiteWal.bytesAdded} B new; npm run backup -- status)`);
        assert.ok(gap < 3 * WAL_EVERY, `shipments ${gap} s apart`);
        const metrics = await agentMetrics(await taskContainer(outputs.backups.agentService));
        const where = `\\{offsite="${target.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"\\}`;
        assert.match(metrics, new RegExp(`^opsbook_backup_offsite_wal_fresh${where} 1$`, "m"), metrics);
        assert.match(metrics, new RegExp(`^opsbook_backup_offsite_wal_age_seconds${where} \\d+$`, "m"), metrics);
        assert.match(metrics, new RegExp(`^opsbook_backup_offsite_wal_stale_after_seconds${where} ${3 * WAL_EVERY + 60}$`, "m"), metrics);
    });

    it("loses the host under a steady writer: shipping stops, then the stack, its database volume and its backup volume are destroyed", async () => {
        const outputs = await lost.outputs();
        const api = outputs.endpoints.api;
        let writing = true;
        let failures = 0;
        const writer = (async () => {
            for (let i = 0; writing; i++) {
                const name = `w-${i}`;
                attempted.add(name);
                const res = await httpPost(`${api}/items`, { name }).catch(() => ({ status: 0, body: null }));
                if (res.status === 201) {
                    acked.push({ name, at: Date.now() });
                } else {
                    failures += 1;
                }
                await new Promise((r) => setTimeout(r, 100));
            }
        })();
        // Long enough for several segment switches and shipments under the writer.
        await new Promise((r) => setTimeout(r, 45_000));
        // The loss: from here on nothing reaches the other host. The agent goes first, so the
        // moment is exact; the database keeps acknowledging for a moment, as a dying host might.
        const stopped = await docker("service", "scale", "--detach=false", `${outputs.backups.agentService}=0`);
        assert.equal(stopped.code, 0, stopped.stderr);
        lossAt = Date.now();
        writing = false;
        await writer;
        assert.equal(failures, 0, "the writer saw failures before the loss");
        assert.ok(acked.filter((a) => a.at <= lossAt).length > 100, `only ${acked.length} rows acknowledged`);
        lost.log(`loss at ${new Date(lossAt).toISOString()}, ${acked.filter((a) => a.at <= lossAt).length} rows acknowledged before it`);

        await lost.dispose();
        assert.deepEqual(await lost.volumes(), []);
        assert.equal((await docker("volume", "inspect", `opsbook-${lost.name}-backups`)).code, 1, "the backup location volume survived");
        assert.equal((await docker("volume", "inspect", `opsbook-${lost.name}-postgres-data`)).code, 1, "the database volume survived");
    });

    it("refuses to restore without the lost stack's key, and with another key, naming PITR_REPOSITORY_KEY, before anything changes", async () => {
        await init(fresh);
        const up = await fresh.up();
        assert.equal(up.code, 0, `pulumi up of the fresh stack failed:\n${printed(up)}`);
        const missing = await backupCli(fresh, ["restore", "--from-offsite", "--to", "latest", "--force"]);
        assert.equal(missing.code, 2, `${missing.stdout}\n${missing.stderr}`);
        assert.match(missing.stderr, /`opsbook:PITR_REPOSITORY_KEY` is not set: stack e2e-offwal2-\w+ runs with a key it generated.*nothing was changed/);

        await setSecret(fresh, "PITR_REPOSITORY_KEY", crypto.randomBytes(48).toString("base64"));
        const wrongUp = await fresh.up();
        assert.equal(wrongUp.code, 0, `pulumi up with another key failed:\n${printed(wrongUp)}`);
        assert.equal((await fresh.outputs()).backups.pointInTime.keySource, "PITR_REPOSITORY_KEY");
        const wrong = await backupCli(fresh, ["restore", "--from-offsite", "--to", "latest", "--force"]);
        assert.equal(wrong.code, 2, `${wrong.stdout}\n${wrong.stderr}`);
        assert.match(wrong.stderr, /`opsbook:PITR_REPOSITORY_KEY` does not open the pgBackRest repository fetched from the off-site copy .*nothing was changed/);
        assert.ok(!`${wrong.stdout}${wrong.stderr}`.includes(repositoryKey), "the key is in the output");
        // Nothing changed: no restore recorded, the fresh database still empty of the writer's rows.
        assert.equal((await docker("exec", await taskContainer((await fresh.outputs()).postgresService), "pitr", "restored")).stdout.trim(), "null");
        assert.equal((await psql(fresh, "SELECT count(*) FROM items")).stdout.trim(), "0");
    });

    it("restores the latest base backup plus the shipped WAL: every row acknowledged up to (loss - bound), nothing invented", async () => {
        await setSecret(fresh, "PITR_REPOSITORY_KEY", repositoryKey);
        const up = await fresh.up();
        assert.equal(up.code, 0, `pulumi up with the kept key failed:\n${printed(up)}`);
        const t0 = Date.now();
        const res = await backupCli(fresh, ["restore", "--from-offsite", "--to", "latest", "--force"]);
        const restoreSeconds = (Date.now() - t0) / 1000;
        if (res.code !== 0) {
            const logs = await docker("service", "logs", "--tail", "80", (await fresh.outputs()).postgresService);
            assert.fail(`${res.stdout}\n${res.stderr}\n--- Postgres log:\n${logs.stdout}\n${logs.stderr}`);
        }
        const lostSystemId = /fetched the pgBackRest repository of database (\d+) from the off-site copy: snapshot [0-9a-f]{8}/.exec(res.stderr)?.[1];
        assert.ok(lostSystemId, res.stderr);
        assert.match(res.stdout, /^Restored Postgres of stack e2e-offwal2-\w+ to the latest archived point .* of the lost database \d+ in \d+ s\.$/m);
        assert.match(res.stdout, /READ-ONLY/);

        const rows = await psql(fresh, "SELECT name FROM items WHERE name LIKE 'w-%' ORDER BY id");
        assert.equal(rows.code, 0, rows.stderr);
        const recovered = rows.stdout.split("\n").filter(Boolean);
        const have = new Set(recovered);
        // Nothing invented: every row is one the writer sent, in the order it sent them, with no gap.
        assert.deepEqual(recovered, recovered.map((_, i) => `w-${i}`), "the recovered rows are not a gapless prefix of the writes");
        assert.ok(recovered.every((n) => attempted.has(n)));
        const required = acked.filter((a) => a.at <= lossAt - SHIPPING_BOUND * 1000);
        const missing = required.filter((a) => !have.has(a.name));
        assert.deepEqual(missing, [], `rows acknowledged more than ${SHIPPING_BOUND} s before the loss are missing`);
        const lastRecovered = acked.filter((a) => have.has(a.name)).reduce((t, a) => Math.max(t, a.at), 0);
        assert.ok(lastRecovered > 0, "no acknowledged row was recovered");
        const rpo = Math.max(0, (lossAt - lastRecovered) / 1000);
        figure(
            "RPO on host loss (s of acknowledged writes lost = loss - last recovered acknowledged write)",
            `${rpo.toFixed(1)} (archive_timeout ${ARCHIVE_TIMEOUT} s, walEverySeconds ${WAL_EVERY} s; ${recovered.length} of ${acked.filter((a) => a.at <= lossAt).length} rows acknowledged before the loss recovered; node --import tsx --test test/e2e/offsiteWal.test.ts)`,
        );
        figure("restore from the off-site copy alone into a fresh stack", `${restoreSeconds.toFixed(1)} s (fetch + key check + safety dump + swap + pgbackrest restore + WAL replay + promote; npm run backup -- restore --from-offsite --to latest --force)`);

        const refused = await psql(fresh, "INSERT INTO items(name) VALUES ('while-read-only')");
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /read-only transaction/);
        const confirm = await backupCli(fresh, ["confirm"]);
        assert.equal(confirm.code, 0, confirm.stderr);
        const confirmedAt = Date.now();
        // The restored cluster keeps archiving into the repository it came from, and ships it
        // again, tagged as the lost database (a shipment made while the server was restarting
        // carries no database tag: the agent reads the identifier from the live server).
        const s = await waitFor(
            "the restored database archived and shipped again",
            120,
            () => status(fresh),
            (st) => st.offsiteWal?.ok === true && Date.parse(st.offsiteWal.lastShippedAt) > confirmedAt && st.offsiteWal.systemId !== null && st.pointInTime?.archive?.server?.lastArchivedAt !== null,
        );
        assert.equal(s.offsiteWal.systemId, lostSystemId, JSON.stringify(s.offsiteWal));
    });
});
