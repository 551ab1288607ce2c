// The backup agent's secrets may come from NAME_FILE (a swarm secret mounted at /run/secrets/NAME):
// images/backup/agent/secretEnv.js, and the agent's config reading BACKUP_POSTGRES_URL through it.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

const AGENT = path.resolve(__dirname, "..", "..", "images", "backup", "agent");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { readSecretEnv } = require(path.join(AGENT, "secretEnv.js")) as { readSecretEnv: (name: string, env?: NodeJS.ProcessEnv) => string | undefined };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-secret-"));
function file(name: string, content: string): string {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
}

/** Runs `backup-agent status` with only `env`; the config is read before anything else. */
function agent(env: Record<string, string>): Promise<{ code: number; out: string }> {
    return new Promise((resolve) =>
        execFile(process.execPath, [path.join(AGENT, "agent.js"), "status"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, timeout: 15_000 }, (err, stdout, stderr) =>
            resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
        ),
    );
}

describe("backup agent secrets from files", () => {
    it("readSecretEnv: NAME, or NAME_FILE's content without one trailing newline", () => {
        assert.equal(readSecretEnv("S", { S: "direct" }), "direct");
        assert.equal(readSecretEnv("S", { S_FILE: file("s", "from-file\n") }), "from-file");
        assert.equal(readSecretEnv("S", { S_FILE: file("s2", "two\n\n") }), "two\n");
        assert.equal(readSecretEnv("S", { S_FILE: file("s3", "crlf\r\n") }), "crlf");
        assert.equal(readSecretEnv("S", {}), undefined);
        assert.equal(readSecretEnv("S", { S: "" }), undefined);
        assert.equal(readSecretEnv("S", { S_FILE: file("empty", "\n") }), undefined);
    });

    it("readSecretEnv: both set, or an unreadable file, is an error that names them and no value", () => {
        assert.throws(() => readSecretEnv("S", { S: "hunter2", S_FILE: file("s4", "hunter3") }), (e: Error) => /both S and S_FILE are set/.test(e.message) && !/hunter/.test(e.message));
        assert.throws(() => readSecretEnv("S", { S_FILE: path.join(dir, "missing") }), /cannot read S_FILE \(.*missing\): ENOENT/);
    });

    it("the agent takes BACKUP_POSTGRES_URL_FILE and refuses it next to BACKUP_POSTGRES_URL", async () => {
        const backups = fs.mkdtempSync(path.join(os.tmpdir(), "backup-dir-"));
        const base = { BACKUP_DIR: backups, BACKUP_TARGETS: JSON.stringify([{ id: "postgres-app", kind: "postgres", database: "app" }]) };
        const url = "postgres://opsbook_admin:Pa55word@postgres:5432/app";
        const ok = await agent({ ...base, BACKUP_POSTGRES_URL_FILE: file("url", `${url}\n`) });
        assert.doesNotMatch(ok.out, /BACKUP_POSTGRES_URL/, ok.out);
        assert.ok(!ok.out.includes("Pa55word"), ok.out);
        const both = await agent({ ...base, BACKUP_POSTGRES_URL: url, BACKUP_POSTGRES_URL_FILE: file("url2", url) });
        assert.equal(both.code, 1);
        assert.match(both.out, /both BACKUP_POSTGRES_URL and BACKUP_POSTGRES_URL_FILE are set/);
        assert.ok(!both.out.includes("Pa55word"), both.out);
        const none = await agent(base);
        assert.equal(none.code, 1);
        assert.match(none.out, /BACKUP_POSTGRES_URL is not set \(nor BACKUP_POSTGRES_URL_FILE\)/);
        fs.rmSync(backups, { recursive: true, force: true });
    });
});
