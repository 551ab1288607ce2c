// The first slice with the real engines: `pulumi up` of the staging spec on a fresh stack, a real
// HTTP health check, a no-op second `up`, data surviving a Postgres restart, and a destroy that
// leaves no container behind (and keeps the data volumes, as documented).
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { TestStack, docker, httpGet, requireEngines, waitFor } from "./harness";

// The first slice: one api on the reference app with Postgres and Redis, no preset.
const FIRST_SLICE = `config:
  opsbook:services:
    api:
      env:
        APP_ROLE: api
      uses: [postgres, redis]
`;

describe("first deploy: one api with Postgres and Redis", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-first");
    let endpoints: Record<string, string> = {};
    let postgresContainer = "";

    before(async () => {
        requireEngines();
        await stack.init(FIRST_SLICE);
    });

    after(async () => {
        await stack.dispose();
    });

    it("deploys with pulumi up and exports the api endpoint", async () => {
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${res.stdout}\n${res.stderr}`);
        const outputs = await stack.outputs();
        endpoints = outputs.endpoints;
        postgresContainer = outputs.postgresContainer;
        assert.match(endpoints.api, /^http:\/\/127\.0\.0\.1:\d+$/);
    });

    it("answers /health over HTTP with its database and Redis connected", async () => {
        const health = await httpGet(`${endpoints.api}/health`);
        assert.equal(health.status, 200, JSON.stringify(health.body));
        assert.equal(health.body.status, "ok");
        assert.equal(health.body.database, "connected");
        assert.equal(health.body.redis, "connected");
    });

    it("publishes only the api, through the gateway, on 127.0.0.1", async () => {
        const res = await docker("ps", "--filter", `label=opsbook.stack=${stack.name}`, "--format", "{{.Names}} {{.Ports}}");
        const lines = res.stdout.split("\n").filter(Boolean);
        const names = lines.map((l) => l.split(" ")[0].replace(`opsbook-${stack.name}-`, "").replace(/-[0-9a-f]{6}$/, "")).sort();
        assert.deepEqual(names, ["api", "backup", "gateway", "postgres", "redis"], res.stdout);
        const apiPort = new URL(endpoints.api).port;
        for (const line of lines) {
            const [name, ...ports] = line.split(" ");
            if (name.includes("-gateway-")) {
                assert.equal(ports.join(" "), `127.0.0.1:${apiPort}->10001/tcp`, line);
            } else {
                assert.doesNotMatch(ports.join(" "), /->/, `${name} publishes a port: ${line}`);
            }
        }
    });

    it("changes nothing on a second pulumi up", async () => {
        const res = await stack.up(["--expect-no-changes"]);
        assert.equal(res.code, 0, `second pulumi up reported changes or failed:\n${res.stdout}\n${res.stderr}`);
    });

    it("keeps a row written before a Postgres restart", async () => {
        // As the superuser over the container's socket: the test needs no password.
        const psql = (sql: string) => docker("exec", "-u", "postgres", postgresContainer, "psql", "-X", "-At", "-U", "opsbook_admin", "-d", "app", "-c", sql);
        const write = await psql("CREATE TABLE IF NOT EXISTS e2e_probe(v text); INSERT INTO e2e_probe VALUES ('kept-across-restart');");
        assert.equal(write.code, 0, write.stderr);
        const restart = await docker("restart", postgresContainer);
        assert.equal(restart.code, 0, restart.stderr);
        await waitFor("Postgres healthy after restart", 90, () => docker("inspect", "-f", "{{.State.Health.Status}}", postgresContainer), (r) => r.stdout.trim() === "healthy");
        const read = await psql("SELECT v FROM e2e_probe;");
        assert.equal(read.stdout.trim(), "kept-across-restart", read.stderr);
        const health = await waitFor("api healthy again", 30, () => httpGet(`${endpoints.api}/health`), (h) => h.status === 200);
        assert.equal(health.body.database, "connected");
    });

    it("keeps the data when a change replaces the Postgres container, never running two servers", async () => {
        const set = await stack.pulumi(["config", "set", "--path", "opsbook:postgres.memoryMb", "640"]);
        assert.equal(set.code, 0, set.stderr);
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${res.stdout}\n${res.stderr}`);
        const replaced = (await stack.outputs()).postgresContainer;
        assert.notEqual(replaced, postgresContainer, "Postgres was not replaced");
        // Stop-first: the engine log of the old container ends before the new one starts.
        const oldGone = await docker("inspect", postgresContainer);
        assert.notEqual(oldGone.code, 0, "the old Postgres container still exists");
        postgresContainer = replaced;
        const read = await docker("exec", "-u", "postgres", postgresContainer, "psql", "-X", "-At", "-U", "opsbook_admin", "-d", "app", "-c", "SELECT v FROM e2e_probe;");
        assert.equal(read.stdout.trim(), "kept-across-restart", read.stderr);
        const health = await waitFor("api healthy after the database change", 60, () => httpGet(`${endpoints.api}/health`), (h) => h.status === 200);
        assert.equal(health.body.database, "connected");
    });

    it("leaves no container of the stack after pulumi destroy, and keeps the data volumes", async () => {
        const res = await stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(res.code, 0, `pulumi destroy failed:\n${res.stdout}\n${res.stderr}`);
        assert.deepEqual(await stack.containers(), []);
        const volumes = await docker("volume", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`);
        assert.deepEqual(volumes.stdout.split("\n").filter(Boolean).sort(), [
            `opsbook-${stack.name}-backups`,
            `opsbook-${stack.name}-postgres-data`,
            `opsbook-${stack.name}-redis-data`,
        ]);
    });

    it("opens the kept data again when the stack is deployed after a destroy", async () => {
        // The destroy above kept the volumes but not the generated superuser password: the new
        // deployment's password must still open the old data directory.
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up after destroy failed:\n${res.stdout}\n${res.stderr}`);
        const outputs = await stack.outputs();
        const read = await docker("exec", "-u", "postgres", outputs.postgresContainer, "psql", "-X", "-At", "-U", "opsbook_admin", "-d", "app", "-c", "SELECT v FROM e2e_probe;");
        assert.equal(read.stdout.trim(), "kept-across-restart", read.stderr);
        const health = await waitFor("api healthy on the kept data", 60, () => httpGet(`${outputs.endpoints.api}/health`), (h) => h.status === 200);
        assert.equal(health.body.database, "connected");
    });
});
