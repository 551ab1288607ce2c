// The Backups component under Pulumi mocks: what it registers for a Postgres stack and for the
// market watchdog's SQLite file, and that the database password travels only as a secret.
import { strict as assert } from "node:assert";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { Registered, SECRET_SIG, setRecordingMocks, unwrap } from "./mocks";

const PASSWORD = "Sup3rSecretAdminPassw0rd";
const registered: Registered[] = setRecordingMocks();

// Imported after the mocks are set: components register resources as soon as they are built.
import type * as BackupModule from "../../components/backup";

function byName(name: string): Registered {
    const found = registered.find((r) => r.name === name);
    assert.ok(found, `${name} was not registered; registered: ${registered.map((r) => r.name).join(", ")}`);
    return found;
}

const identity = { project: "opsbook", stack: "staging" };
const image = { reference: "opsbook/backup:1", id: "sha256:5555" };

describe("Backups under mocks", () => {
    let mod: typeof BackupModule;
    let postgresSummary: BackupModule.BackupsSummary;

    before(async () => {
        mod = await import("../../components/backup");
        const pg = new mod.Backups("pg", {
            identity,
            networkName: "net-1",
            image,
            targets: [{ id: "postgres-app", kind: "postgres", database: "app" }],
            postgresAdminUrl: pulumi.secret(`postgres://opsbook_admin:${PASSWORD}@postgres:5432/app`),
            schedule: "30 2 * * *",
        });
        const lite = new mod.Backups("lite", {
            identity: { project: "opsbook", stack: "watchdog" },
            networkName: "net-2",
            image,
            targets: [{ id: "sqlite-data-signal_sentinel", kind: "sqlite", volume: "data", file: "signal_sentinel.db", path: "/sources/data/signal_sentinel.db" }],
            volumes: { data: "opsbook-watchdog-data" },
            location: "/srv/opsbook/backups",
            keep: { days: 7, weeks: 0, months: 0 },
        });
        postgresSummary = await unwrap(pg.summary);
        await unwrap(lite.summary);
    });

    it("runs one hardened, unpublished agent with a memory limit and a health check on the age of the last verified backup", () => {
        const agent = byName("pg-agent");
        assert.equal(agent.type, "pulumi-nodejs:dynamic/opsbook:Container");
        assert.deepEqual(agent.inputs.publish, []);
        assert.equal(agent.inputs.role, "worker");
        assert.equal(agent.inputs.memoryMb, 256);
        assert.equal(agent.inputs.restartPolicy, "unless-stopped");
        assert.equal(agent.inputs.readOnlyRootFilesystem, true);
        assert.equal(agent.inputs.dropAllCapabilities, true);
        assert.equal(agent.inputs.noNewPrivileges, true);
        assert.deepEqual(agent.inputs.healthCheck.test, ["CMD", "backup-agent", "health"]);
        assert.deepEqual(agent.inputs.networks, [{ name: "net-1", aliases: ["backup"] }]);
        assert.deepEqual(agent.inputs.mounts, [{ volume: "opsbook-staging-backups", target: "/backups", readOnly: false }]);
        assert.equal(agent.inputs.env.BACKUP_SCHEDULE, "30 2 * * *");
        assert.deepEqual(JSON.parse(agent.inputs.env.BACKUP_TARGETS), [{ id: "postgres-app", kind: "postgres", database: "app" }]);
    });

    it("gives the agent the superuser URL as a secret env only: not in env, the command, labels or outputs", () => {
        const agent = byName("pg-agent");
        assert.ok(SECRET_SIG in agent.inputs.secretEnv, "secretEnv reached the provider as plain values");
        assert.match(agent.inputs.secretEnv.value.BACKUP_POSTGRES_URL, /^postgres:\/\/opsbook_admin:/);
        const plain = JSON.stringify({ env: agent.inputs.env, command: agent.inputs.command, labels: agent.inputs.labels, summary: postgresSummary });
        assert.doesNotMatch(plain, new RegExp(PASSWORD));
        assert.deepEqual(agent.inputs.envContract.required, ["BACKUP_POSTGRES_URL"]);
    });

    it("registers a BackupSchedule record (what `backups-scheduled` looks for) and keeps the backup volume on destroy", () => {
        const record = byName("pg-schedule");
        assert.ok(record.type.endsWith(":BackupSchedule"), record.type);
        assert.deepEqual(
            { ...record.inputs, __provider: undefined, targetStatus: undefined, healthy: undefined, observedAt: undefined },
            {
                agentContainer: "opsbook-staging-backup-abc123",
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
        assert.equal(byName("pg-location").type, "pulumi-nodejs:dynamic/opsbook:Volume");
    });

    it("says where backups are, which container runs them and what to run next", () => {
        assert.deepEqual({ ...postgresSummary, scheduleRecord: undefined }, {
            location: "volume opsbook-staging-backups",
            agentContainer: "opsbook-staging-backup-abc123",
            schedule: "30 2 * * * (UTC)",
            retention: "7 days, 4 weeks, 6 months",
            staleAfter: "2d00h",
            targets: ["postgres-app"],
            scheduleRecord: undefined,
            next: "npm run backup -- list --stack staging   (also: now | verify [name] | restore [name] | status)",
        });
    });

    it("mounts the SQLite volume read-write beside a host-directory location, with no database secret", () => {
        const agent = byName("lite-agent");
        assert.deepEqual(agent.inputs.mounts, [
            { volume: "opsbook-watchdog-backups-host-" + byName("lite-location").inputs.name.split("-").pop(), target: "/backups", readOnly: false },
            { volume: "opsbook-watchdog-data", target: "/sources/data", readOnly: false },
        ]);
        const location = byName("lite-location");
        assert.equal(location.type, "pulumi-nodejs:dynamic/opsbook:BackupHostVolume");
        assert.equal(location.inputs.path, "/srv/opsbook/backups");
        assert.equal(location.inputs.uid, 10001);
        assert.deepEqual(agent.inputs.secretEnv.value ?? agent.inputs.secretEnv, {});
        assert.deepEqual(JSON.parse(agent.inputs.env.BACKUP_TARGETS), [{ id: "sqlite-data-signal_sentinel", kind: "sqlite", path: "/sources/data/signal_sentinel.db" }]);
        assert.equal(agent.inputs.env.BACKUP_LOCATION, "/srv/opsbook/backups");
    });

    it("refuses arguments that cannot work, naming the option", () => {
        const base = { identity, networkName: "n", image, targets: [{ id: "postgres-app", kind: "postgres" as const, database: "app" }], postgresAdminUrl: "postgres://x" };
        assert.throws(() => new mod.Backups("bad-1", { ...base, schedule: "0 3 * *" }), /`backups\.schedule` must have 5 fields/);
        assert.throws(() => new mod.Backups("bad-2", { ...base, postgresAdminUrl: undefined }), /no superuser URL; pass `postgresAdminUrl`/);
        assert.throws(() => new mod.Backups("bad-3", { ...base, targets: [] }), /nothing to back up/);
        assert.throws(
            () => new mod.Backups("bad-4", { ...base, targets: [{ id: "sqlite-x-y", kind: "sqlite", volume: "x", file: "y.db", path: "/sources/x/y.db" }] }),
            /needs the volume\(s\) `x`/,
        );
    });
});
