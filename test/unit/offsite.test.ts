// `opsbook:backups.offsite`: which targets are accepted, what the host key line must be, the stack
// secrets' forms, the ssh command restic runs (host key always checked, no secret in it), how a
// failure is explained, retention, the health verdict and what a restore fetches back. The agent
// runs the same offsitePlan.js these tests import.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
    encryptionKeyProblem,
    forgetArgs,
    offsiteFailure,
    onlyVanishedFiles,
    offsiteHealth,
    offsiteKnownHostsProblems,
    parseOffsiteTarget,
    planFetch,
    sftpCommand,
    sshKeyProblem,
    OffsiteTarget,
    defaultWalEverySeconds,
    pickRepositorySnapshot,
    repositoryKeyProblem,
    walForgetArgs,
    walShippingHealth,
    walStaleAfterSeconds,
} from "../../components/offsitePlan";
import { configKeyProblems, parseSpec } from "../../components/spec";
import type { ManifestEntry } from "../../components/backupPlan";
import { specProblems } from "./specProblems";

const HOST_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIEsuReh3C1ajYG0+Xip1Vu82VZoVQ96ubnDhwSZrpqs5";
const SERVICES = { api: { env: { APP_ROLE: "api" } } };

function target(value: string): OffsiteTarget {
    const t = parseOffsiteTarget(value);
    assert.ok(!("error" in t), JSON.stringify(t));
    return t;
}

function problems(offsite: unknown): string[] {
    return specProblems({ services: SERVICES, backups: { offsite } });
}

describe("opsbook:backups.offsite.target", () => {
    it("accepts sftp://user@host[:port]/absolute/path and gives restic's repository name", () => {
        assert.deepEqual(parseOffsiteTarget("sftp://backup@203.0.113.9/srv/opsbook/staging/"), {
            user: "backup",
            hostname: "203.0.113.9",
            port: 22,
            path: "/srv/opsbook/staging",
            repository: "sftp:backup@203.0.113.9:/srv/opsbook/staging",
            display: "sftp://backup@203.0.113.9/srv/opsbook/staging",
        });
        const t = target("sftp://u@vault.example.net:2222/x");
        assert.equal(t.port, 2222);
        assert.equal(t.display, "sftp://u@vault.example.net:2222/x");
    });

    it("refuses a target without a user, a directory or a usable path, naming the form", () => {
        for (const [value, why] of [
            ["sftp://203.0.113.9/srv/x", /a user is required/],
            ["s3://bucket/x", /is not of the form sftp:\/\/user@host/],
            ["sftp://u@h", /names no directory/],
            ["sftp://u@h:0/x", /outside 1-65535/],
            ["sftp://u@h/srv/../etc", /read differently/],
            ["sftp://u@h/srv/a b", /is not of the form/],
            ["sftp://u@h/srv/$HOME", /read differently/],
        ] as const) {
            const parsed = parseOffsiteTarget(value);
            assert.ok("error" in parsed, value);
            assert.match(parsed.error, why, value);
        }
    });

    it("reports spec problems under the key, and requires the host key line", () => {
        assert.deepEqual(problems({ target: "sftp://u@203.0.113.9/srv/x", knownHosts: `203.0.113.9 ssh-ed25519 ${HOST_KEY}` }), []);
        const [missing] = problems({ target: "sftp://u@203.0.113.9/srv/x" });
        assert.match(missing, /`opsbook:backups\.offsite\.knownHosts` is required for an off-site target/);
        assert.match(missing, /ssh-keyscan -t ed25519 203\.0\.113\.9/);
        const [bad] = problems({ target: "ftp://x" });
        assert.match(bad, /^`opsbook:backups\.offsite\.target` is not of the form/);
        const [typo] = problems({ target: "sftp://u@h/x", knownHost: "x" });
        assert.match(typo, /knownHost/);
        assert.equal(parseSpec({ services: SERVICES }).backups.offsite, undefined);
    });

    it("checks the host key line against the target's host and port", () => {
        assert.deepEqual(offsiteKnownHostsProblems(target("sftp://u@203.0.113.9:2222/x"), `[203.0.113.9]:2222 ssh-ed25519 ${HOST_KEY}`), []);
        const [other] = offsiteKnownHostsProblems(target("sftp://u@203.0.113.9/x"), `198.51.100.1 ssh-ed25519 ${HOST_KEY}`);
        assert.match(other, /names `198\.51\.100\.1`, not `203\.0\.113\.9` \(the host of `opsbook:backups\.offsite\.target`\)/);
        const [two] = offsiteKnownHostsProblems(target("sftp://u@h/x"), `h ssh-ed25519 ${HOST_KEY}\nh ssh-rsa ${HOST_KEY}`);
        assert.match(two, /exactly one known_hosts line/);
        const [garbled] = offsiteKnownHostsProblems(target("sftp://u@h/x"), "h ssh-ed25519");
        assert.match(garbled, /is not `<host> <key type> <base64 key>`/);
    });

    it("accepts the off-site secrets as user-supplied config keys only when an off-site target is set", () => {
        const spec = parseSpec({ services: SERVICES, backups: { offsite: { target: "sftp://u@h/x", knownHosts: `h ssh-ed25519 ${HOST_KEY}` } } });
        assert.deepEqual(configKeyProblems(["opsbook:OFFSITE_SSH_KEY", "opsbook:OFFSITE_ENCRYPTION_KEY"], spec), []);
        const without = parseSpec({ services: SERVICES });
        assert.equal(configKeyProblems(["opsbook:OFFSITE_SSH_KEY"], without).length, 1);
    });
});

