// @ts-check
// Postgres: dump at an exported snapshot, restore into a scratch database to verify, and restore
// over the live database by swapping names. Every tool gets the connection as PG* env (the
// password as PGPASSWORD), never as an argument, so `ps` and error messages never show it.
"use strict";
const { spawn } = require("child_process");
const { firstLines, redact, registerSecret, runTool, toolEnv } = require("./common");
const { compareChecks } = require("./plan");

/** How many of the largest tables get exact row counts at dump time and after each restore. */
const COUNTED_TABLES = 50;

/**
 * @typedef {{ host: string, port: string, user: string, password: string, sslmode?: string }} Connection
 * @typedef {import("./plan").BackupCheck} BackupCheck
 */

/** @param {string} url @returns {Connection} */
function parseConnection(url) {
    let u;
    try {
        u = new URL(url);
    } catch {
        throw new Error("BACKUP_POSTGRES_URL is not a URL; it must be postgres://user:password@host:port/database");
    }
    if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
        throw new Error("BACKUP_POSTGRES_URL must be a postgres:// URL");
    }
    const conn = {
        host: u.hostname,
        port: u.port || "5432",
        user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        sslmode: u.searchParams.get("sslmode") ?? undefined,
    };
    registerSecret(conn.password);
    return conn;
}

/** @param {Connection} conn @param {string} database */
function pgEnv(conn, database) {
    return toolEnv({
        PGHOST: conn.host,
        PGPORT: conn.port,
        PGUSER: conn.user,
        PGPASSWORD: conn.password,
        PGDATABASE: database,
        PGAPPNAME: "opsbook-backup",
        PGCONNECT_TIMEOUT: "10",
        ...(conn.sslmode ? { PGSSLMODE: conn.sslmode } : {}),
    });
}

/** @param {string} name */
function ident(name) {
    return `"${name.replace(/"/g, '""')}"`;
}

/** @param {string} text */
function literal(text) {
    return `'${text.replace(/'/g, "''")}'`;
}

const PSQL_ARGS = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=terse", "-f", "-"];

/** Runs SQL (on stdin) in `database` and returns psql's unaligned output. */
async function psql(/** @type {Connection} */ conn, /** @type {string} */ database, /** @type {string} */ sql) {
    const r = await runTool("psql", PSQL_ARGS, { env: pgEnv(conn, database), input: sql });
    if (r.code !== 0) {
        throw new Error(`psql on ${database}: ${firstLines(r.stderr)}`);
    }
    return r.stdout;
}

const USER_TABLES = `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'`;

/** @param {string} schema @param {string} table */
const countOf = (schema, table) =>
    `(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', ${schema}, ${table}), false, true, '')))[1]::text::bigint`;

/** Table count and exact row counts of the largest tables, as one `CHECK:<json>` line. */
const SOURCE_CHECK_SQL = `SELECT 'CHECK:' || json_build_object(
  'tables', (SELECT count(*) ${USER_TABLES}),
  'counted', coalesce((SELECT json_agg(json_build_object('schema', t.nspname, 'table', t.relname, 'rows', ${countOf("t.nspname", "t.relname")}) ORDER BY t.size DESC, t.nspname, t.relname)
    FROM (SELECT n.nspname, c.relname, pg_total_relation_size(c.oid) AS size ${USER_TABLES} ORDER BY size DESC, n.nspname, c.relname LIMIT ${COUNTED_TABLES}) t), '[]'::json))::text;`;

/** The same facts in a restored database, for the tables the source counted. @param {BackupCheck["counted"]} counted */
function restoredCheckSql(counted) {
    const wanted = JSON.stringify(counted.map((c) => ({ s: c.schema ?? "public", t: c.table })));
    return `SELECT 'CHECK:' || json_build_object(
  'tables', (SELECT count(*) ${USER_TABLES}),
  'counted', coalesce((SELECT json_agg(json_build_object('schema', x.s, 'table', x.t, 'rows',
      CASE WHEN to_regclass(format('%I.%I', x.s, x.t)) IS NULL THEN -1 ELSE ${countOf("x.s", "x.t")} END))
    FROM json_to_recordset(${literal(wanted)}::json) AS x(s text, t text)), '[]'::json))::text;`;
}

/** @param {string} output @returns {BackupCheck} */
function parseCheck(output) {
    const line = output.split("\n").find((l) => l.startsWith("CHECK:"));
    if (!line) {
        throw new Error("the check query returned nothing");
    }
    const parsed = JSON.parse(line.slice("CHECK:".length));
    return { tables: Number(parsed.tables), counted: parsed.counted.map((/** @type {any} */ c) => ({ schema: c.schema, table: c.table, rows: Number(c.rows) })) };
}

/**
 * An interactive psql, for work that must happen inside one open transaction: the snapshot a
 * dump is taken at stays valid only while the transaction that exported it is open.
 */
