#!/usr/bin/env node
// Clears a stack's lock in the file state backend when the `pulumi` that took it is gone, so a
// deploy killed mid-release (Ctrl-C twice, a closed terminal, an OOM kill) does not leave the next
// one failing with "the stack is currently locked". A lock whose process still runs, or that was
// taken on another host (we cannot tell whether it still runs), is left alone and named.
//
//   node scripts/lib/stale-locks.js STACK        (scripts/deploy.sh runs it before `pulumi up`)
//
// The backend is PULUMI_BACKEND_URL when set, else `backend.url` of Pulumi.yaml (file://~/.opsbook/state);
// another kind of backend (Pulumi Cloud, s3://, ...) keeps its own locks and is not touched.
// The file backend keeps one lock per `pulumi` run as
//   <backend>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json   (+ <uuid>.json.attrs)
// (`.pulumi/locks/<stack>/` for backends in the older layout without projects), holding
//   {"pid":22381,"username":"root","hostname":"vm","timestamp":"2025-01-02T03:04:05.6Z"}
//
// Messages go to stderr. Exit 0 when no lock is left (none, or all cleared), 3 when a lock that may
// be live remains (deploy.sh then stops instead of failing inside `pulumi up`), 2 on bad usage.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");

const ROOT = path.resolve(__dirname, "..", "..");

/** The local directory of a file:// backend URL, or undefined for another kind of backend. */
function backendDir(url, home = os.homedir(), cwd = ROOT) {
    const m = /^file:\/\/([^?#]*)/.exec(url.trim());
    if (!m) {
        return undefined;
    }
    const p = decodeURIComponent(m[1]);
    if (p === "~" || p.startsWith("~/")) {
        return path.join(home, p.slice(1));
    }
    return path.resolve(cwd, p);
}

/** `backend.url` and `name` of a Pulumi.yaml (a two-line subset of YAML: no parser needed). */
function projectSettings(text) {
    const name = /^name:\s*["']?([^"'\s#]+)/m.exec(text)?.[1];
    const url = /^backend:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*["']?([^"'\s#]+)/m.exec(text)?.[1];
    return { name, url };
}

/** When the process `pid` started (ms since the epoch), from /proc; undefined when unknown. */
function processStartMs(pid) {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        // The command name (field 2) may hold spaces and parentheses: count fields after the last `)`.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const startTicks = Number(fields[19]);
        const btime = Number(/^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "utf8"))?.[1]);
        const hz = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;
        return Number.isFinite(startTicks) && Number.isFinite(btime) ? btime * 1000 + (startTicks / hz) * 1000 : undefined;
    } catch {
        return undefined;
    }
}

/** The command line of `pid`, for telling people which process holds a lock. */
function commandOf(pid) {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
    } catch {
        return undefined;
    }
}

/**
 * Is the process that took a lock still running on this host? Alive when the pid exists (EPERM:
 * it exists, another user's) and did not start after the lock was taken: a pid the kernel has
 * handed to a newer process since is not the lock's. Unsure means alive.
 */
function holderAlive(pid, takenAtMs) {
    try {
        process.kill(pid, 0);
    } catch (err) {
        if (err.code === "ESRCH") {
            return false;
        }
    }
    const started = processStartMs(pid);
    // Two seconds of slack for clock-tick rounding: a holder starts before it writes its lock.
    return !(started !== undefined && Number.isFinite(takenAtMs) && started > takenAtMs + 2000);
}

/** The lock files of a stack: `{ file, pid, hostname, username, timestamp }`, unreadable ones with `error`. */
function stackLocks(dir, project, stack) {
    const parts = stack.split("/");
    const qualified = parts.length === 3 ? parts : ["organization", project, parts[parts.length - 1]];
    const dirs = [path.join(dir, ".pulumi", "locks", ...qualified), path.join(dir, ".pulumi", "locks", parts[parts.length - 1])];
    const locks = [];
    for (const d of dirs) {
        let names;
        try {
            names = fs.readdirSync(d);
        } catch {
            continue;
        }
        for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
            const file = path.join(d, name);
            try {
                const c = JSON.parse(fs.readFileSync(file, "utf8"));
                locks.push({ file, pid: Number(c.pid), hostname: String(c.hostname ?? ""), username: String(c.username ?? ""), timestamp: String(c.timestamp ?? "") });
            } catch (err) {
                locks.push({ file, error: err.message });
            }
        }
    }
    return locks;
}

/**
 * Clears the stack's stale locks and reports on the rest. Returns what it did, for tests;
 * `say` receives one line per lock.
 */
function clearStaleLocks({ dir, project, stack, hostname = os.hostname(), say = (line) => process.stderr.write(`${line}\n`) }) {
    const result = { cleared: [], held: [] };
    for (const lock of stackLocks(dir, project, stack)) {
        if (lock.error !== undefined) {
            say(`deploy: cannot read the lock ${lock.file} of stack ${stack} (${lock.error}); left it alone: remove it yourself if no pulumi runs on this stack, or run 'pulumi cancel --stack ${stack}'`);
            result.held.push(lock);
            continue;
        }
        const who = `pid ${lock.pid}, ${lock.username}@${lock.hostname}`;
        if (lock.hostname !== hostname) {
            say(
                `deploy: stack ${stack} is locked by a pulumi on another host (${who}) since ${lock.timestamp}; left it alone, as this host cannot tell whether it still runs. ` +
                    `If it does not, run 'pulumi cancel --stack ${stack}' (lock: ${lock.file})`,
            );
            result.held.push(lock);
        } else if (!Number.isInteger(lock.pid) || lock.pid <= 0 || holderAlive(lock.pid, Date.parse(lock.timestamp))) {
            const command = Number.isInteger(lock.pid) && lock.pid > 0 ? commandOf(lock.pid) : undefined;
            say(
                `deploy: stack ${stack} is locked by a process that is still running (${who}${command ? `: ${command}` : ""}) since ${lock.timestamp}; ` +
                    `left it alone: let it finish (or stop it), then deploy again (lock: ${lock.file})`,
            );
            result.held.push(lock);
        } else {
            fs.rmSync(lock.file, { force: true });
            fs.rmSync(`${lock.file}.attrs`, { force: true });
            say(`deploy: cleared a stale lock on stack ${stack}: pulumi pid ${lock.pid} (${lock.username}@${lock.hostname}) took it at ${lock.timestamp} and is no longer running (was ${lock.file})`);
            result.cleared.push(lock);
        }
    }
    return result;
}

function main(argv) {
    const stack = argv[0];
    if (!stack || stack.startsWith("-")) {
        process.stderr.write("usage: node scripts/lib/stale-locks.js STACK\n");
        return 2;
    }
    let settings = { name: undefined, url: undefined };
    try {
        settings = projectSettings(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    } catch {
        // No Pulumi.yaml: only PULUMI_BACKEND_URL can name the backend.
    }
    const url = process.env.PULUMI_BACKEND_URL || settings.url;
    const dir = url ? backendDir(url) : undefined;
    if (!dir || !settings.name) {
        return 0;
    }
    return clearStaleLocks({ dir, project: settings.name, stack }).held.length > 0 ? 3 : 0;
}

module.exports = { backendDir, projectSettings, holderAlive, stackLocks, clearStaleLocks };

if (require.main === module) {
    process.exitCode = main(process.argv.slice(2));
}
