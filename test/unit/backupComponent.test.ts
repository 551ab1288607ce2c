// The Backups component under Pulumi mocks: what it registers for a Postgres stack and for the
// market watchdog's SQLite file, and that the database password travels only as a secret file.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { Registered, TYPES, reveal, setRecordingMocks, unwrap } from "./mocks";

const PASSWORD = "Sup3rSecretAdminPassw0rd";
const SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQOffsiteKeyBody\n-----END OPENSSH PRIVATE KEY-----\n";
const ENCRYPTION_KEY = "Offsite-Encryption-Key-0123456789abcdef";
const HOST_LINE = "10.213.0.41 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEsuReh3C1ajYG0+Xip1Vu82VZoVQ96ubnDhwSZrpqs5";
const registered: Registered[] = setRecordingMocks();

// Imported after the mocks are set: components register resources as soon as they are built.
import type * as BackupModule from "../../components/backup";

function byName(name: string): Registered {
    const found = registered.find((r) => r.name === name);
    assert.ok(found, `${name} was not registered; registered: ${registered.map((r) => r.name).join(", ")}`);
    return found;
}

function labelOf(r: Registered, label: string): string | undefined {
    return (r.inputs.labels as { label: string; value: string }[] | undefined)?.find((l) => l.label === label)?.value;
}

const identity = { project: "opsbook", stack: "staging" };
const image = { reference: "opsbook/backup:1", id: "sha256:5555" };
const network = (name: string) => ({ name: pulumi.output(name), id: pulumi.output(`${name}-id`) });
/** A host directory for the watchdog's backups: the component refuses one that does not exist. */
const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-backups-"));

