// @ts-check
// The off-site copy of the backup directory: restic over SFTP to the host the stack names,
// encrypted with the stack's OFFSITE_ENCRYPTION_KEY (see offsitePlan.js for why restic). After each
// backup run the whole directory is copied (a snapshot), pruned by the stack's retention and
// checked; `fetch-offsite` brings backups back into an empty location from the off-site copy alone.
//
// Secrets reach restic and ssh only as files: RESTIC_PASSWORD_FILE names the encryption key's swarm
// secret file, and the ssh command restic runs names the private key's file (`-i`). Neither value
// is ever in an argument, the environment or a log line.
"use strict";
const fs = require("fs");
const path = require("path");
const plan = require("./plan");
const op = require("./offsitePlan");
const { firstLines, redact, runTool, toolEnv, writeFileAtomic, readIfExists } = require("./common");

/** Written here, beside the backups, and never copied: it describes the copies. */
const STATUS_FILE = "offsite.json";
/** The same for the shipped pgBackRest repository. */
const WAL_STATUS_FILE = "offsite-wal.json";
/** Where `fetch-offsite-repository` puts the repository it brings back, until `swap-repository` makes it the live one. */
const FETCHED_REPO_SUFFIX = ".offsite";
/** Where fetched files land before they are moved into the location (same filesystem: a rename). */
const FETCH_DIR = ".offsite-fetch";
/** The one known_hosts line, as ssh reads it; /tmp is the task's own tmpfs. */
const KNOWN_HOSTS_FILE = "/tmp/opsbook-offsite-known_hosts";

/**
 * @typedef {{ target: import("./offsitePlan").OffsiteTarget, knownHosts: string, keyFile: string, passwordFile: string, hostname: string }} OffsiteConfig
 */

/**
 * The off-site settings from the env, or undefined when the stack has none. Problems name the
 * stack's keys, not the env: that is what the operator fixes.
 * @param {NodeJS.ProcessEnv} env
 * @returns {OffsiteConfig | undefined}
 */
function loadOffsiteConfig(env = process.env) {
    const raw = env.BACKUP_OFFSITE_TARGET;
    if (!raw) {
        return undefined;
    }
    const target = op.parseOffsiteTarget(raw);
    if ("error" in target) {
        throw new Error(`\`${op.KEYS.target}\` ${target.error}`);
    }
    const knownHosts = (env.BACKUP_OFFSITE_KNOWN_HOSTS ?? "").trim();
    if (knownHosts === "" || knownHosts.includes("\n")) {
        throw new Error(`\`${op.KEYS.knownHosts}\` must be the off-site host's key as one known_hosts line`);
    }
    const keyFile = env.BACKUP_OFFSITE_SSH_KEY_FILE ?? "";
    const passwordFile = env.BACKUP_OFFSITE_PASSWORD_FILE ?? "";
    for (const [file, key] of [[keyFile, op.KEYS.sshKey], [passwordFile, op.KEYS.encryptionKey]]) {
        try {
            fs.accessSync(file, fs.constants.R_OK);
        } catch {
            throw new Error(`the off-site copy needs \`${key}\` as a secret file, and ${file || "no file"} cannot be read; deploy the stack again (\`pulumi config set --secret ${key}\`)`);
        }
    }
    return { target, knownHosts, keyFile, passwordFile, hostname: env.BACKUP_OFFSITE_HOSTNAME || "opsbook-backup" };
}

/** @param {OffsiteConfig} oc */
function ensureKnownHostsFile(oc) {
    // ssh matches a non-standard port as `[host]:port`.
    const [name, ...rest] = oc.knownHosts.split(/\s+/);
    const names = name.split(",").map((n) => (oc.target.port === 22 || n.startsWith("[") || n.startsWith("|1|") ? n : `[${n}]:${oc.target.port}`));
    fs.writeFileSync(KNOWN_HOSTS_FILE, `${names.join(",")} ${rest.join(" ")}\n`, { mode: 0o644 });
}

/**
 * Runs restic on the off-site repository. Its password comes from the secret file; its cache is
 * off (the task's /tmp counts against its memory limit).
 * @param {OffsiteConfig} oc @param {string[]} args @param {number} [timeoutMs]
 */
