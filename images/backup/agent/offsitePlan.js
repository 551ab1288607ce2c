// @ts-check
// The off-site copy's pure rules: the target's form, the ssh command restic runs, how a failure
// is explained, the retention restic applies and the health verdict. Plain CommonJS, like plan.js:
// the agent runs it as is, and the Pulumi program (components/offsitePlan.ts, typed by
// offsitePlan.d.ts) imports the same file, so the spec accepts exactly the targets the agent uses
// and a preview explains a failed connection in the same words as the agent.
//
// Why restic over SFTP: it is in Debian (0.14.0, offline images), it encrypts and authenticates
// every file of its repository with a key derived from one password (AES-256-CTR + Poly1305), so
// the other host stores only ciphertext and needs nothing of ours but an sshd with SFTP; snapshots
// of the whole backup directory carry the dumps, the SQLite copies, the manifest and any
// repository another tool keeps there (pgBackRest's, under <BACKUP_DIR>/pgbackrest) in one
// deduplicated copy; and `restic check` proves the copy's structure after every run.
"use strict";

/** Config keys and stack secrets, as messages name them. */
const KEYS = Object.freeze({
    target: "opsbook:backups.offsite.target",
    knownHosts: "opsbook:backups.offsite.knownHosts",
    sshKey: "OFFSITE_SSH_KEY",
    encryptionKey: "OFFSITE_ENCRYPTION_KEY",
    walEverySeconds: "opsbook:backups.offsite.walEverySeconds",
    /** The pgBackRest repository key a fresh stack restores an off-site repository with (README, "After losing the host"). */
    repositoryKey: "PITR_REPOSITORY_KEY",
});

/** Tags of the two kinds of snapshot: the whole backup location after each backup run, and the pgBackRest repository shipped every few seconds. */
const TAGS = Object.freeze({ location: "opsbook", wal: "opsbook-wal" });

/** Limits of `backups.offsite.walEverySeconds`: the spec, its messages and the agent agree. */
const WAL_EVERY_LIMITS = Object.freeze({ min: 10, max: 3600 });

/** The shortest encryption key accepted: restic derives its keys from it with scrypt, but a short password is still guessable. */
const MIN_ENCRYPTION_KEY_LENGTH = 32;

/**
 * @typedef {{ user: string, hostname: string, port: number, path: string, repository: string, display: string }} OffsiteTarget
 */

/**
 * Parses `sftp://user@host[:port]/absolute/path`. The repository string is restic's
 * `sftp:user@host:/path` (the port and the key go to the ssh command, see sshCommand).
 * @param {string} value
 * @returns {OffsiteTarget | { error: string }}
 */