describe("the off-site stack secrets", () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n";

    it("accepts an unencrypted OpenSSH key and refuses anything else without quoting it", () => {
        assert.equal(sshKeyProblem(key), undefined);
        assert.match(sshKeyProblem(undefined) ?? "", /`opsbook:OFFSITE_SSH_KEY` is not set.*pulumi config set --secret OFFSITE_SSH_KEY < opsbook-offsite/);
        const wrong = sshKeyProblem("ssh-ed25519 AAAA-this-is-the-public-half") ?? "";
        assert.match(wrong, /is not an unencrypted private key file/);
        assert.doesNotMatch(wrong, /this-is-the-public-half/);
    });

    it("wants an encryption key of at least 32 characters, kept offline", () => {
        assert.equal(encryptionKeyProblem("x".repeat(32)), undefined);
        const short = encryptionKeyProblem("hunter2-hunter2") ?? "";
        assert.match(short, /`opsbook:OFFSITE_ENCRYPTION_KEY` is shorter than 32 characters; generate one and keep it offline/);
        assert.doesNotMatch(short, /hunter2/);
        assert.match(encryptionKeyProblem("") ?? "", /is not set/);
    });
});

describe("the ssh command restic runs", () => {
    it("checks the host key against the configured line only, offers only the key file, and holds no secret", () => {
        const cmd = sftpCommand(target("sftp://backup@203.0.113.9:2222/srv/x"), { keyFile: "/run/secrets/BACKUP_OFFSITE_SSH_KEY", knownHostsFile: "/tmp/kh", keyType: "ssh-ed25519" });
        assert.equal(
            cmd,
            "ssh -p 2222 -i /run/secrets/BACKUP_OFFSITE_SSH_KEY -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/tmp/kh " +
                "-o GlobalKnownHostsFile=/dev/null -o HostKeyAlgorithms=ssh-ed25519 -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4 backup@203.0.113.9 -s sftp",
        );
        assert.doesNotMatch(cmd, /StrictHostKeyChecking=(no|accept-new)/);
        assert.throws(() => sftpCommand(target("sftp://u@h/x"), { keyFile: "/a b", knownHostsFile: "/tmp/kh" }), /space or quote/);
    });
});

describe("what a failed off-site connection means", () => {
    const t = target("sftp://backup@10.213.0.41/srv/x");
    it("names the key to fix for each way ssh fails", () => {
        assert.match(offsiteFailure("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.", t), /presented a host key that is not the one in `opsbook:backups\.offsite\.knownHosts`; nothing was sent/);
        assert.match(offsiteFailure("backup@10.213.0.41: Permission denied (publickey).", t), /refused the key `OFFSITE_SSH_KEY`/);
        assert.match(offsiteFailure("ssh: connect to host 10.213.0.41 port 22: No route to host", t), /no SSH server answered at backup@10\.213\.0\.41:22 \(`opsbook:backups\.offsite\.target`\)/);
        assert.match(offsiteFailure("ssh: connect to host 10.213.0.41 port 22: Connection timed out", t), /no SSH server answered/);
        // restic alone, when ssh died before saying why (the host's link gone mid-connect).
        assert.match(offsiteFailure("Fatal: unable to open repository at sftp:backup@10.213.0.41:/srv/x: unable to start the sftp session, error: EOF", t), /no SSH server answered/);
        assert.match(offsiteFailure("Fatal: wrong password or no key found", t), /`OFFSITE_ENCRYPTION_KEY` does not open the off-site repository/);
        assert.match(offsiteFailure("subsystem request failed on channel 0", t), /offers no SFTP/);
        assert.match(offsiteFailure("something else entirely", t), /failed \(`opsbook:backups\.offsite\.target`\): something else entirely/);
    });
});