function restic(oc, args, timeoutMs = 6 * 60 * 60_000) {
    ensureKnownHostsFile(oc);
    const command = op.sftpCommand(oc.target, { keyFile: oc.keyFile, knownHostsFile: KNOWN_HOSTS_FILE, keyType: op.knownHostsKeyType(oc.knownHosts) });
    return runTool("restic", ["-r", oc.target.repository, "-o", `sftp.command=${command}`, "--no-cache", ...args], {
        env: toolEnv({ RESTIC_PASSWORD_FILE: oc.passwordFile }),
        timeoutMs,
    });
}

/** restic's answer when the lock it needs is held by another restic. @param {string} stderr */
function lockedOut(stderr) {
    return /repository is already locked|unable to create lock/i.test(stderr);
}

/**
 * restic, run again while the repository is locked by another restic of this stack: the
 * repository is shipped to every few seconds (a shared lock for a second or two) beside the daily
 * copy, whose `check` and `prune` need it alone, as does the shipper's hourly prune. restic 0.14
 * has no --retry-lock, so the wait is here.
 * @param {OffsiteConfig} oc @param {string[]} args @param {number} timeoutMs @param {number} waitForMs
 */
async function resticWaitingForLock(oc, args, timeoutMs, waitForMs) {
    const deadline = Date.now() + waitForMs;
    for (;;) {
        const res = await restic(oc, args, timeoutMs);
        if (res.code === 0 || !lockedOut(res.stderr) || Date.now() >= deadline) {
            return res;
        }
        // Jittered, so two waiting agents do not keep colliding.
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
    }
}

/** How long the daily copy waits for a lock held by a shipment (or the shipper's prune). */
const COPY_LOCK_WAIT_MS = 10 * 60_000;

/** @param {{ code: number, stderr: string }} res @param {OffsiteConfig} oc @param {string} what */
function failed(res, oc, what) {
    return new Error(`${what}: ${op.offsiteFailure(res.stderr, oc.target)}`);
}

/**
 * Opens the repository, making it on first use. Never makes one when `create` is false (a
 * restore must find the copy that is there, not start an empty one).
 * @param {OffsiteConfig} oc @param {boolean} create @param {(s: string) => void} step
 */
async function openRepository(oc, create, step) {
    const probe = await restic(oc, ["cat", "config"], 120_000);
    if (probe.code === 0) {
        return;
    }
    const missing = /Is there a repository at the following location|does not exist|unable to open config file/i.test(probe.stderr) && !/wrong password|Permission denied|Host key|timed out|refused|No route/i.test(probe.stderr);
    if (!missing) {
        throw failed(probe, oc, "opening the off-site repository");
    }
    if (!create) {
        throw new Error(`there is no off-site repository at ${oc.target.display} (\`${op.KEYS.target}\`); nothing to fetch`);
    }
    step(`off-site: no repository at ${oc.target.display} yet; restic init (encrypted with ${op.KEYS.encryptionKey})`);
    const init = await restic(oc, ["init"], 120_000);
    if (init.code !== 0) {
        throw failed(init, oc, "making the off-site repository");
    }
}

/** `restic unlock`: removes the locks restic finds stale (their process gone, or older than 30 minutes). @param {OffsiteConfig} oc */
async function unlockStale(oc) {
    await restic(oc, ["unlock"], 120_000);
}

/** The status record `file` (STATUS_FILE or WAL_STATUS_FILE) in `dir`, or undefined. @param {string} dir @param {string} [file] @returns {any} */
function readStatus(dir, file = STATUS_FILE) {
    try {
        const text = readIfExists(path.join(dir, file));
        return text ? JSON.parse(text) : undefined;
    } catch {
        return undefined;
    }
}

/** @param {string} dir @param {object} status @param {string} [file] */
function writeStatus(dir, status, file = STATUS_FILE) {
    writeFileAtomic(path.join(dir, file), `${JSON.stringify(status, null, 2)}\n`);
}

/**
 * Copies the backup directory off-site, prunes the copy by retention and checks it. Never throws:
 * the outcome is recorded in offsite.json (and returned), and the health check reads it.
 * @param {OffsiteConfig} oc
 * @param {{ dir: string, keep: { days: number, weeks: number, months: number } }} cfg
 * @param {(s: string) => void} step
 * @param {string} [systemId] the Postgres cluster whose pgBackRest repository the location holds
 */