class PsqlSession {
    /** @param {Connection} conn @param {string} database */
    constructor(conn, database) {
        this.child = spawn("psql", PSQL_ARGS, { env: pgEnv(conn, database), stdio: ["pipe", "pipe", "pipe"] });
        this.out = "";
        this.err = "";
        /** @type {number | null} */
        this.exitCode = null;
        /** @type {(() => void)[]} */
        this.waiters = [];
        const wake = () => this.waiters.splice(0).forEach((w) => w());
        this.child.stdout.on("data", (d) => {
            this.out += d.toString("utf8");
            wake();
        });
        this.child.stderr.on("data", (d) => {
            this.err = (this.err + d.toString("utf8")).slice(-8192);
        });
        this.child.on("close", (code) => {
            this.exitCode = code ?? 1;
            wake();
        });
        this.child.on("error", (e) => {
            this.err += e.message;
            this.exitCode = 1;
            wake();
        });
        this.child.stdin.on("error", () => undefined);
    }
    /** @param {string} sql */
    send(sql) {
        this.child.stdin.write(`${sql}\n`);
    }
    /**
     * Waits for a line that starts with `prefix`; fails if psql exits first (an SQL error, with
     * ON_ERROR_STOP) or after `timeoutMs`.
     * @param {string} prefix
     */
    async line(prefix, timeoutMs = 30 * 60_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const found = this.out.split("\n").find((l, i, all) => l.startsWith(prefix) && i < all.length - 1);
            if (found) {
                return found.slice(prefix.length);
            }
            if (this.exitCode !== null) {
                throw new Error(`psql: ${firstLines(this.err) || `exited with code ${this.exitCode}`}`);
            }
            if (Date.now() > deadline) {
                this.child.kill("SIGKILL");
                throw new Error(`psql gave no ${prefix} line within ${timeoutMs / 1000}s`);
            }
            await new Promise((r) => {
                this.waiters.push(() => r(undefined));
                setTimeout(r, 1000);
            });
        }
    }
    async close() {
        this.child.stdin.end("\\q\n");
        while (this.exitCode === null) {
            await new Promise((r) => this.waiters.push(() => r(undefined)));
        }
        return this.exitCode;
    }
    kill() {
        this.child.kill("SIGKILL");
    }
}

/**
 * `pg_dump -Fc` of `database` into `file`, at a snapshot exported by a read-only repeatable-read
 * transaction that also counts the rows of the largest tables. The counts and the dump see
 * exactly the same data, so the verification restore can be compared row for row.
 * @param {Connection} conn
 * @param {string} database
 * @param {string} file
 * @param {(step: string) => void} step
 * @returns {Promise<BackupCheck>}
 */
async function dump(conn, database, file, step) {
    const session = new PsqlSession(conn, database);
    try {
        session.send("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;");
        session.send("SELECT 'SNAPSHOT:' || pg_export_snapshot();");
        const snapshot = await session.line("SNAPSHOT:", 60_000);
        session.send(SOURCE_CHECK_SQL);
        const source = parseCheck(`CHECK:${await session.line("CHECK:")}`);
        step(`pg_dump -Fc of ${database} at snapshot ${snapshot} (${source.tables} tables)`);
        const r = await runTool("pg_dump", ["--format=custom", "--no-password", `--snapshot=${snapshot}`, `--file=${file}`], {
            env: pgEnv(conn, database),
        });
        if (r.code !== 0) {
            throw new Error(`pg_dump failed: ${firstLines(r.stderr)}`);
        }
        session.send("COMMIT;");
        const code = await session.close();
        if (code !== 0) {
            throw new Error(`psql (snapshot session) exited with code ${code}: ${firstLines(session.err)}`);
        }
        return source;
    } catch (err) {
        session.kill();
        throw err;
    }
}

/** @param {Connection} conn @param {string} name */
async function databaseExists(conn, name) {
    return (await psql(conn, "postgres", `SELECT 1 FROM pg_database WHERE datname = ${literal(name)};`)).trim() === "1";
}

/** @param {Connection} conn @param {string} name */
async function dropDatabase(conn, name) {
    await psql(conn, "postgres", `DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE);`);
}

/** Scratch databases a crashed run left behind. @param {Connection} conn @param {RegExp} pattern */
async function dropLeftovers(conn, pattern) {
    const names = (await psql(conn, "postgres", "SELECT datname FROM pg_database;")).split("\n").filter((n) => pattern.test(n));
    for (const name of names) {
        await dropDatabase(conn, name);
    }
    return names;
}

/**
 * pg_restore of `file` into a new database `name` (template0, owned like `ownerOf`), then the
 * check. The caller drops it (verify) or swaps it in (restore).
 * @param {Connection} conn
 * @param {string} file
 * @param {string} name
 * @param {BackupCheck["counted"]} counted
 * @param {string} [ownerOf] a database whose owner the new one gets
 * @returns {Promise<BackupCheck>}
 */