function parseOffsiteTarget(value) {
    const form = "use sftp://user@host[:port]/absolute/path, e.g. sftp://backup@203.0.113.9/srv/opsbook/staging";
    const m = /^sftp:\/\/([A-Za-z0-9._-]+)@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?(\/[^\s]*)?$/.exec(String(value));
    if (!m) {
        return { error: `is not of the form sftp://user@host[:port]/path (a user is required: the files belong to whoever SSH logs in as); ${form}` };
    }
    const port = m[3] ? Number(m[3]) : 22;
    if (port < 1 || port > 65535) {
        return { error: `has port ${port}, outside 1-65535; ${form}` };
    }
    const path = (m[4] ?? "").replace(/\/+$/, "");
    if (path === "") {
        return { error: `names no directory; the repository needs a directory of its own, ${form}` };
    }
    if (path.split("/").some((part) => part === "." || part === "..") || path.includes("//") || /[:'"\\$`%]/.test(path)) {
        return { error: `has a path restic and ssh would read differently (\`..\`, \`.\`, doubled slashes, quotes, \`:\`, \`$\` or \`%\`); ${form}` };
    }
    return { user: m[1], hostname: m[2], port, path, repository: `sftp:${m[1]}@${m[2]}:${path}`, display: `sftp://${m[1]}@${m[2]}${port === 22 ? "" : `:${port}`}${path}` };
}

/**
 * What is wrong with the SSH private key text (empty when fine). Never quotes the key.
 * @param {string | undefined} text
 * @returns {string | undefined}
 */
function sshKeyProblem(text) {
    const how = `make a key for the off-site copy only (\`ssh-keygen -t ed25519 -N '' -f opsbook-offsite\`), put opsbook-offsite.pub in the off-site user's ~/.ssh/authorized_keys, then \`pulumi config set --secret ${KEYS.sshKey} < opsbook-offsite\``;
    if (text === undefined || text.trim() === "") {
        return `\`opsbook:${KEYS.sshKey}\` is not set, and \`${KEYS.target}\` needs it (the private key the agent logs in with); ${how}`;
    }
    const t = text.trim();
    if (!/^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----\n[\s\S]+\n-----END \1 PRIVATE KEY-----$/.test(t)) {
        return `\`opsbook:${KEYS.sshKey}\` is not an unencrypted private key file in OpenSSH or PEM form (the text between and including the BEGIN and END lines, newlines kept); ${how}`;
    }
    if (/Proc-Type: 4,ENCRYPTED/.test(t)) {
        return `\`opsbook:${KEYS.sshKey}\` is encrypted with a passphrase, which the agent cannot type; ${how}`;
    }
    return undefined;
}

/**
 * What is wrong with the encryption key (empty when fine). Never quotes the key.
 * @param {string | undefined} text
 * @returns {string | undefined}
 */
function encryptionKeyProblem(text) {
    const how = `generate one and keep it offline (README, "Off-site copies"): \`openssl rand -base64 48\`, write it down, then \`pulumi config set --secret ${KEYS.encryptionKey}\` and paste it`;
    if (text === undefined || text.trim() === "") {
        return `\`opsbook:${KEYS.encryptionKey}\` is not set, and \`${KEYS.target}\` needs it (the key the off-site copy is encrypted with); ${how}`;
    }
    if (text.trim().length < MIN_ENCRYPTION_KEY_LENGTH) {
        return `\`opsbook:${KEYS.encryptionKey}\` is shorter than ${MIN_ENCRYPTION_KEY_LENGTH} characters; ${how}`;
    }
    return undefined;
}

/**
 * ssh's options for the off-site host: only the configured host key is accepted (from a
 * known_hosts file holding the one configured line; the user's and the system's files are not
 * read, an unknown or changed key is refused), only the configured key is offered, and nothing
 * waits for a person.
 * @param {{ port: number, keyFile: string, knownHostsFile: string, keyType?: string }} opts
 * @returns {string[]}
 */
function sshOptions(opts) {
    const algorithms = opts.keyType === "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256" : opts.keyType;
    return [
        "-p", String(opts.port),
        "-i", opts.keyFile,
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${opts.knownHostsFile}`,
        "-o", "GlobalKnownHostsFile=/dev/null",
        ...(algorithms ? ["-o", `HostKeyAlgorithms=${algorithms}`] : []),
        "-o", "ConnectTimeout=10",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4",
    ];
}

/**
 * The command restic starts for its sftp backend (`-o sftp.command=...`). restic splits it on
 * spaces, so every part must be free of spaces and quotes: paths and host names are (the key is
 * a file path, never the key itself).
 * @param {OffsiteTarget} target
 * @param {{ keyFile: string, knownHostsFile: string, keyType?: string }} files
 */
function sftpCommand(target, files) {
    const parts = ["ssh", ...sshOptions({ port: target.port, ...files }), `${target.user}@${target.hostname.replace(/^\[|\]$/g, "")}`, "-s", "sftp"];
    const bad = parts.find((p) => /[\s'"\\]/.test(p));
    if (bad !== undefined) {
        throw new Error(`the ssh command for the off-site copy would have a space or quote in \`${bad}\``);
    }
    return parts.join(" ");
}

/** The key type of a known_hosts line (`host ssh-ed25519 AAAA...`). @param {string} line */
function knownHostsKeyType(line) {
    return String(line).trim().split(/\s+/)[1];
}

/**
 * What a failed ssh/sftp/restic run means, naming the key to fix. `stderr` is the tool's
 * (redacted) error output.
 * @param {string} stderr
 * @param {OffsiteTarget} target
 * @returns {string}
 */