async function copyOffsite(oc, cfg, step, systemId) {
    const started = new Date();
    const previous = readStatus(cfg.dir);
    /** @type {import("./offsitePlan").OffsiteStatus} */
    const status = { ...(previous && previous.target === oc.target.display ? previous : {}), target: oc.target.display, lastAttemptAt: started.toISOString() };
    try {
        await openRepository(oc, true, step);
        step(`off-site: restic backup ${cfg.dir} -> ${oc.target.display}`);
        // Work files of a running backup and this file are left out; everything else (backups,
        // manifest, another tool's repository such as pgbackrest/) goes.
        // pgBackRest writes each file as <name>.pgbackrest.tmp and renames it when complete.
        const excludes = [STATUS_FILE, WAL_STATUS_FILE, FETCH_DIR, `*${FETCHED_REPO_SUFFIX}`, "*.partial", "*.tmp-*", ".write-probe-*", "lost+found"]
            .map((p) => path.join(cfg.dir, p))
            .concat(["*.pgbackrest.tmp"])
            .flatMap((p) => ["--exclude", p]);
        const tags = [op.TAGS.location, ...(systemId ? [op.systemTag(systemId)] : [])].flatMap((t) => ["--tag", t]);
        const backup = await resticWaitingForLock(oc, ["backup", cfg.dir, "--json", "--host", oc.hostname, ...tags, ...excludes], 6 * 60 * 60_000, COPY_LOCK_WAIT_MS);
        const vanished = backup.code === 3 ? op.onlyVanishedFiles(`${backup.stdout}\n${backup.stderr}`, (p) => fs.existsSync(p)) : undefined;
        if (vanished) {
            step(`off-site: ${vanished.length} file(s) changed while being copied (${vanished.slice(0, 3).map((p) => path.relative(cfg.dir, p)).join(", ")}); the next copy takes them`);
        } else if (backup.code !== 0) {
            throw failed(backup, oc, "restic backup");
        }
        const summary = op.jsonLines(backup.stdout).find((m) => m.message_type === "summary");
        status.lastSnapshot = summary?.snapshot_id;
        status.bytesAdded = summary?.data_added;
        status.bytesProcessed = summary?.total_bytes_processed;
        status.filesProcessed = summary?.total_files_processed;
        step(`off-site: snapshot ${status.lastSnapshot ?? "?"}: ${plan.formatSize(status.bytesProcessed ?? 0)} in ${status.filesProcessed ?? "?"} files, ${plan.formatSize(status.bytesAdded ?? 0)} new after dedup and compression`);
        const forget = await resticWaitingForLock(oc, op.forgetArgs(cfg.keep), 6 * 60 * 60_000, COPY_LOCK_WAIT_MS);
        if (forget.code !== 0) {
            throw failed(forget, oc, "restic forget --prune");
        }
        const check = await resticWaitingForLock(oc, ["check"], 6 * 60 * 60_000, COPY_LOCK_WAIT_MS);
        if (check.code !== 0) {
            throw new Error(`restic check of the off-site repository failed: ${firstLines(check.stderr || check.stdout, 4)}`);
        }
        status.checkedAt = new Date().toISOString();
        status.lastCopyAt = started.toISOString();
        status.lastError = null;
        delete status.lastErrorAt;
        step(`off-site: copied, pruned (keep ${cfg.keep.days} days / ${cfg.keep.weeks} weeks / ${cfg.keep.months} months) and checked`);
    } catch (err) {
        status.lastError = redact(/** @type {Error} */ (err).message);
        status.lastErrorAt = new Date().toISOString();
        step(`off-site: FAILED: ${status.lastError}`);
    }
    status.durationMs = Date.now() - started.getTime();
    writeStatus(cfg.dir, status);
    return status;
}

/**
 * The off-site snapshots, newest first, with the manifest each holds.
 * @param {OffsiteConfig} oc @param {string} dir
 */