describe("off-site retention and health", () => {
    it("prunes snapshots by the stack's retention, grouped by path (every agent task has another hostname)", () => {
        // Only the location's snapshots (tag opsbook): the shipped repository's have their own retention.
        assert.deepEqual(forgetArgs({ days: 7, weeks: 4, months: 6 }), ["forget", "--tag", "opsbook", "--group-by", "paths", "--keep-last", "1", "--keep-within", "7d", "--keep-weekly", "4", "--keep-monthly", "6", "--prune"]);
        assert.deepEqual(forgetArgs({ days: 3, weeks: 0, months: 0 }), ["forget", "--tag", "opsbook", "--group-by", "paths", "--keep-last", "1", "--keep-within", "3d", "--prune"]);
    });

    it("keeps the shipped repository's snapshots for an hour and the newest three, never for the location's retention", () => {
        assert.deepEqual(walForgetArgs(), ["forget", "--tag", "opsbook-wal", "--group-by", "paths", "--keep-last", "3", "--keep-within", "1h"]);
    });

    it("is healthy only when the last attempt worked and the last copy is fresh", () => {
        const now = new Date("2026-12-02T12:00:00Z");
        assert.deepEqual(offsiteHealth({ target: "t", lastCopyAt: "2026-12-02T11:00:00Z" }, now, 7200), { ok: true, ageSeconds: 3600 });
        assert.match(offsiteHealth(undefined, now, 7200).problem ?? "", /no off-site copy yet/);
        assert.match(offsiteHealth({ target: "t", lastCopyAt: "2026-12-01T11:00:00Z" }, now, 7200).problem ?? "", /90000 s old, more than 7200 s/);
        const failing = offsiteHealth({ target: "t", lastCopyAt: "2026-12-02T11:00:00Z", lastError: "refused the key" }, now, 7200);
        assert.equal(failing.ok, false);
        assert.match(failing.problem ?? "", /the last off-site copy failed: refused the key/);
    });
});

describe("what a restore from the off-site copy fetches", () => {
    const entry = (name: string, startedAt: string, status: "verified" | "failed" = "verified"): ManifestEntry => ({
        name,
        target: "postgres-app",
        kind: "postgres",
        status,
        startedAt,
        ...(status === "verified" ? { sha256: "0".repeat(64) } : { reason: "x" }),
    });
    const old = entry("postgres-app-20261201T030000Z.dump", "2026-12-01T03:00:00Z");
    const fresh = entry("postgres-app-20261202T030000Z.dump", "2026-12-02T03:00:00Z");
    const broken = entry("postgres-app-20261202T040000Z.dump", "2026-12-02T04:00:00Z", "failed");
    const snapshots = [
        { id: "bbbb", time: "2026-12-02T04:01:00Z", entries: [broken, fresh] },
        { id: "aaaa", time: "2026-12-01T03:01:00Z", entries: [old] },
    ];

    it("brings every verified backup the location lacks, newest first, each from the newest snapshot that holds it", () => {
        assert.deepEqual(
            planFetch(snapshots, new Set()).map((p) => [p.entry.name, p.snapshot]),
            [
                [fresh.name, "bbbb"],
                [old.name, "aaaa"],
            ],
        );
        assert.deepEqual(planFetch(snapshots, new Set([fresh.name])).map((p) => p.entry.name), [old.name]);
    });

    it("brings a named backup, and says what the copy holds when it has no such backup", () => {
        assert.deepEqual(planFetch(snapshots, new Set(), old.name).map((p) => p.snapshot), ["aaaa"]);
        assert.throws(() => planFetch(snapshots, new Set(), "postgres-app-20990101T000000Z.dump"), /no backup named .* in the off-site copy; it holds postgres-app-20261201T030000Z\.dump, postgres-app-20261202T030000Z\.dump/);
    });
});

describe("a copy made while Postgres archives WAL beside it", () => {
    const error = (item: string) => JSON.stringify({ message_type: "error", error: { Op: "open", Path: item, Err: 2 }, during: "archival", item });
    it("is a copy when every file restic could not read had vanished; any other unreadable file fails it", () => {
        const gone = "/backups/pgbackrest/archive/app/15-1/0000000100000000/000000010000000000000003-abc.lz4";
        const output = [JSON.stringify({ message_type: "status" }), error(gone), JSON.stringify({ message_type: "summary", snapshot_id: "x" })].join("\n");
        assert.deepEqual(onlyVanishedFiles(output, () => false), [gone]);
        // Still there but unreadable (permissions): a real failure.
        assert.equal(onlyVanishedFiles(output, () => true), undefined);
        // No error message at all (exit 3 for another reason): not explained, so a failure.
        assert.equal(onlyVanishedFiles(JSON.stringify({ message_type: "summary" }), () => false), undefined);
        assert.equal(onlyVanishedFiles([error(gone), JSON.stringify({ message_type: "error", error: {}, during: "scan" })].join("\n"), () => false), undefined);
    });
});

