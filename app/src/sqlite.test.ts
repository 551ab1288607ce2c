import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SqliteStore, bindParams, parseJsonOutput, sqliteBackup } from "./sqlite";
import { ReadOnlyError } from "./store";

describe("bindParams", () => {
  test("strings become hex blobs cast to text; numbers and null as literals", () => {
    assert.equal(bindParams("SELECT ?, ?, ?", ["a'b", 42, null]), "SELECT CAST(X'612762' AS TEXT), 42, NULL");
  });
  test("an injection attempt is only data", () => {
    const out = bindParams("INSERT INTO items(name) VALUES (?)", ["x'); DROP TABLE items; --"]);
    assert.match(out, /^INSERT INTO items\(name\) VALUES \(CAST\(X'[0-9a-f]+' AS TEXT\)\)$/);
  });
  test("count mismatches and non-finite numbers throw", () => {
    assert.throws(() => bindParams("SELECT ?", []), /more placeholders/);
    assert.throws(() => bindParams("SELECT 1", ["x"]), /1 params for 0/);
    assert.throws(() => bindParams("SELECT ?", [Infinity]), /finite/);
  });
});

describe("parseJsonOutput", () => {
  test("empty, one set, last of several", () => {
    assert.deepEqual(parseJsonOutput(""), []);
    assert.deepEqual(parseJsonOutput('[{"a":1},\n{"a":2}]\n'), [{ a: 1 }, { a: 2 }]);
    assert.deepEqual(parseJsonOutput('[{"journal_mode":"wal"}]\n[{"b":"]\\n["}]\n'), [{ b: "]\n[" }]);
  });
});

// Needs the sqlite3 CLI (the image has it; `npm test` installs it on the host). Without it these
// tests fail and say so: a skipped test would pass without proving anything.
const hasCli = spawnSync("sqlite3", ["-version"]).status === 0;
describe("SqliteStore against the sqlite3 CLI", () => {
  test("the sqlite3 CLI is there", () => {
    assert.ok(hasCli, "the sqlite3 CLI is not installed on this host: run 'apt-get install sqlite3' (npm test does it as root)");
  });

  const dir = mkdtempSync(join(tmpdir(), "sqlite-"));
  const path = join(dir, "app.db");
  const store = new SqliteStore(path);

  test("init, items with awkward text, job runs, heartbeats", async () => {
    await store.init();
    assert.equal(await store.ping(), true);
    const name = `it's "quoted"\nand ünïcode; DROP TABLE items;`;
    const item = await store.addItem(name);
    assert.equal(item.name, name);
    assert.deepEqual((await store.listItems()).map((i) => i.name), [name]);
    const run = await store.recordJobRun("eod", "2025-01-31", "manual_replay");
    assert.deepEqual([run.job, run.run_date, run.source], ["eod", "2025-01-31", "manual_replay"]);
    await store.writeHeartbeats(["a", "b"], 1000);
    await store.writeHeartbeats(["a"], 2000);
    assert.deepEqual([...(await store.readHeartbeats(["a", "b", "c"])).entries()].sort(), [["a", 2000], ["b", 1000]]);
  });

  test("read-only sessions refuse writes", async () => {
    await assert.rejects(new SqliteStore(path, true).addItem("x"), ReadOnlyError);
    assert.equal((await new SqliteStore(path, true).listItems()).length, 1);
  });

  test("online backup is complete and leaves no partial file", async () => {
    const target = join(dir, "backups", "app-1.db");
    const r = await sqliteBackup(path, target);
    assert.ok(r.bytes > 0);
    assert.ok(!existsSync(`${target}.partial`));
    assert.equal((await new SqliteStore(target).listItems()).length, 1);
    await assert.rejects(sqliteBackup(path, "relative.db"), /absolute/);
    await assert.rejects(sqliteBackup(path, join(dir, "x'.db")), /quotes/);
  });

  test("a missing directory makes ping false", async () => {
    assert.equal(await new SqliteStore(join(dir, "no", "such", "dir.db")).ping(), false);
  });
});