function offsiteFailure(stderr, target) {
    const where = `${target.user}@${target.hostname}:${target.port}`;
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key .* (has changed|differs)|No (ED25519|RSA|ECDSA) host key is known/i.test(stderr)) {
        return `the off-site host ${where} presented a host key that is not the one in \`${KEYS.knownHosts}\`; nothing was sent. Check that the address is that host's, fetch its key again from a network you trust (\`ssh-keyscan -t ed25519 ${target.port === 22 ? "" : `-p ${target.port} `}${target.hostname}\`, compare fingerprints) and set \`${KEYS.knownHosts}\``;
    }
    if (/Permission denied \(|Too many authentication failures|no mutual signature|Load key .*: (invalid format|error in libcrypto|bad permissions)/i.test(stderr)) {
        return `the off-site host ${where} refused the key \`${KEYS.sshKey}\` (or the key cannot be read): add the key's public half to ${target.user}'s ~/.ssh/authorized_keys there, or set the right private key with \`pulumi config set --secret ${KEYS.sshKey} < <key file>\``;
    }
    // restic reports only "unable to start the sftp session, error: EOF" when ssh died before it
    // printed why (seen when the host's link went away mid-connect): the host is not answering.
    if (/Connection timed out|Operation timed out|timed out|No route to host|Connection refused|Could not resolve hostname|Name or service not known|Network is unreachable|Connection closed by|Connection reset|unable to start the sftp session, error: EOF/i.test(stderr)) {
        return `no SSH server answered at ${where} (\`${KEYS.target}\`): check the address and port, that sshd runs there, and that this engine's host may reach it`;
    }
    if (/subsystem request failed|Couldn't .*sftp|sftp-server/i.test(stderr)) {
        return `SSH to ${where} worked but it offers no SFTP (\`${KEYS.target}\`): enable the sftp subsystem in the host's sshd_config (\`Subsystem sftp internal-sftp\`)`;
    }
    if (/wrong password or no key found/i.test(stderr)) {
        return `\`${KEYS.encryptionKey}\` does not open the off-site repository at ${target.display}: it was made with another key. Set the key that made it (\`pulumi config set --secret ${KEYS.encryptionKey}\`), or point \`${KEYS.target}\` at a new directory`;
    }
    if (/permission denied|Permission denied|read-only file system|No space left/i.test(stderr)) {
        return `the off-site host ${where} refused to store files under ${target.path} (\`${KEYS.target}\`): the directory must be writable by ${target.user} and have room`;
    }
    const last = String(stderr).trim().split("\n").filter(Boolean).slice(-2).join(" / ").slice(0, 400);
    return `the off-site copy to ${target.display} failed (\`${KEYS.target}\`): ${last || "no error output"}`;
}

/**
 * `restic forget` arguments for the stack's retention: snapshots of the backup directory are kept
 * for the same days, weeks and months as the backups in it, and always the newest. Snapshots are
 * grouped by path only: every redeploy of the agent has another hostname.
 * @param {{ days: number, weeks: number, months: number }} keep
 * @returns {string[]}
 */
function forgetArgs(keep) {
    // Only the location's snapshots: the shipped repository snapshots have their own, shorter retention (walForgetArgs).
    return ["forget", "--tag", TAGS.location, "--group-by", "paths", "--keep-last", "1", "--keep-within", `${keep.days}d`, ...(keep.weeks > 0 ? ["--keep-weekly", String(keep.weeks)] : []), ...(keep.months > 0 ? ["--keep-monthly", String(keep.months)] : []), "--prune"];
}

/**
 * `restic forget` arguments for the shipped pgBackRest repository: a shipped snapshot is only
 * needed until the next one lands (each holds the whole repository, and restic stores what did
 * not change once), so the newest few and the last hour are kept; the daily copies of the
 * location keep the longer history. Without this the repository would gain a snapshot every
 * `walEverySeconds`, forever.
 * @returns {string[]}
 */
function walForgetArgs() {
    return ["forget", "--tag", TAGS.wal, "--group-by", "paths", "--keep-last", "3", "--keep-within", "1h"];
}

/**
 * The default shipping interval: as often as Postgres closes a WAL segment on an idle server
 * (archive_timeout), so a host loss costs at most about archive_timeout + this interval + one
 * transfer; never below the floor, where restic's per-snapshot work would dominate.
 * @param {number} archiveTimeoutSeconds
 */
