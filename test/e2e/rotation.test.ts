// Issue 5 (rotation) with the real engines: the app's database password rotates under steady
// load with zero failed requests. Two login roles take turns: a rotation gives the idle one a
// new password and moves the services to it; the previous one keeps working until the next
// rotation, and then its old password no longer logs in. The URL reaches the services only as a
// swarm secret file: never in a container's env, command or labels, before or after a rotation.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { TestStack, assertSecretsOnlyAsFiles, docker, printed, requireEngines, taskContainer, taskContainers } from "./harness";
import { underLoad } from "./loadProbe";

const SPEC = `config:
  opsbook:monitoring:
    enabled: false
  opsbook:services:
    api:
      replicas: 2
      env:
        APP_ROLE: api
      uses: [postgres, redis]
`;

describe("rotating the app's database password", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-rot");
    let api = "";
    let apiService = "";
    let postgresService = "";
    /** Every URL the api had, to check that none shows in a container once rotated away. */
    const seen: string[] = [];

    /**
     * The DATABASE_URL the api's running tasks read from their secret file (kept in memory only).
     * Every task must have the same one: a rotation is over only when no task has the old URL.
     */
    async function apiDatabaseUrl(): Promise<string> {
        const tasks = await taskContainers(apiService);
        assert.equal(tasks.length, 2, `the api runs ${tasks.length} tasks: ${tasks.join(", ")}`);
        const urls = new Set<string>();
        for (const task of tasks) {
            const read = await docker("exec", task, "cat", "/run/secrets/DATABASE_URL");
            assert.equal(read.code, 0, `${task} has no /run/secrets/DATABASE_URL: ${read.stderr}`);
            urls.add(read.stdout);
        }
        assert.equal(urls.size, 1, "the api's tasks have different database URLs");
        const url = [...urls][0];
        seen.push(url, decodeURIComponent(new URL(url).password));
        return url;
    }

    /**
     * Whether a URL logs in over the stack network (the data network is not attachable: the login
     * is tried from inside the Postgres task, over TCP to `postgres`). The URL travels in an env file.
     */
    async function logsIn(url: string): Promise<boolean> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-rot-"));
        const envFile = path.join(dir, "env");
        fs.writeFileSync(envFile, `PROBE_URL=${url}\n`, { mode: 0o600 });
        try {
            const res = await docker("exec", "--env-file", envFile, await taskContainer(postgresService), "sh", "-c", 'psql "$PROBE_URL" -X -At -c "SELECT 1"');
            return res.code === 0 && res.stdout.trim() === "1";
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    async function rotateUnderLoad(n: number) {
        const set = await stack.pulumi(["config", "set", "--path", "opsbook:rotation.POSTGRES_APP_PASSWORD", String(n)]);
        assert.equal(set.code, 0, set.stderr);
        const { result: res, load } = await underLoad(`${api}/health`, () => stack.up());
        assert.equal(res.code, 0, `pulumi up of rotation ${n} failed:\n${printed(res)}`);
        stack.log(`rotation ${n}: ${load.requests} requests, ${load.failed} failed, longest outage ${load.longestOutageMs} ms`);
        assert.ok(load.requests > 100, `too little load: ${load.requests}`);
        assert.equal(load.failed, 0, `failed requests during rotation ${n}: ${JSON.stringify(load.failures)}`);
    }

    before(async () => {
        requireEngines();
        await stack.init(SPEC);
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        api = outputs.endpoints.api;
        apiService = outputs.services.api;
        postgresService = outputs.postgresService;
    });
    after(() => stack.dispose());

    it("rotates with zero failed requests; the previous password stays valid until the next rotation, then stops logging in", async () => {
        const first = await apiDatabaseUrl();
        assert.match(first, /^postgres:\/\/app_app_blue:/);
        assert.equal(await logsIn(first), true, "the first password does not log in");

        await rotateUnderLoad(1);
        const second = await apiDatabaseUrl();
        assert.match(second, /^postgres:\/\/app_app_green:/, "the services did not move to the other login role");
        assert.equal(await logsIn(second), true);
        assert.equal(await logsIn(first), true, "the previous password stopped working one rotation too early");

        await rotateUnderLoad(2);
        const third = await apiDatabaseUrl();
        assert.match(third, /^postgres:\/\/app_app_blue:/);
        assert.notEqual(third, first, "the blue role kept its old password");
        assert.equal(await logsIn(third), true);
        assert.equal(await logsIn(first), false, "the rotated role's old password still logs in");
        assert.equal(await logsIn(second), true, "the previous password must stay valid until the next rotation");
    });

    it("gives the rotated passwords only as secret files: no container of the stack, old or new, shows one in its env, command or labels", async () => {
        assert.ok(seen.length >= 6, "the rotation test did not run first");
        const files = await assertSecretsOnlyAsFiles(stack, seen);
        assert.ok(files >= 2, `only ${files} secret files were checked`);
    });
});
