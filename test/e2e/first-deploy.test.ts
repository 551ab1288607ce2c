// The first slice with the real engines: `pulumi up` of the staging spec on a fresh stack, a real
// HTTP health check, a no-op second `up`, secrets only as files, data surviving a Postgres
// restart and a stop-first Postgres update, and a destroy that leaves no container or swarm
// service behind (and keeps the data volumes, as documented, for a redeploy to find).
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { TestStack, assertSecretsOnlyAsFiles, docker, httpGet, inspect, printed, requireEngines, taskContainer, waitFor } from "./harness";

// The first slice: one api on the reference app with Postgres and Redis, no preset.
// Monitoring is off: this file counts the stack's services and ports (monitoring.test.ts covers it).
const FIRST_SLICE = `config:
  opsbook:monitoring:
    enabled: false
  opsbook:services:
    api:
      env:
        APP_ROLE: api
      uses: [postgres, redis]
`;

describe("first deploy: one api with Postgres and Redis", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-first");
    let endpoints: Record<string, string> = {};
    let postgresService = "";

    /** psql as the superuser over the socket of the running Postgres task: the test needs no password. */
    const psql = async (sql: string) => docker("exec", "-u", "postgres", await taskContainer(postgresService), "psql", "-X", "-At", "-U", "opsbook_admin", "-d", "app", "-c", sql);

    before(async () => {
        requireEngines();
        await stack.init(FIRST_SLICE);
    });

    after(async () => {
        await stack.dispose();
    });

    it("deploys with pulumi up and exports the api endpoint and the swarm services", async () => {
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        endpoints = outputs.endpoints;
        postgresService = outputs.postgresService;
        assert.match(endpoints.api, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.equal(postgresService, `opsbook-${stack.name}-postgres`);
        assert.deepEqual(outputs.services, { api: `opsbook-${stack.name}-api` });
        assert.equal(outputs.redisService, `opsbook-${stack.name}-redis`);
        assert.equal(outputs.backups.agentService, `opsbook-${stack.name}-backup`);
        assert.equal(outputs.gatewayContainer, `opsbook-${stack.name}-gateway`);
    });

    it("answers /health over HTTP with its database and Redis connected", async () => {
        const health = await httpGet(`${endpoints.api}/health`);
        assert.equal(health.status, 200, JSON.stringify(health.body));
        assert.equal(health.body.status, "ok");
        assert.equal(health.body.database, "connected");
        assert.equal(health.body.redis, "connected");
    });

    it("runs every long-running part as a swarm service and publishes only the api, through the gateway, on 127.0.0.1", async () => {
        const prefix = `opsbook-${stack.name}-`;
        // One-shot jobs (the grants) have finished; what runs are the long-running services.
        const running = await docker("service", "ls", "--filter", `label=opsbook.stack=${stack.name}`, "--filter", "mode=replicated", "--format", "{{.Name}} {{.Replicas}}");
        assert.deepEqual(
            running.stdout.split("\n").filter(Boolean).sort(),
            ["api", "backup", "postgres", "redis"].map((n) => `${prefix}${n} 1/1`),
            running.stdout,
        );
        for (const svc of ["api", "backup", "postgres", "redis"]) {
            const spec = (await inspect(`${prefix}${svc}`, "service")).Endpoint;
            assert.deepEqual(spec.Ports ?? [], [], `${svc} publishes a port: ${JSON.stringify(spec.Ports)}`);
        }
        const res = await docker("ps", "--filter", `label=opsbook.stack=${stack.name}`, "--format", "{{.Names}} {{.Ports}}");
        const lines = res.stdout.split("\n").filter(Boolean);
        // Task containers are named <service>.<slot>.<task id>; the gateway is a standalone container.
        const names = lines.map((l) => l.split(" ")[0].replace(prefix, "").replace(/\.\d+\.[0-9a-z]+$/, "")).sort();
        assert.deepEqual(names, ["api", "backup", "gateway", "postgres", "redis"], res.stdout);
        const apiPort = new URL(endpoints.api).port;
        for (const line of lines) {
            const [name, ...ports] = line.split(" ");
            if (name === `${prefix}gateway`) {
                assert.equal(ports.join(" "), `127.0.0.1:${apiPort}->10001/tcp`, line);
            } else {
                assert.doesNotMatch(ports.join(" "), /->/, `${name} publishes a port: ${line}`);
            }
        }
    });

    it("gives every secret as a file under /run/secrets, never in a container's env, command or labels", async () => {
        const files = await assertSecretsOnlyAsFiles(stack);
        // Postgres' and Redis' passwords, the api's DATABASE_URL and REDIS_URL, the agent's URL.
        assert.ok(files >= 5, `only ${files} secret files were checked`);
    });

    it("changes nothing on a second pulumi up", async () => {
        const res = await stack.up(["--expect-no-changes"]);
        assert.equal(res.code, 0, `second pulumi up reported changes or failed:\n${printed(res)}`);
    });

    it("keeps a row written before a Postgres restart", async () => {
        const write = await psql("CREATE TABLE IF NOT EXISTS e2e_probe(v text); INSERT INTO e2e_probe VALUES ('kept-across-restart');");
        assert.equal(write.code, 0, write.stderr);
        // The task's server stops (as on a node reboot); Swarm's restart policy starts a new task
        // of the same service on the same volume.
        const before = await taskContainer(postgresService);
        const stop = await docker("stop", before);
        assert.equal(stop.code, 0, stop.stderr);
        const after = await waitFor(
            "a new healthy Postgres task",
            120,
            async () => {
                const c = await taskContainer(postgresService, 5);
                return { c, health: (await docker("inspect", "-f", "{{.State.Health.Status}}", c)).stdout.trim() };
            },
            (t) => t.c !== before && t.health === "healthy",
        );
        const read = await psql("SELECT v FROM e2e_probe;");
        assert.equal(read.stdout.trim(), "kept-across-restart", read.stderr);
        stack.log(`Postgres task ${before} stopped, ${after.c} serves the row`);
        const health = await waitFor("api healthy again", 60, () => httpGet(`${endpoints.api}/health`), (h) => h.status === 200 && h.body.database === "connected");
        assert.equal(health.body.database, "connected");
    });

    it("keeps the data when a change updates the Postgres service, never running two servers", async () => {
        const old = await taskContainer(postgresService);
        const set = await stack.pulumi(["config", "set", "--path", "opsbook:postgres.memoryMb", "640"]);
        assert.equal(set.code, 0, set.stderr);
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        assert.equal((await stack.outputs()).postgresService, postgresService, "the service was renamed");
        const service = await inspect(postgresService, "service");
        assert.equal(service.Spec.TaskTemplate.Resources.Limits.MemoryBytes, 640 * 1024 * 1024, "the memory change did not reach the service");
        assert.equal(service.UpdateStatus?.State, "completed", `the update did not complete: ${JSON.stringify(service.UpdateStatus)}`);
        const fresh = await taskContainer(postgresService);
        assert.notEqual(fresh, old, "Postgres runs in its old task");
        // Stop-first: the old server had exited before the new one started.
        const oldState = (await inspect(old, "container")).State;
        assert.equal(oldState.Running, false, "the old Postgres task still runs");
        const newStarted = Date.parse((await inspect(fresh, "container")).State.StartedAt);
        assert.ok(Date.parse(oldState.FinishedAt) <= newStarted, `two servers overlapped: old finished ${oldState.FinishedAt}, new started ${new Date(newStarted).toISOString()}`);
        const read = await psql("SELECT v FROM e2e_probe;");
        assert.equal(read.stdout.trim(), "kept-across-restart", read.stderr);
        const health = await waitFor("api healthy after the database change", 60, () => httpGet(`${endpoints.api}/health`), (h) => h.status === 200 && h.body.database === "connected");
        assert.equal(health.body.database, "connected");
    });

    it("leaves no container, swarm service, secret, config or network of the stack after pulumi destroy, and keeps the data volumes", async () => {
        const res = await stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(res.code, 0, `pulumi destroy failed:\n${printed(res)}`);
        assert.deepEqual(await stack.services(), [], "swarm services are left");
        // Task containers go a moment after their service.
        await waitFor("no container of the stack", 60, () => stack.containers(), (c) => c.length === 0);
        assert.deepEqual(await stack.secrets(), [], "swarm secrets are left");
        assert.deepEqual(await stack.configs(), [], "swarm configs are left");
        assert.deepEqual(await stack.networks(), [], "networks are left");
        assert.deepEqual(await stack.volumes(), [
            `opsbook-${stack.name}-backups`,
            `opsbook-${stack.name}-postgres-data`,
            `opsbook-${stack.name}-redis-data`,
        ]);
    });

    it("opens the kept data again when the stack is deployed after a destroy", async () => {
        // The destroy above kept the volumes but not the generated superuser password: the new
        // deployment's password must still open the old data directory.
        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up after destroy failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        postgresService = outputs.postgresService;
        const read = await psql("SELECT v FROM e2e_probe;");
        assert.equal(read.stdout.trim(), "kept-across-restart", read.stderr);
        const health = await waitFor("api healthy on the kept data", 60, () => httpGet(`${outputs.endpoints.api}/health`), (h) => h.status === 200);
        assert.equal(health.body.database, "connected");
    });
});