function defaultWalEverySeconds(archiveTimeoutSeconds) {
    return Math.min(WAL_EVERY_LIMITS.max, Math.max(WAL_EVERY_LIMITS.min, Math.round(archiveTimeoutSeconds)));
}

/**
 * When the shipped repository counts as stale: three intervals missed, plus a minute for a slow
 * transfer or a restic lock held by the daily copy's prune.
 * @param {number} everySeconds
 */
function walStaleAfterSeconds(everySeconds) {
    return 3 * everySeconds + 60;
}

/**
 * The verdict on the shipped repository, from its status record: healthy when the newest
 * successful shipment is younger than walStaleAfterSeconds. A failed attempt alone does not make
 * it unhealthy (the next one retries within seconds); its error is shown.
 * @param {{ lastShippedAt?: string, lastError?: string | null } | undefined} status
 * @param {Date} now
 * @param {number} everySeconds
 * @returns {{ ok: boolean, ageSeconds: number | null, staleAfterSeconds: number, problem?: string }}
 */
function walShippingHealth(status, now, everySeconds) {
    const staleAfterSeconds = walStaleAfterSeconds(everySeconds);
    const age = status?.lastShippedAt ? Math.max(0, Math.round((now.getTime() - Date.parse(status.lastShippedAt)) / 1000)) : null;
    const why = status?.lastError ? `; the last attempt failed: ${status.lastError}` : "";
    if (age === null) {
        return { ok: false, ageSeconds: null, staleAfterSeconds, problem: `the pgBackRest repository has not been shipped off-site yet${why}` };
    }
    if (age > staleAfterSeconds) {
        return { ok: false, ageSeconds: age, staleAfterSeconds, problem: `the pgBackRest repository was last shipped off-site ${age} s ago, more than ${staleAfterSeconds} s${why}` };
    }
    return { ok: true, ageSeconds: age, staleAfterSeconds };
}

/** The snapshot tag that names the Postgres cluster a shipped repository belongs to. @param {string} systemId */
function systemTag(systemId) {
    return `pg-system-${systemId}`;
}

/**
 * Which off-site snapshot a fresh stack restores its pgBackRest repository from: the newest one
 * (shipped or of the whole location) of a Postgres cluster other than the stack's own. After the
 * host is lost, the fresh stack's agent ships its own new, empty repository to the same place
 * before anyone restores; those snapshots carry the fresh cluster's system identifier and are
 * passed over. Snapshots without a cluster tag (made before tags existed) are not candidates.
 * @param {{ id: string, time: string, tags?: string[] | null }[]} snapshots
 * @param {string | undefined} ownSystemId
 * @returns {{ id: string, time: string, systemId: string, shipped: boolean } | { problem: string }}
 */
function pickRepositorySnapshot(snapshots, ownSystemId) {
    const candidates = snapshots
        .map((s) => {
            const tag = (s.tags ?? []).find((t) => t.startsWith("pg-system-"));
            return { id: s.id, time: s.time, systemId: tag ? tag.slice("pg-system-".length) : "", shipped: (s.tags ?? []).includes(TAGS.wal) };
        })
        .filter((s) => s.systemId !== "" && s.systemId !== ownSystemId)
        .sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
    if (candidates.length === 0) {
        const own = snapshots.length > 0 ? ` (${snapshots.length} snapshot(s), all of this stack's own database${ownSystemId ? ` ${ownSystemId}` : ""} or untagged)` : "";
        return { problem: `the off-site copy holds no pgBackRest repository of another database to restore from${own}` };
    }
    return candidates[0];
}

/**
 * @typedef {{ target: string, lastAttemptAt?: string, lastCopyAt?: string, lastSnapshot?: string, lastError?: string | null, lastErrorAt?: string, durationMs?: number, bytesAdded?: number, bytesProcessed?: number, filesProcessed?: number, checkedAt?: string }} OffsiteStatus
 */

/**
 * The off-site verdict: healthy when the last attempt succeeded and the last good copy is younger
 * than `staleAfterSeconds` (the same bound as the local backups).
 * @param {OffsiteStatus | undefined} status
 * @param {Date} now
 * @param {number} staleAfterSeconds
 * @returns {{ ok: boolean, ageSeconds: number | null, problem?: string }}
 */