async function offsiteSnapshots(oc, dir) {
    const listed = await restic(oc, ["snapshots", "--json", "--path", dir], 300_000);
    if (listed.code !== 0) {
        throw failed(listed, oc, "listing the off-site snapshots");
    }
    /** @type {{ id: string, short_id: string, time: string }[]} */
    const snapshots = JSON.parse(listed.stdout || "[]");
    snapshots.sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
    const out = [];
    for (const s of snapshots) {
        const dump = await restic(oc, ["dump", s.id, path.join(dir, "manifest.json")], 300_000);
        // A snapshot taken before the first backup finished may hold no manifest.
        const entries = dump.code === 0 ? plan.parseManifest(dump.stdout).entries : [];
        out.push({ id: s.short_id ?? s.id.slice(0, 8), time: s.time, entries });
    }
    return out;
}

/**
 * Brings backups back from the off-site copy into the (possibly empty) location: `name`, or every
 * verified backup the location lacks, each with its manifest entry (checksum and check as they
 * were verified), plus any directory the location lacks (pgBackRest's repository) from the newest
 * snapshot. Local files are never overwritten.
 * @param {OffsiteConfig} oc
 * @param {{ dir: string }} cfg
 * @param {string | undefined} name
 * @param {(s: string) => void} step
 */
async function fetchOffsite(oc, cfg, name, step) {
    const started = Date.now();
    await openRepository(oc, false, step);
    step(`off-site: reading the snapshots at ${oc.target.display}`);
    const snapshots = await offsiteSnapshots(oc, cfg.dir);
    if (snapshots.length === 0) {
        throw new Error(`the off-site repository at ${oc.target.display} holds no snapshot of ${cfg.dir}`);
    }
    const manifest = plan.parseManifest(readIfExists(path.join(cfg.dir, "manifest.json")));
    const local = new Set([...manifest.entries.map((e) => e.name), ...fs.readdirSync(cfg.dir)]);
    const picks = op.planFetch(snapshots, local, name).filter((p) => !fs.existsSync(path.join(cfg.dir, p.entry.name)));
    // Directories of other tools (pgBackRest's repository) come from the newest snapshot.
    const newest = snapshots[0];
    const ls = await restic(oc, ["ls", newest.id, "--json"], 300_000);
    const dirs = ls.code === 0
        ? op
              .jsonLines(ls.stdout)
              .filter((n) => n.struct_type === "node" && n.type === "dir" && path.dirname(n.path) === cfg.dir && !n.name.startsWith(".") && n.name !== "lost+found")
              .map((n) => String(n.name))
              .filter((d) => !fs.existsSync(path.join(cfg.dir, d)))
        : [];
    const staging = path.join(cfg.dir, FETCH_DIR);
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    let bytes = 0;
    try {
        /** @type {Map<string, string[]>} */
        const bySnapshot = new Map();
        for (const p of picks) {
            bySnapshot.set(p.snapshot, [...(bySnapshot.get(p.snapshot) ?? []), p.entry.name]);
        }
        if (dirs.length > 0) {
            bySnapshot.set(newest.id, [...(bySnapshot.get(newest.id) ?? []), ...dirs]);
        }
        for (const [snapshot, names] of bySnapshot) {
            step(`off-site: restic restore ${snapshot}: ${names.join(", ")}`);
            const includes = names.flatMap((n) => ["--include", path.join(cfg.dir, n)]);
            const res = await restic(oc, ["restore", snapshot, "--target", staging, ...includes]);
            if (res.code !== 0) {
                throw failed(res, oc, `restic restore ${snapshot}`);
            }
        }
        // restic restores the snapshot's absolute paths under the target.
        const landed = path.join(staging, cfg.dir);
        const fetched = [];
        for (const p of picks) {
            const from = path.join(landed, p.entry.name);
            if (!fs.existsSync(from)) {
                throw new Error(`${p.entry.name} is listed in snapshot ${p.snapshot} but was not restored from it`);
            }
            bytes += fs.statSync(from).size;
            fs.renameSync(from, path.join(cfg.dir, p.entry.name));
            fetched.push({ ...p.entry, snapshot: p.snapshot });
        }
        for (const d of dirs) {
            if (fs.existsSync(path.join(landed, d))) {
                fs.renameSync(path.join(landed, d), path.join(cfg.dir, d));
            }
        }
        // Entries as they were recorded when verified: `restore` checks each file's sha256 against them.
        const known = new Set(manifest.entries.map((e) => e.name));
        const merged = [...manifest.entries, ...picks.filter((p) => !known.has(p.entry.name)).map((p) => p.entry)];
        writeFileAtomic(path.join(cfg.dir, "manifest.json"), plan.serializeManifest(merged));
        return { target: oc.target.display, snapshots: snapshots.length, fetched, directories: dirs, bytes, durationMs: Date.now() - started };
    } finally {
        fs.rmSync(staging, { recursive: true, force: true });
    }
}

