// Issue 3 with the real engines: every preset previews cleanly under the policy pack, and three
// presets are deployed and checked over HTTP: Redis with workers (copy-trading), migrations that
// gate a release (prediction-market, including a failing migration that must leave the old
// release serving), and SQLite on a volume (market-watchdog).
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { PRESETS } from "../../presets";
import { TestStack, docker, httpGet, httpPost, inspect, printed, requireEngines, taskContainer, taskContainers, waitFor } from "./harness";

const STAGING_POLICY = ["--policy-pack", "policies", "--policy-pack-config", "policies/config/staging.json"];

/**
 * What each spec service runs: the swarm service's spec version, its APP_RELEASE and its running
 * task containers. Equal snapshots mean nothing was updated and no task was replaced.
 */
async function serviceSnapshot(services: Record<string, string>): Promise<Record<string, { version: number; release?: string; tasks: string[] }>> {
    const snap: Record<string, { version: number; release?: string; tasks: string[] }> = {};
    for (const [name, svc] of Object.entries(services)) {
        const service = await inspect(svc, "service");
        const env = (service.Spec.TaskTemplate.ContainerSpec.Env ?? []) as string[];
        snap[name] = {
            version: service.Version.Index,
            release: env.find((e) => e.startsWith("APP_RELEASE="))?.slice("APP_RELEASE=".length),
            tasks: (await taskContainers(svc)).sort(),
        };
    }
    return snap;
}

function presetConfig(preset: string, extra = ""): string {
    return `config:\n  opsbook:preset: ${preset}\n${extra}`;
}

describe("every preset previews cleanly under the staging policy", { timeout: 15 * 60 * 1000 }, () => {
    before(() => requireEngines());
    for (const preset of Object.keys(PRESETS)) {
        it(`${preset}`, async () => {
            const stack = new TestStack(`e2e-pv-${preset.slice(0, 6)}`);
            try {
                await stack.init(presetConfig(preset));
                if (preset === "signal-bot") {
                    // The bot's token is the user's; a made-up one of the real shape.
                    const set = await stack.pulumi(["config", "set", "--secret", "TELEGRAM_BOT_TOKEN", "7000000001:AAF4x9Qd2LkVb8Zp1Rt6Yw3Hn5Jm7Kc0Ue"]);
                    assert.equal(set.code, 0, set.stderr);
                }
                if (preset === "energy-trading") {
                    const set = await stack.pulumi(["config", "set", "--secret", "CLIENT_CERT_SUBJECT_HEADER", "X-SSL-Client-S-DN"]);
                    assert.equal(set.code, 0, set.stderr);
                }
                const res = await stack.pulumi(["preview", "--non-interactive", ...STAGING_POLICY]);
                assert.equal(res.code, 0, `preview of ${preset} failed:\n${printed(res)}`);
                assert.doesNotMatch(res.stdout, /mandatory/, res.stdout);
                assert.deepEqual(await stack.containers(), [], "a preview created containers");
                assert.deepEqual(await stack.services(), [], "a preview created swarm services");
                assert.deepEqual(await stack.secrets(), [], "a preview created swarm secrets");
            } finally {
                await stack.dispose();
            }
        });
    }
});

describe("copy-trading: api, workers and web with Postgres and Redis", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-copy");
    let endpoints: Record<string, string> = {};

    before(async () => {
        requireEngines();
        await stack.init(presetConfig("copy-trading"));
    });
    after(() => stack.dispose());

    it("deploys under the staging policy", async () => {
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        endpoints = (await stack.outputs()).endpoints;
        assert.deepEqual(Object.keys(endpoints).sort(), ["api", "web"], "workers must not be published");
    });

    it("runs two api replicas and one worker", async () => {
        const outputs = await stack.outputs();
        assert.equal((await taskContainers(outputs.services.api)).length, 2);
        assert.equal((await taskContainers(outputs.services.workers)).length, 1);
        assert.equal((await inspect(outputs.services.api, "service")).Spec.Mode.Replicated.Replicas, 2);
        assert.equal((await inspect(outputs.services.workers, "service")).Spec.Mode.Replicated.Replicas, 1);
    });

    it("answers health on api and web, with the database and Redis connected", async () => {
        const api = await httpGet(`${endpoints.api}/health`);
        assert.equal(api.status, 200, JSON.stringify(api.body));
        assert.equal(api.body.database, "connected");
        assert.equal(api.body.redis, "connected");
        const web = await httpGet(`${endpoints.web}/health`);
        assert.equal(web.status, 200, JSON.stringify(web.body));
    });

    it("shows fresh worker heartbeats from Redis on /system/status", async () => {
        const status = await waitFor(
            "all four workers reporting",
            60,
            () => httpGet(`${endpoints.api}/system/status`),
            (s) => s.status === 200 && Object.values(s.body.workers ?? {}).length === 4 && Object.values(s.body.workers).every((w: any) => !w.stale),
        );
        assert.deepEqual(Object.keys(status.body.workers).sort(), ["auto-claim", "copy-trading", "health-check", "position-sync"]);
    });

    it("ran migrations as the schema owner, and the api writes rows as the app role", async () => {
        const created = await httpPost(`${endpoints.api}/items`, { name: "first-order" });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const outputs = await stack.outputs();
        const postgres = await taskContainer(outputs.postgresService);
        const owner = await docker("exec", "-u", "postgres", postgres, "psql", "-X", "-At", "-U", "opsbook_admin", "-d", "app", "-c", "SELECT tableowner FROM pg_tables WHERE tablename = 'items'");
        assert.equal(owner.stdout.trim(), "app_migrator", owner.stderr);
        const ddl = await docker("exec", "-u", "postgres", postgres, "psql", "-X", "-At", "-U", "opsbook_admin", "-d", "app", "-c", "SET ROLE app_app; DROP TABLE items;");
        assert.notEqual(ddl.code, 0, "the app role could drop a table");
        assert.match(ddl.stderr, /must be owner of table items/);
    });

    it("refuses admin calls without the bearer token", async () => {
        const res = await httpPost(`${endpoints.api}/admin/reconcile`, {});
        assert.equal(res.status, 401);
    });
});

