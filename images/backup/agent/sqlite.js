// @ts-check
// SQLite: an online backup that loses no committed write and stops no writer, its verification,
// and an online restore. Debian's sqlite3 CLI does the work (the same tool the app uses).
//
// Why VACUUM INTO rather than the CLI's `.backup`: both are online, but `.backup` copies 100
// pages per step and restarts from the first page whenever another process writes in between,
// so a busy database can keep it from ever finishing. VACUUM INTO reads the whole database in
// one read transaction: in WAL mode writers carry on meanwhile, and the copy holds exactly the
// transactions committed before it began.
"use strict";
const fs = require("fs");
const { firstLines, runTool, toolEnv } = require("./common");

const BUSY_TIMEOUT_MS = 10_000;

/** A path inside a quoted SQL string; our own paths, but refuse what could end the quoting. @param {string} p */
function quotedPath(p) {
    if (/['\n\r\\]/.test(p)) {
        throw new Error(`refusing a path with quotes or newlines: ${p}`);
    }
    return `'${p}'`;
}

/** @param {string} db @param {string} sql @param {string[]} [flags] */
async function sqlite(db, sql, flags = []) {
    const r = await runTool("sqlite3", ["-bail", "-batch", ...flags, db], { env: toolEnv(), input: `.timeout ${BUSY_TIMEOUT_MS}\n${sql}\n` });
    if (r.code !== 0) {
        throw new Error(`sqlite3 ${db}: ${firstLines(r.stderr)}`);
    }
    return r.stdout;
}

/** @param {string} output rows of the last `-json` result set */
function rows(output) {
    const text = output.trim();
    return text === "" ? [] : JSON.parse(text.slice(text.lastIndexOf("\n[") + 1));
}

/**
 * Copies the live database `src` into `file`, online. The copy is switched out of WAL mode so
 * it is one self-contained file.
 * @param {string} src
 * @param {string} file
 */
async function dump(src, file) {
    if (!fs.existsSync(src)) {
        throw new Error(`the database file ${src} does not exist (has the service that owns it started?)`);
    }
    await sqlite(src, `VACUUM INTO ${quotedPath(file)};`);
    await sqlite(file, "PRAGMA journal_mode=DELETE;");
}

/**
 * PRAGMA integrity_check and exact row counts of every table.
 * @param {string} file
 * @param {boolean} readOnly open read-only (a backup file) or with query_only (the live file)
 * @returns {Promise<import("./plan").BackupCheck>}
 */
async function check(file, readOnly) {
    const flags = readOnly ? ["-readonly", "-json"] : ["-json"];
    const guard = readOnly ? "" : "PRAGMA query_only=1;\n";
    const integrity = rows(await sqlite(file, `${guard}PRAGMA integrity_check;`, flags))
        .map((/** @type {any} */ r) => r.integrity_check)
        .join("; ");
    const names = rows(
        await sqlite(file, `${guard}SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name;`, flags),
    ).map((/** @type {any} */ r) => String(r.name));
    if (integrity !== "ok") {
        return { tables: names.length, counted: [], integrity };
    }
    const counted =
        names.length === 0
            ? []
            : rows(
                  await sqlite(
                      file,
                      `${guard}${names.map((/** @type {string} */ n) => `SELECT '${n.replace(/'/g, "''")}' AS t, count(*) AS n FROM "${n.replace(/"/g, '""')}"`).join(" UNION ALL ")};`,
                      flags,
                  ),
              )
                  .map((/** @type {any} */ r) => ({ table: String(r.t), rows: Number(r.n) }))
                  // Largest first, as for Postgres: `list` shows the first one.
                  .sort((/** @type {{ rows: number }} */ a, /** @type {{ rows: number }} */ b) => b.rows - a.rows);
    return { tables: names.length, counted, integrity };
}

/**
 * Verification: the copy passes integrity_check and its tables can be counted. A copy with a
 * record (a re-verify) must also still hold what it held when it was made.
 * @param {string} file
 * @param {import("./plan").BackupCheck | undefined} expected
 */
async function verify(file, expected) {
    const found = await check(file, true);
    if (found.integrity !== "ok") {
        return { check: found, problem: `integrity_check: ${String(found.integrity).slice(0, 300)}` };
    }
    const { compareChecks } = require("./plan");
    return { check: found, problem: compareChecks(expected, found) };
}

/**
 * Online restore with SQLite's backup API (`.restore`): the live file's pages are replaced in one
 * write transaction, so the app's next query sees the restored data; nothing has to stop.
 * @param {string} live
 * @param {string} file
 */
async function restoreLive(live, file) {
    await sqlite(live, `.restore ${quotedPath(file)}`);
    const after = await check(live, false);
    if (after.integrity !== "ok") {
        throw new Error(`the restored database fails integrity_check: ${after.integrity}`);
    }
    return after;
}

module.exports = { dump, verify, check, restoreLive };