/**
 * The backups the off-site copy holds (the newest snapshot that holds each), for `list --offsite`.
 * @param {OffsiteConfig} oc @param {{ dir: string }} cfg
 */
async function listOffsite(oc, cfg) {
    await openRepository(oc, false, () => undefined);
    const snapshots = await offsiteSnapshots(oc, cfg.dir);
    const rows = op.planFetch(snapshots, new Set()).map((p) => ({ ...p.entry, snapshot: p.snapshot }));
    return { target: oc.target.display, snapshots: snapshots.map((s) => ({ id: s.id, time: s.time, backups: s.entries.length })), backups: rows };
}

/** @param {string} dir */
function readWalStatus(dir) {
    return readStatus(dir, WAL_STATUS_FILE);
}

/**
 * Ships the pgBackRest repository (base backups and the WAL archive) off-site as one restic
 * snapshot, tagged with the cluster it belongs to, then forgets shipped snapshots no longer
 * needed (a prune, which rewrites pack files, runs only every `pruneEvery` shipments). Never
 * throws: the outcome is recorded in offsite-wal.json. Runs beside the daily copy (restic allows
 * concurrent backups); when the daily copy's prune or check holds the repository exclusively the
 * shipment is retried for up to `retryForMs`.
 * @param {OffsiteConfig} oc
 * @param {{ dir: string, repoDir: string, systemId: string | undefined, prune: boolean, retryForMs: number }} args
 * @param {(s: string) => void} step
 */
async function shipRepository(oc, args, step) {
    const started = new Date();
    const previous = readWalStatus(args.dir);
    /** @type {Record<string, any>} */
    const status = { ...(previous && previous.target === oc.target.display ? previous : {}), target: oc.target.display, lastAttemptAt: started.toISOString() };
    try {
        if (!fs.existsSync(path.join(args.repoDir, "archive"))) {
            throw new Error(`${args.repoDir} holds no WAL archive yet (Postgres has not made its stanza)`);
        }
        const tags = [op.TAGS.wal, ...(args.systemId ? [op.systemTag(args.systemId)] : [])].flatMap((t) => ["--tag", t]);
        const backup = await resticWaitingForLock(oc, ["backup", args.repoDir, "--json", "--host", oc.hostname, ...tags, "--exclude", "*.pgbackrest.tmp", "--exclude", path.join(args.repoDir, "*.tmp")], 30 * 60_000, args.retryForMs);
        const vanished = backup.code === 3 ? op.onlyVanishedFiles(`${backup.stdout}\n${backup.stderr}`, (p) => fs.existsSync(p)) : undefined;
        if (backup.code !== 0 && !vanished) {
            throw failed(backup, oc, "shipping the pgBackRest repository (restic backup)");
        }
        const summary = op.jsonLines(backup.stdout).find((m) => m.message_type === "summary");
        // The data is as of the moment restic started reading: that bounds what a restore replays.
        status.lastShippedAt = started.toISOString();
        status.lastSnapshot = summary?.snapshot_id?.slice(0, 8);
        status.bytesAdded = summary?.data_added;
        status.systemId = args.systemId ?? null;
        status.lastError = null;
        status.durationMs = Date.now() - started.getTime();
        if (args.prune) {
            const forget = await resticWaitingForLock(oc, [...op.walForgetArgs(), "--prune"], 30 * 60_000, args.retryForMs);
            if (forget.code !== 0 && !lockedOut(forget.stderr)) {
                throw failed(forget, oc, "restic forget --prune of shipped snapshots");
            }
            status.prunedAt = new Date().toISOString();
        }
    } catch (err) {
        status.lastError = redact(/** @type {Error} */ (err).message);
        status.lastErrorAt = new Date().toISOString();
        step(`off-site WAL shipping: FAILED: ${status.lastError}`);
    }
    writeStatus(args.dir, status, WAL_STATUS_FILE);
    return status;
}