describe("prediction-market: migrations gate a release", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-pm");
    let endpoints: Record<string, string> = {};
    let servicesBefore: Awaited<ReturnType<typeof serviceSnapshot>> = {};

    before(async () => {
        requireEngines();
        await stack.init(presetConfig("prediction-market"));
    });
    after(() => stack.dispose());

    it("deploys release 1: migrations, then backend, orderbook, reality-engine and frontend", async () => {
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        endpoints = outputs.endpoints;
        servicesBefore = await serviceSnapshot(outputs.services);
        assert.deepEqual(Object.keys(servicesBefore).sort(), ["backend", "frontend", "orderbook", "reality-engine"]);
        assert.ok(Object.values(servicesBefore).every((s) => s.release === "1" && s.tasks.length > 0), JSON.stringify(servicesBefore));
        assert.ok(outputs.migrationsFinishedAt, "no migration ran");
        const backend = await httpGet(`${endpoints.backend}/health`);
        assert.equal(backend.status, 200, JSON.stringify(backend.body));
        assert.equal(backend.body.release, "1");
        const orderbook = await httpGet(`${endpoints.orderbook}/`);
        assert.equal(orderbook.status, 200);
        assert.equal(orderbook.body.service, "everything-market-orderbook");
    });

    it("does not run migrations again when nothing in the release changed", async () => {
        const res = await stack.up(["--expect-no-changes", ...STAGING_POLICY]);
        assert.equal(res.code, 0, `second up reported changes:\n${printed(res)}`);
    });

    it("fails the deploy when release 2's migration fails, and release 1 keeps serving untouched", async () => {
        // The stack's own keys merge over the preset's: its migrate command stays.
        for (const args of [
            ["opsbook:release", "2"],
            ["--path", "opsbook:migrations.env.MIGRATE_FAIL", "1"],
        ]) {
            const set = await stack.pulumi(["config", "set", ...args]);
            assert.equal(set.code, 0, set.stderr);
        }
        const res = await stack.up(STAGING_POLICY);
        assert.notEqual(res.code, 0, "pulumi up succeeded although the migration failed");
        assert.match(res.stdout + res.stderr, /failed with exit code 1; nothing that depends on it was changed/);
        const outputs = await stack.outputs();
        assert.deepEqual(await serviceSnapshot(outputs.services), servicesBefore, "services moved to release 2 (or were touched)");
        const backend = await httpGet(`${endpoints.backend}/health`);
        assert.equal(backend.status, 200);
        assert.equal(backend.body.release, "1");
    });

    it("rolls to release 2 once its migration passes", async () => {
        const rm = await stack.pulumi(["config", "rm", "--path", "opsbook:migrations.env.MIGRATE_FAIL"]);
        assert.equal(rm.code, 0, rm.stderr);
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        const backend = await httpGet(`${outputs.endpoints.backend}/health`);
        assert.equal(backend.body.release, "2");
    });

    it("answers 503 except on health in maintenance mode", async () => {
        const set = await stack.pulumi(["config", "set", "--path", "opsbook:services.backend.env.MAINTENANCE_MODE", "true"]);
        assert.equal(set.code, 0, set.stderr);
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const { endpoints: now } = await stack.outputs();
        assert.equal((await httpGet(`${now.backend}/items`)).status, 503);
        assert.equal((await httpGet(`${now.backend}/health`)).status, 200);
    });
});

describe("market-watchdog: SQLite on a volume", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-sqlite");

    before(async () => {
        requireEngines();
        await stack.init(presetConfig("market-watchdog"));
    });
    after(() => stack.dispose());

    it("deploys web and worker on one SQLite file, with no Postgres or Redis", async () => {
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        assert.equal(outputs.postgresService, undefined);
        assert.equal(outputs.redisService, undefined);
        const health = await httpGet(`${outputs.endpoints.web}/api/health`);
        assert.equal(health.status, 200, JSON.stringify(health.body));
        assert.equal(health.body.database, "connected");
    });

    it("keeps rows written before the web service's task is replaced, stopping the old writer first", async () => {
        let { endpoints, services } = await stack.outputs();
        const old = await taskContainer(services.web);
        const created = await httpPost(`${endpoints.web}/items`, { name: "AAPL above 200" });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const set = await stack.pulumi(["config", "set", "--path", "opsbook:services.web.env.LOG_LEVEL", "debug"]);
        assert.equal(set.code, 0, set.stderr);
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        ({ endpoints } = await stack.outputs());
        const fresh = await taskContainer(services.web);
        assert.notEqual(fresh, old, "the web service still runs its old task");
        // One SQLite writer at a time: the old task had exited before the new one started.
        const oldState = (await inspect(old, "container")).State;
        assert.equal(oldState.Running, false, "the old web task still runs");
        assert.ok(Date.parse(oldState.FinishedAt) <= Date.parse((await inspect(fresh, "container")).State.StartedAt), "two web tasks ran at once on the SQLite file");
        const items = await httpGet(`${endpoints.web}/items`);
        assert.ok(items.body.items.some((i: { name: string }) => i.name === "AAPL above 200"), JSON.stringify(items.body));
    });
});