async function restoreInto(conn, file, name, counted, ownerOf) {
    const owner = ownerOf
        ? `OWNER ${ident((await psql(conn, "postgres", `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = ${literal(ownerOf)};`)).trim())}`
        : "";
    await psql(conn, "postgres", `CREATE DATABASE ${ident(name)} TEMPLATE template0 ${owner};`);
    const r = await runTool("pg_restore", ["--exit-on-error", "--no-password", `--dbname=${name}`, file], { env: pgEnv(conn, name) });
    if (r.code !== 0) {
        throw new Error(`pg_restore failed: ${firstLines(r.stderr)}`);
    }
    return parseCheck(await psql(conn, name, restoredCheckSql(counted)));
}

/**
 * Restores `file` over the live database with little downtime and a way back: restore into
 * `restore_<stamp>` while the app keeps running, check it against the backup's own counts, give
 * it the live database's owner, grants and settings, then swap names (connections to the live
 * database are closed for that moment). The old database is kept as `<db>_pre_restore_<stamp>`.
 * @param {Connection} conn
 * @param {string} database
 * @param {string} file
 * @param {BackupCheck | undefined} expected
 * @param {string} scratch restore_<stamp>
 * @param {string} keepAs
 * @param {(step: string) => void} step
 */
async function restoreLive(conn, database, file, expected, scratch, keepAs, step) {
    step(`pg_restore into ${scratch} (the app keeps running on ${database})`);
    try {
        const actual = await restoreInto(conn, file, scratch, expected?.counted ?? [], database);
        const problem = compareChecks(expected, actual);
        if (problem) {
            throw new Error(`the restored data does not match the backup's record: ${problem}`);
        }
        step(`restored ${actual.tables} tables into ${scratch}; copying ${database}'s grants and settings`);
        await psql(
            conn,
            "postgres",
            `SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', ${literal(scratch)})
   FROM pg_database WHERE datname = ${literal(database)} AND datacl IS NOT NULL
 UNION ALL
 SELECT format('GRANT %s ON DATABASE %I TO %s', a.privilege_type, ${literal(scratch)},
        CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
   FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = ${literal(database)}
 UNION ALL
 SELECT format('ALTER DATABASE %I SET %s TO %L', ${literal(scratch)}, split_part(cfg, '=', 1), substr(cfg, strpos(cfg, '=') + 1))
   FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) cfg
  WHERE d.datname = ${literal(database)} AND s.setrole = 0
\\gexec`,
        );
    } catch (err) {
        await dropDatabase(conn, scratch).catch(() => undefined);
        throw err;
    }
    step(`swapping ${scratch} in as ${database}; the old one becomes ${keepAs}`);
    // No new sessions on the live database, then end the open ones, then rename both: renaming
    // needs a database nobody is connected to.
    await psql(conn, "postgres", `ALTER DATABASE ${ident(database)} WITH ALLOW_CONNECTIONS false;`);
    try {
        await psql(
            conn,
            "postgres",
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${literal(database)} AND pid <> pg_backend_pid();
DO $$ BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = ${literal(database)});
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
BEGIN;
ALTER DATABASE ${ident(database)} RENAME TO ${ident(keepAs)};
ALTER DATABASE ${ident(scratch)} RENAME TO ${ident(database)};
COMMIT;`,
        );
    } catch (err) {
        // The swap did not happen: the live database is untouched; the restored copy goes.
        await dropDatabase(conn, scratch).catch(() => undefined);
        throw err;
    } finally {
        // Whichever database now has which name, both accept connections again.
        for (const name of [database, keepAs]) {
            await psql(conn, "postgres", `DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_database WHERE datname = ${literal(name)}) THEN EXECUTE format('ALTER DATABASE %I WITH ALLOW_CONNECTIONS true', ${literal(name)}); END IF; END $$;`).catch(() => undefined);
        }
    }
}

/**
 * Verification: restore `file` into `verify_<stamp>`, compare with the dump's snapshot, drop it.
 * @param {Connection} conn
 * @param {string} file
 * @param {BackupCheck | undefined} expected
 * @param {string} scratch
 * @returns {Promise<{ check: BackupCheck, problem?: string }>}
 */
async function verify(conn, file, expected, scratch) {
    try {
        const check = await restoreInto(conn, file, scratch, expected?.counted ?? []);
        // Without a record (an imported file), report the largest tables the restore holds.
        const described = expected ? check : parseCheck(await psql(conn, scratch, SOURCE_CHECK_SQL));
        return { check: described, problem: compareChecks(expected, check) };
    } finally {
        await dropDatabase(conn, scratch).catch(() => undefined);
    }
}

/**
 * The cluster's system identifier: it names the pgBackRest repository a cluster archives into
 * (a restored cluster keeps its origin's), so off-site snapshots of that repository are tagged with it.
 * @param {Connection} conn
 */
async function systemIdentifier(conn) {
    const out = (await psql(conn, "postgres", "SELECT system_identifier FROM pg_control_system()")).trim();
    if (!/^\d+$/.test(out)) {
        throw new Error("pg_control_system() returned no system identifier");
    }
    return out;
}

module.exports = { systemIdentifier, parseConnection, dump, verify, restoreLive, databaseExists, dropLeftovers, redact };