/**
 * Brings a pgBackRest repository back from the off-site copy into `<repoDir>.offsite`, beside
 * the live one (which is not touched): the newest snapshot of a cluster other than `ownSystemId`
 * (op.pickRepositorySnapshot). Files come back group-writable, so Postgres (a member of this
 * uid's group) can archive into the repository once it is the live one.
 * @param {OffsiteConfig} oc
 * @param {{ dir: string, repoDir: string, ownSystemId: string | undefined }} args
 * @param {(s: string) => void} step
 */
async function fetchRepository(oc, args, step) {
    const started = Date.now();
    await openRepository(oc, false, step);
    const listed = await restic(oc, ["snapshots", "--json"], 300_000);
    if (listed.code !== 0) {
        throw failed(listed, oc, "listing the off-site snapshots");
    }
    const pick = op.pickRepositorySnapshot(JSON.parse(listed.stdout || "[]"), args.ownSystemId);
    if ("problem" in pick) {
        throw new Error(`${pick.problem} at ${oc.target.display}; nothing was changed`);
    }
    const dest = `${args.repoDir}${FETCHED_REPO_SUFFIX}`;
    const staging = path.join(args.dir, FETCH_DIR);
    fs.rmSync(staging, { recursive: true, force: true });
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    try {
        step(`off-site: restic restore ${pick.id.slice(0, 8)} (${pick.shipped ? "shipped repository" : "copy of the location"} of database ${pick.systemId}, ${pick.time}): ${args.repoDir}`);
        const res = await restic(oc, ["restore", pick.id, "--target", staging, "--include", args.repoDir]);
        if (res.code !== 0) {
            throw failed(res, oc, `restic restore ${pick.id.slice(0, 8)}`);
        }
        const landed = path.join(staging, args.repoDir);
        if (!fs.existsSync(landed)) {
            throw new Error(`snapshot ${pick.id.slice(0, 8)} holds no ${args.repoDir}`);
        }
        let bytes = 0;
        const open = (/** @type {string} */ p) => {
            const st = fs.lstatSync(p);
            if (st.isDirectory()) {
                fs.chmodSync(p, 0o2770);
                fs.readdirSync(p).forEach((n) => open(path.join(p, n)));
            } else if (st.isFile()) {
                bytes += st.size;
                fs.chmodSync(p, 0o660);
            }
        };
        open(landed);
        fs.renameSync(landed, dest);
        return { target: oc.target.display, snapshot: pick.id.slice(0, 8), snapshotTime: pick.time, shipped: pick.shipped, systemId: pick.systemId, directory: dest, bytes, durationMs: Date.now() - started };
    } finally {
        fs.rmSync(staging, { recursive: true, force: true });
    }
}

/**
 * Makes the fetched repository the live one: the stack's own repository is kept aside as
 * `<repoDir>.replaced-<stamp>`, never deleted. Only while Postgres is stopped (npm run backup
 * scales it to 0 first): it archives into the live directory.
 * @param {string} repoDir @param {string} stamp
 */
function swapRepository(repoDir, stamp) {
    const fetched = `${repoDir}${FETCHED_REPO_SUFFIX}`;
    if (!fs.existsSync(fetched)) {
        throw new Error(`there is no fetched repository at ${fetched}; run fetch-offsite-repository first`);
    }
    const aside = `${repoDir}.replaced-${stamp}`;
    if (fs.existsSync(repoDir)) {
        fs.renameSync(repoDir, aside);
    }
    fs.renameSync(fetched, repoDir);
    return { live: repoDir, replaced: fs.existsSync(aside) ? aside : null };
}

module.exports = { STATUS_FILE, WAL_STATUS_FILE, FETCHED_REPO_SUFFIX, shipRepository, readWalStatus, fetchRepository, swapRepository, FETCH_DIR, loadOffsiteConfig, copyOffsite, fetchOffsite, listOffsite, readStatus, openRepository, unlockStale };