describe("Backups under mocks", () => {
    let mod: typeof BackupModule;
    let postgresSummary: BackupModule.BackupsSummary;
    let offsiteSummary: BackupModule.BackupsSummary;
    let shippingSummary: BackupModule.BackupsSummary;

    before(async () => {
        mod = await import("../../components/backup");
        const pg = new mod.Backups("pg", {
            identity,
            network: network("net-1"),
            image,
            targets: [{ id: "postgres-app", kind: "postgres", database: "app" }],
            postgresAdminUrl: pulumi.secret(`postgres://opsbook_admin:${PASSWORD}@postgres:5432/app`),
            schedule: "30 2 * * *",
        });
        const lite = new mod.Backups("lite", {
            identity: { project: "opsbook", stack: "watchdog" },
            network: network("net-2"),
            image,
            targets: [{ id: "sqlite-data-signal_sentinel", kind: "sqlite", volume: "data", file: "signal_sentinel.db", path: "/sources/data/signal_sentinel.db" }],
            volumes: { data: "opsbook-watchdog-data" },
            location: hostDir,
            keep: { days: 7, weeks: 0, months: 0 },
        });
        const off = new mod.Backups("off", {
            identity: { project: "opsbook", stack: "offsite" },
            network: network("net-3"),
            image,
            targets: [{ id: "postgres-app", kind: "postgres", database: "app" }],
            postgresAdminUrl: pulumi.secret(`postgres://opsbook_admin:${PASSWORD}@postgres:5432/app`),
            offsite: { target: "sftp://backup@10.213.0.41/srv/opsbook", knownHosts: HOST_LINE, sshKey: pulumi.secret(SSH_KEY), encryptionKey: pulumi.secret(ENCRYPTION_KEY) },
        });
        const shipping = new mod.Backups("offwal", {
            identity: { project: "opsbook", stack: "offwal" },
            network: network("net-4"),
            image,
            targets: [{ id: "postgres-app", kind: "postgres", database: "app" }],
            postgresAdminUrl: pulumi.secret(`postgres://opsbook_admin:${PASSWORD}@postgres:5432/app`),
            pointInTime: { keepFull: 7, fullEveryHours: 24, archiveTimeoutSeconds: 30, keySource: "generated" },
            offsite: { target: "sftp://backup@10.213.0.41/srv/opsbook", knownHosts: HOST_LINE, sshKey: pulumi.secret(SSH_KEY), encryptionKey: pulumi.secret(ENCRYPTION_KEY), walEverySeconds: 15 },
        });
        shippingSummary = await unwrap(shipping.summary);
        postgresSummary = await unwrap(pg.summary);
        offsiteSummary = await unwrap(off.summary);
        await unwrap(lite.summary);
    });

    it("ships the pgBackRest repository off-site every walEverySeconds when point-in-time recovery and an off-site target are on", () => {
        assert.equal(byName("offwal-agent").inputs.taskSpec.containerSpec.env.BACKUP_OFFSITE_WAL_EVERY, "15");
        assert.equal(byName("off-agent").inputs.taskSpec.containerSpec.env.BACKUP_OFFSITE_WAL_EVERY, undefined, "nothing to ship without point-in-time recovery");
        assert.equal(shippingSummary.offsite?.walEverySeconds, 15);
        assert.equal(shippingSummary.pointInTime?.keySource, "generated");
    });

    it("runs one hardened, unpublished agent service with a memory limit and a health check on the age of the last verified backup", () => {
        const agent = byName("pg-agent");
        assert.equal(agent.type, TYPES.service);
        const spec = agent.inputs.taskSpec.containerSpec;
        assert.equal(agent.inputs.name, "opsbook-staging-backup");
        assert.deepEqual(agent.inputs.endpointSpec, { mode: "dnsrr" });
        assert.equal(labelOf(agent, "opsbook.component"), "backup");
        assert.deepEqual(agent.inputs.mode, { replicated: { replicas: 1 } });
        assert.equal(agent.inputs.taskSpec.resources.limits.memoryBytes, 256 * 1024 * 1024);
        assert.equal(agent.inputs.taskSpec.restartPolicy.condition, "any");
        assert.equal(spec.readOnly, true);
        assert.deepEqual(spec.capDrops, ["ALL"]);
        assert.equal(spec.image, "sha256:5555");
        assert.deepEqual(spec.commands, ["backup-agent", "serve"]);
        assert.deepEqual(spec.healthcheck.tests, ["CMD", "backup-agent", "health"]);
        assert.deepEqual(spec.configs, [], "the agent does not run the HTTP probe");
        assert.deepEqual(agent.inputs.taskSpec.networksAdvanceds, [{ id: "net-1-id", aliases: ["backup"] }]);
        assert.deepEqual(
            spec.mounts.filter((m: { type: string }) => m.type === "volume"),
            [{ type: "volume", source: "opsbook-staging-backups", target: "/backups", readOnly: false }],
        );
        assert.equal(spec.env.BACKUP_SCHEDULE, "30 2 * * *");
        assert.deepEqual(JSON.parse(spec.env.BACKUP_TARGETS), [{ id: "postgres-app", kind: "postgres", database: "app" }]);
        // Two agents on one location would prune each other's view of the manifest.
        assert.equal(agent.inputs.updateConfig.order, "stop-first");
        assert.equal(agent.options.deleteBeforeReplace, true);
    });

    it("gives the agent the superuser URL as a secret file only: not in env, the command, labels or outputs", () => {
        const agent = byName("pg-agent");
        const spec = agent.inputs.taskSpec.containerSpec;
        assert.equal(spec.env.BACKUP_POSTGRES_URL_FILE, "/run/secrets/BACKUP_POSTGRES_URL");
        assert.ok(!("BACKUP_POSTGRES_URL" in spec.env));
        const secret = byName("opsbook-staging-backup-postgres-url");
        assert.equal(secret.type, TYPES.secret);
        assert.equal(labelOf(secret, "opsbook.secret-env"), "BACKUP_POSTGRES_URL");
        const data = reveal(secret.inputs.data);
        assert.equal(data.secret, true, "the URL reached the provider in plain text");
        assert.equal(Buffer.from(data.value, "base64").toString("utf8"), `postgres://opsbook_admin:${PASSWORD}@postgres:5432/app`);
        // Readable by the agent's user alone.
        assert.deepEqual(spec.secrets, [
            {
                secretId: "opsbook-staging-backup-postgres-url-id",
                secretName: "opsbook-staging-backup-postgres-url-abc1234",
                fileName: "/run/secrets/BACKUP_POSTGRES_URL",
                fileUid: "10001",
                fileGid: "10001",
                fileMode: 0o400,
            },
        ]);
        const plain = JSON.stringify({ service: agent.inputs, summary: postgresSummary, labels: secret.inputs.labels });
        assert.doesNotMatch(plain, new RegExp(PASSWORD));
        const contract = JSON.parse(labelOf(agent, "opsbook.env-contract") ?? "{}");
        assert.deepEqual(contract.required, ["BACKUP_POSTGRES_URL"]);
        assert.deepEqual(JSON.parse(labelOf(agent, "opsbook.secrets") ?? "{}"), { BACKUP_POSTGRES_URL: "BACKUP_POSTGRES_URL" });
    });

    it("registers a BackupSchedule record (what `backups-scheduled` looks for) and keeps the backup volume on destroy", () => {
        const record = byName("pg-schedule");
        assert.equal(record.type, TYPES.backupSchedule);
        assert.deepEqual(
            { ...record.inputs, __provider: undefined, targetStatus: undefined, healthy: undefined, observedAt: undefined },
            {
                agentService: "opsbook-staging-backup",
                schedule: "30 2 * * *",
                periodSeconds: 86_400,
                staleAfterSeconds: 172_800,
                keep: { days: 7, weeks: 4, months: 6 },
                location: "volume opsbook-staging-backups",
                targets: ["postgres-app"],
                verify: true,
                __provider: undefined,
                targetStatus: undefined,
                healthy: undefined,
                observedAt: undefined,
            },
        );
        const location = byName("pg-location");
        assert.equal(location.type, TYPES.volume);
        assert.equal(location.inputs.name, "opsbook-staging-backups");
        assert.equal(location.options.retainOnDelete, true);
    });

    it("says where backups are, which service runs them and what to run next", () => {
        assert.deepEqual({ ...postgresSummary, scheduleRecord: undefined }, {
            location: "volume opsbook-staging-backups",
            agentService: "opsbook-staging-backup",
            schedule: "30 2 * * * (UTC)",
            retention: "7 days, 4 weeks, 6 months",
            staleAfter: "2d00h",
            offsite: null,
            targets: ["postgres-app"],
            scheduleRecord: undefined,
            next: "npm run backup -- list --stack staging   (also: now | verify [name] | restore [name] | status)",
        });
        assert.match(postgresSummary.scheduleRecord, /BackupSchedule::pg-schedule$/);
    });

    it("gives the agent the off-site key and encryption key as secret files only, and the target and host key line in its env", () => {
        const agent = byName("off-agent");
        const spec = agent.inputs.taskSpec.containerSpec;
        assert.equal(spec.env.BACKUP_OFFSITE_TARGET, "sftp://backup@10.213.0.41/srv/opsbook");
        assert.equal(spec.env.BACKUP_OFFSITE_KNOWN_HOSTS, HOST_LINE);
        assert.equal(spec.env.BACKUP_OFFSITE_SSH_KEY_FILE, "/run/secrets/BACKUP_OFFSITE_SSH_KEY");
        assert.equal(spec.env.BACKUP_OFFSITE_PASSWORD_FILE, "/run/secrets/BACKUP_OFFSITE_PASSWORD");
        for (const [file, key, value] of [
            ["/run/secrets/BACKUP_OFFSITE_SSH_KEY", "OFFSITE_SSH_KEY", SSH_KEY],
            ["/run/secrets/BACKUP_OFFSITE_PASSWORD", "OFFSITE_ENCRYPTION_KEY", ENCRYPTION_KEY],
        ]) {
            const mounted = spec.secrets.find((m: { fileName: string }) => m.fileName === file);
            // ssh refuses a private key that others may read.
            assert.deepEqual({ uid: mounted?.fileUid, mode: mounted?.fileMode }, { uid: "10001", mode: 0o400 }, file);
            const secret = byName(`opsbook-offsite-${key.toLowerCase().replace(/_/g, "-")}`);
            assert.equal(labelOf(secret, "opsbook.secret-env"), key);
            const data = reveal(secret.inputs.data);
            assert.equal(data.secret, true, `${key} reached the provider in plain text`);
            assert.equal(Buffer.from(data.value, "base64").toString("utf8"), value);
        }
        const plain = JSON.stringify({ service: agent.inputs, summary: offsiteSummary });
        assert.doesNotMatch(plain, /OffsiteKeyBody|Offsite-Encryption-Key/);
        assert.deepEqual(offsiteSummary.offsite, {
            target: "sftp://backup@10.213.0.41/srv/opsbook",
            encryption: "restic repository, key `OFFSITE_ENCRYPTION_KEY` (keep a copy offline)",
            hostKey: "only the line in `opsbook:backups.offsite.knownHosts`",
        });
        assert.match(offsiteSummary.next, /list --offsite \| restore --from-offsite \[name\]\)$/);
    });

    it("mounts the SQLite volume read-write beside a host-directory location, with no database secret", () => {
        const agent = byName("lite-agent");
        const spec = agent.inputs.taskSpec.containerSpec;
        const location = byName("lite-location");
        assert.equal(location.type, TYPES.volume);
        assert.match(location.inputs.name, /^opsbook-watchdog-backups-host-[0-9a-f]{8}$/);
        assert.deepEqual(location.inputs.driverOpts, { type: "none", o: "bind", device: hostDir });
        assert.notEqual(location.options.retainOnDelete, true, "the bind volume is only the engine's handle on the user's directory");
        assert.deepEqual(
            spec.mounts.filter((m: { type: string }) => m.type === "volume"),
            [
                { type: "volume", source: location.inputs.name, target: "/backups", readOnly: false },
                { type: "volume", source: "opsbook-watchdog-data", target: "/sources/data", readOnly: false },
            ],
        );
        assert.deepEqual(spec.secrets, []);
        assert.ok(!Object.keys(spec.env).some((k) => k.endsWith("_FILE")), JSON.stringify(spec.env));
        assert.ok(!registered.some((r) => r.type === TYPES.secret && r.name.startsWith("opsbook-watchdog")), "a database secret for a SQLite-only stack");
        assert.deepEqual(JSON.parse(spec.env.BACKUP_TARGETS), [{ id: "sqlite-data-signal_sentinel", kind: "sqlite", path: "/sources/data/signal_sentinel.db" }]);
        assert.equal(spec.env.BACKUP_LOCATION, hostDir);
    });

    it("refuses arguments that cannot work, naming the option", () => {
        const base = {
            identity,
            network: network("n"),
            image,
            targets: [{ id: "postgres-app", kind: "postgres" as const, database: "app" }],
            postgresAdminUrl: "postgres://x",
        };
        assert.throws(() => new mod.Backups("bad-1", { ...base, schedule: "0 3 * *" }), /`backups\.schedule` must have 5 fields/);
        assert.throws(() => new mod.Backups("bad-2", { ...base, postgresAdminUrl: undefined }), /no superuser URL; pass `postgresAdminUrl`/);
        assert.throws(() => new mod.Backups("bad-3", { ...base, targets: [] }), /nothing to back up/);
        assert.throws(
            () => new mod.Backups("bad-4", { ...base, targets: [{ id: "sqlite-x-y", kind: "sqlite", volume: "x", file: "y.db", path: "/sources/x/y.db" }] }),
            /needs the volume\(s\) `x`/,
        );
        assert.throws(
            () => new mod.Backups("bad-6", { ...base, offsite: { target: "sftp://10.213.0.41/x", knownHosts: HOST_LINE, sshKey: SSH_KEY, encryptionKey: ENCRYPTION_KEY } }),
            /`backups\.offsite\.target` is not of the form sftp:\/\/user@host/,
        );
        assert.throws(
            () => new mod.Backups("bad-7", { ...base, offsite: { target: "sftp://u@10.213.0.42/x", knownHosts: HOST_LINE, sshKey: SSH_KEY, encryptionKey: ENCRYPTION_KEY } }),
            /`backups\.offsite\.knownHosts` names `10\.213\.0\.41`, not `10\.213\.0\.42`/,
        );
        const missingDir = path.join(hostDir, "does-not-exist");
        assert.throws(() => new mod.Backups("bad-5", { ...base, location: missingDir }), (err: Error) => {
            assert.match(err.message, /`backups\.location` .* is not a directory on this host; create it for the backup agent \(uid 10001\)/);
            return true;
        });
    });
});
