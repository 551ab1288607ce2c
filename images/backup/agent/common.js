// @ts-check
// Process, file and lock helpers of the backup agent. Node built-ins only: the image has Debian's
// nodejs and no node_modules.
"use strict";
const { spawn } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

/** Secrets that must never reach a log line or an error message; see redact(). */
const secrets = new Set();

/** @param {string | undefined} value */
function registerSecret(value) {
    if (value) {
        secrets.add(value);
        secrets.add(encodeURIComponent(value));
    }
}

/** @param {string} text */
function redact(text) {
    let out = String(text);
    for (const s of secrets) {
        out = out.split(s).join("***");
    }
    return out;
}

/** Progress on stderr, `[backup] <step> (<elapsed>s)`, like the project's scripts. */
class Progress {
    constructor() {
        this.started = Date.now();
    }
    /** @param {string} step */
    step(step) {
        process.stderr.write(`[backup] ${redact(step)} (${((Date.now() - this.started) / 1000).toFixed(1)}s)\n`);
    }
}

/** Children of this process, so a shutdown can stop a running dump instead of orphaning it. */
const children = new Set();

function killChildren() {
    for (const child of children) {
        child.kill("SIGTERM");
    }
}

/**
 * The environment a tool runs with: only what it needs. The agent's own env holds the database
 * URL; tools get the parts they need as PG* variables (see postgres.js), never on argv.
 * @param {Record<string, string>} [extra]
 */
function toolEnv(extra = {}) {
    return { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", LANG: "C.UTF-8", TZ: "UTC", SQLITE_TMPDIR: "/tmp", ...extra };
}

/**
 * Runs a tool to completion. Arguments never hold secrets (callers pass them as env); stderr is
 * kept (its tail) for error messages and redacted.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ env?: Record<string, string>, input?: string, timeoutMs?: number }} [opts]
 * @returns {Promise<{ code: number, stdout: string, stderr: string }>}
 */
function runTool(cmd, args, opts = {}) {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { env: opts.env ?? toolEnv(), stdio: ["pipe", "pipe", "pipe"] });
        children.add(child);
        /** @type {Buffer[]} */
        const out = [];
        /** @type {Buffer[]} */
        const err = [];
        let errBytes = 0;
        const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
        child.stdout.on("data", (d) => out.push(d));
        child.stderr.on("data", (d) => {
            err.push(d);
            errBytes += d.length;
            // Keep the tail only: a tool that loops on an error must not fill the memory limit.
            while (errBytes > 64 * 1024 && err.length > 1) {
                errBytes -= /** @type {Buffer} */ (err.shift()).length;
            }
        });
        child.on("error", (e) => {
            children.delete(child);
            if (timer) clearTimeout(timer);
            reject(new Error(`cannot run ${cmd}: ${e.message}`));
        });
        child.on("close", (code, signal) => {
            children.delete(child);
            if (timer) clearTimeout(timer);
            resolve({
                code: code ?? (signal ? 128 : 1),
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: redact(Buffer.concat(err).toString("utf8")) + (signal ? `\n(${cmd} stopped by ${signal})` : ""),
            });
        });
        child.stdin.on("error", () => undefined);
        child.stdin.end(opts.input ?? "");
    });
}

/** The useful part of a tool's stderr for a one-line reason. @param {string} stderr */
function firstLines(stderr, max = 3) {
    return redact(stderr)
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !/^(DETAIL|HINT|CONTEXT|LINE \d+):/.test(l))
        .slice(0, max)
        .join(" | ")
        .slice(0, 600);
}

/** @param {string} file */
function sha256File(file) {
    return new Promise((resolve, reject) => {
        const hash = crypto.createHash("sha256");
        fs.createReadStream(file)
            .on("data", (d) => hash.update(d))
            .on("error", reject)
            .on("end", () => resolve(hash.digest("hex")));
    });
}

/** @param {string} file */
function fsyncFile(file) {
    const fd = fs.openSync(file, "r");
    try {
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
}

/** @param {string} dir */
function fsyncDir(dir) {
    try {
        fsyncFile(dir);
    } catch {
        // Some filesystems refuse fsync on a directory; the rename is still atomic.
    }
}

/**
 * Write-then-rename, so a reader (the health check) sees the old file or the new one, never half.
 * @param {string} file
 * @param {string} text
 */
function writeFileAtomic(file, text) {
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, text, { mode: 0o640 });
    fsyncFile(tmp);
    fs.renameSync(tmp, file);
    fsyncDir(path.dirname(file));
}

/** @param {string} file */
function readIfExists(file) {
    try {
        return fs.readFileSync(file, "utf8");
    } catch (err) {
        if (/** @type {NodeJS.ErrnoException} */ (err).code === "ENOENT") {
            return undefined;
        }
        throw err;
    }
}

/** @param {number} ms */
function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

// The lock lives on the container's /tmp (tmpfs): the scheduled loop and a `docker exec` command
// share it, and it cannot outlive the container, so a crash never leaves a stale lock behind.
const LOCK_FILE = "/tmp/opsbook-backup.lock";

/** @param {number} pid */
function alive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    } catch (err) {
        return /** @type {NodeJS.ErrnoException} */ (err).code === "EPERM";
    }
}

/** What holds the lock now, if anything. @returns {{ pid: number, what: string, since: string } | undefined} */
function lockHolder() {
    const text = readIfExists(LOCK_FILE);
    if (!text) {
        return undefined;
    }
    try {
        const holder = JSON.parse(text);
        return alive(holder.pid) ? holder : undefined;
    } catch {
        return undefined;
    }
}

/**
 * One backup, verification or restore at a time: they share the scratch database names, the
 * manifest and the Postgres server's spare capacity.
 * @template T
 * @param {string} what
 * @param {number} waitMs
 * @param {Progress} progress
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function withLock(what, waitMs, progress, fn) {
    const deadline = Date.now() + waitMs;
    let announced = false;
    for (;;) {
        try {
            const fd = fs.openSync(LOCK_FILE, "wx");
            fs.writeSync(fd, JSON.stringify({ pid: process.pid, what, since: new Date().toISOString() }));
            fs.closeSync(fd);
            break;
        } catch (err) {
            if (/** @type {NodeJS.ErrnoException} */ (err).code !== "EEXIST") {
                throw err;
            }
            const holder = lockHolder();
            if (!holder) {
                fs.rmSync(LOCK_FILE, { force: true });
                continue;
            }
            if (Date.now() > deadline) {
                throw new Error(`another operation (${holder.what}, pid ${holder.pid}, since ${holder.since}) is still running; try again when it has finished`);
            }
            if (!announced) {
                progress.step(`waiting for the running ${holder.what} (since ${holder.since}) to finish`);
                announced = true;
            }
            await sleep(1000);
        }
    }
    try {
        return await fn();
    } finally {
        fs.rmSync(LOCK_FILE, { force: true });
    }
}

module.exports = {
    registerSecret,
    redact,
    Progress,
    killChildren,
    toolEnv,
    runTool,
    firstLines,
    sha256File,
    fsyncFile,
    fsyncDir,
    writeFileAtomic,
    readIfExists,
    sleep,
    lockHolder,
    withLock,
};