function offsiteHealth(status, now, staleAfterSeconds) {
    const age = status?.lastCopyAt ? Math.max(0, Math.round((now.getTime() - Date.parse(status.lastCopyAt)) / 1000)) : null;
    if (status?.lastError) {
        return { ok: false, ageSeconds: age, problem: `the last off-site copy failed: ${status.lastError}` };
    }
    if (age === null) {
        return { ok: false, ageSeconds: null, problem: "no off-site copy yet" };
    }
    if (age > staleAfterSeconds) {
        return { ok: false, ageSeconds: age, problem: `the last off-site copy is ${age} s old, more than ${staleAfterSeconds} s` };
    }
    return { ok: true, ageSeconds: age };
}

/**
 * Which backups to bring back from the off-site snapshots: `name` alone, or every verified one
 * the location lacks; each from the newest snapshot that holds it.
 * @param {{ id: string, time: string, entries: import("./plan").ManifestEntry[] }[]} snapshots
 * @param {Set<string>} localNames
 * @param {string} [name]
 * @returns {{ entry: import("./plan").ManifestEntry, snapshot: string }[]}
 */
function planFetch(snapshots, localNames, name) {
    /** @type {Map<string, { entry: import("./plan").ManifestEntry, snapshot: string, time: number }>} */
    const newest = new Map();
    for (const s of snapshots) {
        for (const e of s.entries) {
            const t = Date.parse(s.time);
            const seen = newest.get(e.name);
            if (!seen || t > seen.time) {
                newest.set(e.name, { entry: e, snapshot: s.id, time: t });
            }
        }
    }
    if (name !== undefined) {
        const found = newest.get(name);
        if (!found) {
            const names = [...newest.values()].filter((v) => v.entry.status === "verified").map((v) => v.entry.name).sort();
            throw new Error(`no backup named ${name} in the off-site copy; it holds ${names.length === 0 ? "no verified backup" : names.join(", ")}`);
        }
        return [{ entry: found.entry, snapshot: found.snapshot }];
    }
    return [...newest.values()]
        .filter((v) => v.entry.status === "verified" && !localNames.has(v.entry.name))
        .sort((a, b) => Date.parse(b.entry.startedAt) - Date.parse(a.entry.startedAt))
        .map((v) => ({ entry: v.entry, snapshot: v.snapshot }));
}

/**
 * The JSON messages of a tool's line-per-message output (restic --json); other lines are skipped.
 * @param {string} text
 * @returns {any[]}
 */
function jsonLines(text) {
    return String(text)
        .split("\n")
        .flatMap((line) => {
            try {
                const value = JSON.parse(line);
                return value && typeof value === "object" ? [value] : [];
            } catch {
                return [];
            }
        });
}

/**
 * restic exits 3 when the snapshot was made but some files could not be read. While Postgres
 * archives WAL into pgbackrest/ beside the copy, a file listed by restic may be renamed or removed
 * before it is read: that is no failure (the next copy takes the file as it is then). Any other
 * unreadable file is. Returns the vanished paths when every error is one, else undefined.
 * @param {string} output restic's --json output (stdout and stderr)
 * @param {(path: string) => boolean} exists
 * @returns {string[] | undefined}
 */
function onlyVanishedFiles(output, exists) {
    const items = [];
    for (const msg of jsonLines(output)) {
        if (msg.message_type === "error") {
            if (typeof msg.item !== "string" || exists(msg.item)) {
                return undefined;
            }
            items.push(msg.item);
        }
    }
    return items.length > 0 ? items : undefined;
}

module.exports = {
    jsonLines,
    onlyVanishedFiles,
    KEYS,
    TAGS,
    WAL_EVERY_LIMITS,
    walForgetArgs,
    defaultWalEverySeconds,
    walStaleAfterSeconds,
    walShippingHealth,
    systemTag,
    pickRepositorySnapshot,
    MIN_ENCRYPTION_KEY_LENGTH,
    parseOffsiteTarget,
    sshKeyProblem,
    encryptionKeyProblem,
    sshOptions,
    sftpCommand,
    knownHostsKeyType,
    offsiteFailure,
    forgetArgs,
    offsiteHealth,
    planFetch,
};