describe("continuous shipping of the pgBackRest repository", () => {
    it("ships as often as archive_timeout by default, within 10..3600 s", () => {
        assert.equal(defaultWalEverySeconds(60), 60);
        assert.equal(defaultWalEverySeconds(10), 10);
        assert.equal(defaultWalEverySeconds(7200), 3600);
        assert.equal(defaultWalEverySeconds(3), 10);
    });

    it("counts a shipment stale after three intervals and a minute, and shows the last error without failing on it alone", () => {
        const now = new Date("2026-12-02T12:00:00Z");
        assert.equal(walStaleAfterSeconds(60), 240);
        assert.deepEqual(walShippingHealth({ lastShippedAt: "2026-12-02T11:59:00Z" }, now, 60), { ok: true, ageSeconds: 60, staleAfterSeconds: 240 });
        const retried = walShippingHealth({ lastShippedAt: "2026-12-02T11:58:00Z", lastError: "repository is already locked" }, now, 60);
        assert.equal(retried.ok, true, "one failed attempt within the bound is no verdict");
        const stale = walShippingHealth({ lastShippedAt: "2026-12-02T11:50:00Z", lastError: "no SSH server answered" }, now, 60);
        assert.deepEqual([stale.ok, stale.ageSeconds], [false, 600]);
        assert.match(stale.problem ?? "", /last shipped off-site 600 s ago, more than 240 s; the last attempt failed: no SSH server answered/);
        assert.match(walShippingHealth(undefined, now, 60).problem ?? "", /has not been shipped off-site yet/);
    });

    it("restores from the newest snapshot of another database than the stack's own, shipped or of the whole location", () => {
        const snapshots = [
            { id: "aaaa1111", time: "2026-12-02T10:00:00Z", tags: ["opsbook", "pg-system-111"] },
            { id: "bbbb2222", time: "2026-12-02T10:59:50Z", tags: ["opsbook-wal", "pg-system-111"] },
            { id: "cccc3333", time: "2026-12-02T10:59:40Z", tags: ["opsbook-wal", "pg-system-111"] },
            // The fresh stack ships its own new repository before anyone restores: never a candidate.
            { id: "dddd4444", time: "2026-12-02T11:20:00Z", tags: ["opsbook-wal", "pg-system-222"] },
            { id: "eeee5555", time: "2026-12-02T11:30:00Z", tags: ["opsbook"] },
        ];
        assert.deepEqual(pickRepositorySnapshot(snapshots, "222"), { id: "bbbb2222", time: "2026-12-02T10:59:50Z", systemId: "111", shipped: true });
        assert.deepEqual(pickRepositorySnapshot(snapshots.slice(0, 1), "222"), { id: "aaaa1111", time: "2026-12-02T10:00:00Z", systemId: "111", shipped: false });
        const none = pickRepositorySnapshot(snapshots.slice(3), "222");
        assert.ok("problem" in none);
        assert.match(none.problem, /holds no pgBackRest repository of another database to restore from \(2 snapshot\(s\), all of this stack's own database 222 or untagged\)/);
    });

    it("takes walEverySeconds from the spec within its range, and PITR_REPOSITORY_KEY as a user secret", () => {
        const offsite = { target: "sftp://u@h/x", knownHosts: `h ssh-ed25519 ${HOST_KEY}` };
        assert.equal(parseSpec({ services: SERVICES, backups: { offsite: { ...offsite, walEverySeconds: 15 } } }).backups.offsite?.walEverySeconds, 15);
        assert.equal(parseSpec({ services: SERVICES, backups: { offsite } }).backups.offsite?.walEverySeconds, undefined);
        const [low] = problems({ ...offsite, walEverySeconds: 5 });
        assert.match(low, /backups\.offsite\.walEverySeconds.*must be from 10 to 3600/);
        assert.match(problems({ ...offsite, walEverySeconds: 1.5 })[0], /must be a whole number of seconds from 10 to 3600/);
        assert.deepEqual(configKeyProblems(["opsbook:PITR_REPOSITORY_KEY"], parseSpec({ services: SERVICES })), []);
        assert.equal(repositoryKeyProblem("k".repeat(64)), undefined);
        const short = repositoryKeyProblem("short-key");
        assert.match(short ?? "", /`opsbook:PITR_REPOSITORY_KEY` is shorter than 32 characters.*pitrRepositoryKey/);
        assert.ok(!(short ?? "").includes("short-key"), "the message quotes the key");
    });
});
