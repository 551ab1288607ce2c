// The `opsbook` CLI against a deployed copy-trading stack (real Pulumi engine, plugins and Docker
// engine): every procedure is checked by its effect, not only its exit code. One stack, driven
// through the CLI as a person would (`node cli/opsbook.js --stack <it>`), with stdin a pipe, so a
// changing command without --yes must refuse.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { CliResult, ROOT, TestStack, backupCli, docker, httpGet, httpPost, inspect, printed, requireEngines, run, stackSecretValues, taskContainer, taskContainers, waitFor } from "./harness";
import { underLoad } from "./loadProbe";

const STAGING_POLICY = ["--policy-pack", "policies", "--policy-pack-config", "policies/config/staging.json"];

/** The CLI as `npx opsbook` runs it, on a test's stack and state, with staging's policy config. */
function opsbookOn(stack: TestStack): (...args: string[]) => Promise<CliResult> {
    return (...args) => {
        stack.log(`opsbook ${args.join(" ")}`);
        return run("node", [path.join(ROOT, "cli", "opsbook.js"), "--stack", stack.name, "--policy-config", "policies/config/staging.json", ...args], { env: stack.env });
    };
}

describe("opsbook CLI on a copy-trading stack", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-cli");
    let endpoints: Record<string, string> = {};
    let services: Record<string, string> = {};

    const opsbook = opsbookOn(stack);

    /** psql as the stack's superuser inside the Postgres task: the test's own view of the rows. */
    const sql = async (statement: string): Promise<string> => {
        const pg = await taskContainer(services.postgres);
        const res = await docker("exec", "-u", "postgres", pg, "psql", "-U", "opsbook_admin", "-d", "app", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", statement);
        assert.equal(res.code, 0, res.stderr);
        return res.stdout.trim();
    };

    const auditEntries = async (): Promise<any[]> => {
        const res = await opsbook("audit", "--json");
        assert.equal(res.code, 0, res.stderr);
        return JSON.parse(res.stdout);
    };

    before(async () => {
        requireEngines();
        // Backups off: the agent's first verified backup would only lengthen every deploy here.
        await stack.init("config:\n  opsbook:preset: copy-trading\n  opsbook:backups:\n    enabled: false\n  opsbook:monitoring:\n    enabled: false\n");
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        endpoints = outputs.endpoints;
        services = { ...outputs.services, postgres: outputs.postgresService };
    });
    after(() => stack.dispose());

    it("status --json: each service's tasks, release and image, each endpoint healthy; exit 0", async () => {
        const res = await opsbook("status", "--json");
        assert.equal(res.code, 0, res.stderr + res.stdout);
        const status = JSON.parse(res.stdout);
        assert.equal(status.healthy, true);
        const api = status.services.find((s: any) => s.name === "api");
        assert.deepEqual({ running: api.running, desired: api.desired, release: api.release, image: api.image }, { running: 2, desired: 2, release: "1", image: "opsbook/app:reference" });
        assert.deepEqual(status.services.map((s: any) => s.name).sort(), ["api", "postgres", "redis", "web", "workers"]);
        assert.deepEqual(status.endpoints.map((e: any) => [e.name, e.status]).sort(), [["api", 200], ["web", 200]]);
    });

    it("bad input: a clear message and exit 2, before anything changes", async () => {
        const unknownService = await opsbook("logs", "nope");
        assert.equal(unknownService.code, 2);
        assert.match(unknownService.stderr, /no service `nope`; its services: api, web, workers, postgres, redis/);

        const otherPreset = await opsbook("revoke-admin", "--yes");
        assert.equal(otherPreset.code, 2);
        assert.match(otherPreset.stderr, /no procedure `revoke-admin`; presets that have it: prediction-market\. This stack's procedures: pause, resume, audit-logs, reconcile, retry-relayer/);

        const unknown = await opsbook("frobnicate");
        assert.equal(unknown.code, 2);
        assert.match(unknown.stderr, /unknown procedure `frobnicate`; stack e2e-cli-\w+'s procedures: pause, resume/);

        const missing = await opsbook("retry-relayer", "--yes");
        assert.equal(missing.code, 2);
        assert.match(missing.stderr, /retry-relayer needs the argument <txId>/);

        const protectedKey = await opsbook("rotate", "TRADING_KEY_ENCRYPTION_KEY", "--yes");
        assert.equal(protectedKey.code, 2);
        assert.match(protectedKey.stderr, /encryption key .* Nothing was changed/);
        assert.deepEqual(await auditEntries(), [], "bad input left an audit entry");
    });

    it("a changing command without a terminal and without --yes shows its plan and refuses; nothing changes", async () => {
        const res = await opsbook("maintenance", "on");
        assert.equal(res.code, 3, res.stderr);
        assert.match(res.stderr, /will:\n {2}1\. set opsbook:maintenance: \(not set\) -> true/);
        assert.match(res.stderr, /no terminal to confirm on and no --yes: refusing; nothing was changed/);
        assert.doesNotMatch(fs.readFileSync(stack.configFile, "utf8"), /maintenance/);
        assert.equal((await httpGet(`${endpoints.api}/items`)).status, 200);
        assert.deepEqual(await auditEntries(), []);
    });

    it("on a terminal: the plan, a real pulumi preview, then the question; answering no changes nothing", async () => {
        // `script` gives the CLI a terminal (stdin and stdout a pty); the answer is typed into it.
        const line = [process.execPath, path.join(ROOT, "cli", "opsbook.js"), "--stack", stack.name, "--policy-config", "policies/config/staging.json", "maintenance", "on"].join(" ");
        stack.log("opsbook maintenance on (on a terminal, answering n)");
        const res = await run("script", ["-q", "-e", "-c", line, "/dev/null"], { env: stack.env, input: "n\n" });
        assert.equal(res.code, 3, res.stdout);
        assert.match(res.stdout, /pulumi preview/);
        assert.match(res.stdout, /docker:index:Service\s+api-service\s+update/);
        assert.match(res.stdout, /Go ahead on e2e-cli-\w+\? \[y\/N\]/);
        assert.match(res.stdout, /not confirmed; nothing was changed/);
        assert.doesNotMatch(fs.readFileSync(stack.configFile, "utf8"), /maintenance/);
        assert.equal((await httpGet(`${endpoints.api}/items`)).status, 200);
        assert.deepEqual(await auditEntries(), []);
    });

    it("exec runs the given command in a running task; logs shows the service's lines", async () => {
        const exec = await opsbook("exec", "api", "--", "ls", "/run/secrets");
        assert.equal(exec.code, 0, exec.stderr);
        assert.match(exec.stdout, /^ADMIN_TOKEN$/m);
        const failing = await opsbook("exec", "api", "--", "ls", "/no/such/dir");
        assert.notEqual(failing.code, 0, "exec must pass the command's exit code on");
        const logs = await opsbook("logs", "api", "--tail", "5");
        assert.equal(logs.code, 0, logs.stderr);
        assert.match(logs.stdout, /"msg":"(request|listening)"/);
    });

    it("maintenance on: 503 maintenance except health; off: served again", async () => {
        const on = await opsbook("maintenance", "on", "--yes");
        assert.equal(on.code, 0, on.stderr);
        const items = await httpGet(`${endpoints.api}/items`);
        assert.equal(items.status, 503);
        assert.match(JSON.stringify(items.body), /maintenance/);
        assert.equal((await httpGet(`${endpoints.web}/`)).status, 503);
        assert.equal((await httpGet(`${endpoints.api}/health`)).status, 200);

        const off = await opsbook("maintenance", "off", "--yes");
        assert.equal(off.code, 0, off.stderr);
        assert.equal((await httpGet(`${endpoints.api}/items`)).status, 200);
    });

    it("rotate ADMIN_TOKEN under steady load through the gateway: 0 failed requests; the file in the running tasks changes, and reconcile authenticates with the new token", async () => {
        const digest = async () => {
            const task = await taskContainer(services.api);
            const res = await docker("exec", task, "sha256sum", "/run/secrets/ADMIN_TOKEN");
            assert.equal(res.code, 0, res.stderr);
            return res.stdout.split(" ")[0];
        };
        const before = await digest();
        // The api's published endpoint is the gateway's: the load goes where users' requests go.
        const { result: rotated, load } = await underLoad(`${endpoints.api}/health`, () => opsbook("rotate", "ADMIN_TOKEN", "--yes"));
        assert.equal(rotated.code, 0, rotated.stderr);
        stack.log(`opsbook rotate ADMIN_TOKEN under load: ${load.requests} requests, ${load.failed} failed, longest outage ${load.longestOutageMs} ms`);
        assert.ok(load.requests > 100, `too little load: ${load.requests}`);
        assert.equal(load.failed, 0, `failed requests during the rotation: ${JSON.stringify(load.failures)}`);
        const service = await inspect(services.api, "service");
        assert.equal(service.Spec.Mode.Replicated.Replicas, 2);
        for (const task of await waitFor("both api tasks on the new token", 60, async () => {
            const res = await docker("ps", "--filter", `label=com.docker.swarm.service.name=${services.api}`, "--filter", "status=running", "--format", "{{.Names}}");
            return res.stdout.split("\n").filter(Boolean);
        }, (names) => names.length === 2)) {
            const res = await docker("exec", task, "sha256sum", "/run/secrets/ADMIN_TOKEN");
            assert.notEqual(res.stdout.split(" ")[0], before, `task ${task} still has the old ADMIN_TOKEN`);
        }
        assert.notEqual(await digest(), before);
        assert.equal((await httpGet(`${endpoints.api}/health`)).status, 200);

        const reconcile = await opsbook("reconcile", "--yes", "--json");
        assert.equal(reconcile.code, 0, reconcile.stderr);
        assert.deepEqual(JSON.parse(reconcile.stdout), { status: 200, body: { ok: true, action: "reconcile" } });
    });

    it("retry-relayer <txId>: the api gets the txId with the stack's admin token, which shows in no command line, env, label, log, output or audit entry", async () => {
        const txId = "tx-0x5f3a:retry.1";
        // Seen while the procedure runs: every spec and container of the stack's procedure tasks.
        const seen = new Map<string, string>();
        let running = true;
        const watcher = (async () => {
            while (running) {
                const ids = (await docker("ps", "-a", "-q", "--filter", `label=opsbook.stack=${stack.name}`, "--filter", "label=opsbook.component=procedure")).stdout.split("\n").filter(Boolean);
                const jobs = (await docker("service", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`, "--filter", "label=opsbook.component=procedure")).stdout.split("\n").filter(Boolean);
                for (const id of [...ids, ...jobs]) {
                    const res = await docker("inspect", id);
                    if (res.code === 0) {
                        seen.set(id, res.stdout);
                    }
                }
                await new Promise((r) => setTimeout(r, 100));
            }
        })();
        const refused = await opsbook("retry-relayer", txId);
        const res = await opsbook("retry-relayer", txId, "--yes", "--json");
        running = false;
        await watcher;

        assert.equal(refused.code, 3, refused.stderr);
        assert.match(refused.stderr, new RegExp(`POST http://api:8080/admin/retry-relayer inside the stack network with api's ADMIN_TOKEN as bearer \\(mounted from its swarm secret, never shown\\), txId=${txId.replace(/\./g, "\\.")}`));
        assert.equal(res.code, 0, res.stderr);
        // The reference app answers only to a bearer it holds, and echoes what it was asked to retry.
        assert.deepEqual(JSON.parse(res.stdout), { status: 200, body: { ok: true, action: "retry-relayer", txId } });
        const [latest] = await auditEntries();
        assert.deepEqual([latest.procedure, latest.result, latest.args], ["retry-relayer", "ok", { txId }]);

        assert.ok(seen.size > 0, "the procedure's task was never seen running: nothing to check its spec against");
        const inspected = [...seen.values()].join("\n");
        assert.match(inspected, /ADMIN_TOKEN_FILE=\/run\/secrets\/ADMIN_TOKEN/, "the task did not get the token as a file");
        // The running api tasks are the ones that took the call. Their containers' logs, not
        // `docker service logs`: right after the rotation had replaced tasks, that once did not return here.
        let apiLogs = "";
        for (const task of await taskContainers(services.api)) {
            const logs = await docker("logs", task);
            assert.equal(logs.code, 0, logs.stderr);
            apiLogs += logs.stdout + logs.stderr;
        }
        assert.match(apiLogs, /retry-relayer/, "the api logged no request to /admin/retry-relayer: not the logs that would show a leak");
        const secrets = (await stackSecretValues(stack)).all;
        assert.ok(secrets.length > 0);
        for (const [where, text] of Object.entries({
            "the CLI's stdout": res.stdout,
            "the CLI's stderr": res.stderr + refused.stderr,
            "the procedure task's service or container (command line, env, labels)": inspected,
            "the api's logs": apiLogs,
            "the audit trail": JSON.stringify(await auditEntries()),
        })) {
            assert.ok(!secrets.some((v) => text.includes(v) || text.includes(encodeURIComponent(v))), `a secret value shows in ${where}`);
        }
    });

    it("pause and resume copy trading: the rows change; audit-logs reads the platform's log newest first", async () => {
        // The platform's own tables (seed 001) come with the reference app's migrations; its rows
        // are the platform's. The log's rows are dated after the admin calls above (reconcile
        // wrote its own entry), so the newest two are these.
        await sql(
            "INSERT INTO copy_profiles (user_id, status) VALUES ('u1', 'ENABLED'), ('u2', 'ENABLED'), ('u3', 'DISABLED'); " +
                "INSERT INTO audit_logs (action, created_at) VALUES ('login', now() + interval '1 minute'), ('withdraw, \"large\"', now() + interval '2 minutes'), ('logout', now() + interval '3 minutes');",
        );
        const statuses = () => sql("SELECT string_agg(user_id || '=' || status, ' ' ORDER BY user_id) FROM copy_profiles");

        const paused = await opsbook("pause", "--yes", "--json");
        assert.equal(paused.code, 0, paused.stderr);
        assert.deepEqual(JSON.parse(paused.stdout), { rows: [{ paused: "2" }] });
        assert.equal(await statuses(), "u1=PAUSED u2=PAUSED u3=DISABLED");

        const resumed = await opsbook("resume", "--yes", "--json");
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.deepEqual(JSON.parse(resumed.stdout), { rows: [{ resumed: "2" }] });
        assert.equal(await statuses(), "u1=ENABLED u2=ENABLED u3=DISABLED");

        const logs = await opsbook("audit-logs", "--limit", "2", "--json");
        assert.equal(logs.code, 0, logs.stderr);
        assert.deepEqual(
            JSON.parse(logs.stdout).rows.map((r: any) => r.action),
            ["logout", 'withdraw, "large"'],
        );
        // The admin calls made through the CLI earlier are in the platform's log too (the app writes them).
        const all = await opsbook("audit-logs", "--limit", "50", "--json");
        const actions: string[] = JSON.parse(all.stdout).rows.map((r: any) => r.action);
        assert.ok(actions.includes("reconcile"), `no reconcile in the platform's audit log: ${JSON.stringify(actions)}`);
        assert.ok(actions.some((a) => /^retry-relayer \S+$/.test(a)), `no retry-relayer in the platform's audit log: ${JSON.stringify(actions)}`);
    });

    it("rollback: back to the previous release, deployed through pulumi up", async () => {
        // A release as the README describes it: a new label, then a deploy.
        const set = await stack.pulumi(["config", "set", "opsbook:release", "2"]);
        assert.equal(set.code, 0, set.stderr);
        const up = await stack.up(STAGING_POLICY);
        assert.equal(up.code, 0, up.stderr);
        assert.equal((await httpGet(`${endpoints.api}/health`)).body.release, "2");

        const back = await opsbook("rollback", "--yes");
        assert.equal(back.code, 0, back.stderr);
        assert.match(back.stderr, /set opsbook:release: 2 -> 1/);
        assert.equal((await httpGet(`${endpoints.api}/health`)).body.release, "1");
        const status = JSON.parse((await opsbook("status", "--json")).stdout);
        assert.deepEqual(
            status.services.filter((s: any) => s.release !== undefined).map((s: any) => s.release),
            ["1", "1", "1"],
        );
        const unknown = await opsbook("rollback", "--to", "7", "--yes");
        assert.equal(unknown.code, 2);
        assert.match(unknown.stderr, /never deployed release 7 successfully \(releases deployed: 1, 2\)/);
    });

    it("audit lists every change newest first, with who, args, result and duration, and no secret", async () => {
        const entries = await auditEntries();
        assert.deepEqual(
            entries.map((e) => e.procedure),
            ["rollback", "resume", "pause", "retry-relayer", "reconcile", "rotate ADMIN_TOKEN", "maintenance off", "maintenance on"],
        );
        for (const entry of entries) {
            assert.equal(entry.stack, stack.name);
            assert.equal(entry.result, "ok");
            assert.ok(entry.who.length > 0 && entry.durationMs > 0, JSON.stringify(entry));
        }
        assert.deepEqual(entries.find((e) => e.procedure === "rotate ADMIN_TOKEN").args, { secretName: "ADMIN_TOKEN" });
        const times = entries.map((e) => Date.parse(e.at));
        assert.deepEqual([...times].sort((a, b) => b - a), times);
        const text = JSON.stringify(entries);
        for (const value of (await stackSecretValues(stack)).all) {
            assert.ok(!text.includes(value), "an audit entry holds a secret value");
        }
    });
});

describe("opsbook CLI on a signal-bot stack: replay and read-only", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-clibot");
    let app = "";

    const opsbook = opsbookOn(stack);

    before(async () => {
        requireEngines();
        await stack.init("config:\n  opsbook:preset: signal-bot\n  opsbook:backups:\n    enabled: false\n  opsbook:monitoring:\n    enabled: false\n");
        // The bot's token is the user's; a made-up one of the real shape (no webhook is registered without `telegram.webhook`).
        const set = await stack.pulumi(["config", "set", "--secret", "TELEGRAM_BOT_TOKEN", "7000000001:AAF4x9Qd2LkVb8Zp1Rt6Yw3Hn5Jm7Kc0Ue"]);
        assert.equal(set.code, 0, set.stderr);
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        app = (await stack.outputs()).endpoints.app;
    });
    after(() => stack.dispose());

    it("replay eod --date: the scheduler runs the job with its secret, the app records manual_replay for that day", async () => {
        const noDate = await opsbook("replay", "eod", "--yes");
        assert.equal(noDate.code, 2);
        assert.match(noDate.stderr, /required option '--date <YYYY-MM-DD>' not specified/);
        const badDay = await opsbook("replay", "eod", "--date", "2026-02-30", "--yes");
        assert.equal(badDay.code, 2);
        assert.match(badDay.stderr, /--date must be a day as YYYY-MM-DD; got `2026-02-30`/);
        const unknownJob = await opsbook("replay", "nightly", "--date", "2026-11-20", "--yes");
        assert.equal(unknownJob.code, 2);
        assert.match(unknownJob.stderr, /has no job `nightly`; its jobs: eod/);

        const res = await opsbook("replay", "eod", "--date", "2026-11-20", "--yes", "--json");
        assert.equal(res.code, 0, res.stderr);
        assert.equal(JSON.parse(res.stdout).status, 200);
        const runs = (await httpGet(`${app}/jobs/runs`)).body.runs;
        assert.deepEqual(
            runs.filter((r: any) => r.source === "manual_replay").map((r: any) => [r.job, r.run_date]),
            [["eod", "2026-11-20"]],
        );
    });

    it("read-only on: writes answer 503 read-only, reads work, and a replay is refused and audited as failed", async () => {
        assert.equal((await httpPost(`${app}/items`, { name: "before" })).status, 201);
        const on = await opsbook("read-only", "on", "--yes");
        assert.equal(on.code, 0, on.stderr);
        const write = await httpPost(`${app}/items`, { name: "during" });
        assert.equal(write.status, 503);
        assert.match(JSON.stringify(write.body), /read-only/);
        const read = await httpGet(`${app}/items`);
        assert.equal(read.status, 200);
        assert.deepEqual(read.body.items.map((i: any) => i.name), ["before"]);

        const replay = await opsbook("replay", "eod", "--date", "2026-11-21", "--yes");
        assert.equal(replay.code, 1, replay.stderr);
        const [latest] = JSON.parse((await opsbook("audit", "--json")).stdout);
        assert.deepEqual([latest.procedure, latest.result, latest.args], ["replay eod", "failed", { job: "eod", date: "2026-11-21" }]);
        assert.match(latest.error, /the replay of eod failed/);
    });

    it("read-only off: writes are accepted again, and what was written before is still there", async () => {
        const off = await opsbook("read-only", "off", "--yes");
        assert.equal(off.code, 0, off.stderr);
        assert.match(off.stderr, /set opsbook:readOnly: true -> \(not set\)/);
        assert.equal((await httpPost(`${app}/items`, { name: "after" })).status, 201);
        assert.deepEqual((await httpGet(`${app}/items`)).body.items.map((i: any) => i.name).sort(), ["after", "before"]);
    });
});

describe("opsbook CLI on a prediction-market stack: revoke-admin", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-clipm");
    let backend = "";
    let backendService = "";

    /** The ADMIN_API_KEY the backend's running tasks get, read from the stack's state (kept in memory only). */
    const adminKey = async (): Promise<string> => {
        const service = await inspect(backendService, "service");
        const mount = (service.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).find((s: any) => s.File.Name.endsWith("/ADMIN_API_KEY"));
        assert.ok(mount, "the backend mounts no ADMIN_API_KEY");
        const value = (await stackSecretValues(stack)).bySecretId.get(mount.SecretID);
        assert.ok(value, "the state holds no value for the backend's ADMIN_API_KEY");
        return value;
    };
    const reconcileWith = async (key: string) => (await httpPost(`${backend}/admin/reconcile`, {}, { Authorization: `Bearer ${key}` })).status;

    before(async () => {
        requireEngines();
        await stack.init("config:\n  opsbook:preset: prediction-market\n  opsbook:backups:\n    enabled: false\n  opsbook:monitoring:\n    enabled: false\n");
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        backend = outputs.endpoints.backend;
        backendService = outputs.services.backend;
    });
    after(() => stack.dispose());

    it("revoke-admin: a new ADMIN_API_KEY; the old key is refused, the new one accepted, the backend serves", async () => {
        const old = await adminKey();
        assert.equal(await reconcileWith(old), 200);
        const res = await opsbookOn(stack)("revoke-admin", "--yes");
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stderr, /set opsbook:rotation\.ADMIN_API_KEY: \(not set\) -> 1/);
        const fresh = await adminKey();
        assert.notEqual(fresh, old);
        assert.equal(await reconcileWith(old), 401, "the revoked key still works");
        assert.equal(await reconcileWith(fresh), 200);
        assert.equal((await httpGet(`${backend}/health`)).status, 200);
        assert.ok(!res.stderr.includes(old) && !res.stderr.includes(fresh) && !res.stdout.includes(fresh), "a key value was printed");
    });

    it("invalidate-sessions: a new JWT_SECRET reaches the backend's running task; the backend serves; audited", async () => {
        const jwtSecret = async (): Promise<string> => {
            const service = await inspect(backendService, "service");
            const mount = (service.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).find((s: any) => s.File.Name.endsWith("/JWT_SECRET"));
            assert.ok(mount, "the backend mounts no JWT_SECRET");
            return (await stackSecretValues(stack)).bySecretId.get(mount.SecretID) ?? "";
        };
        const fileInTask = async (): Promise<string> => {
            const res = await docker("exec", await taskContainer(backendService), "cat", "/run/secrets/JWT_SECRET");
            assert.equal(res.code, 0, res.stderr);
            return res.stdout;
        };
        const before = await jwtSecret();
        assert.equal(await fileInTask(), before);
        const res = await opsbookOn(stack)("invalidate-sessions", "--yes");
        assert.equal(res.code, 0, res.stderr);
        assert.match(res.stderr, /set opsbook:rotation\.JWT_SECRET: \(not set\) -> 1/);
        const after = await jwtSecret();
        assert.notEqual(after, before, "JWT_SECRET did not change");
        // Tokens signed with the old secret no longer verify: the running task holds only the new one.
        assert.equal(await fileInTask(), after);
        assert.equal((await httpGet(`${backend}/health`)).status, 200);
        const audit = await opsbookOn(stack)("audit", "--json");
        const [latest] = JSON.parse(audit.stdout);
        assert.deepEqual([latest.procedure, latest.result], ["invalidate-sessions", "ok"]);
        assert.ok(!audit.stdout.includes(after) && !res.stderr.includes(after), "the new secret was printed");
    });
});

describe("opsbook CLI on an energy-trading stack: restore, then preflight (seed 004)", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-clien");
    let api = "";
    let apiUrl = "";
    let postgres = "";

    const opsbook = opsbookOn(stack);
    const items = async () => ((await httpGet(`${apiUrl}/items`)).body.items as { name: string }[]).map((i) => i.name);

    before(async () => {
        requireEngines();
        // Backups on (the default), at 03:00 so none starts by itself while the test runs;
        // pgBackRest's point-in-time recovery off: `restore` is the agent's, and WAL archiving
        // would only lengthen the deploy.
        await stack.init('config:\n  opsbook:preset: energy-trading\n  opsbook:backups:\n    schedule: "0 3 * * *"\n    pointInTime:\n      enabled: false\n  opsbook:monitoring:\n    enabled: false\n');
        // Seed 004's identity header: the team's own value, set as a secret.
        const set = await stack.pulumi(["config", "set", "--secret", "CLIENT_CERT_SUBJECT_HEADER"], "X-SSL-Client-S-DN");
        assert.equal(set.code, 0, set.stderr);
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const outputs = await stack.outputs();
        api = outputs.services.api;
        apiUrl = outputs.endpoints.api;
        postgres = outputs.postgresService;
    });
    after(() => stack.dispose());

    it("restore: the plan, a refusal without --yes, then the rows deleted after the backup come back; audited", async () => {
        for (const name of ["alpha", "beta"]) {
            assert.equal((await httpPost(`${apiUrl}/items`, { name })).status, 201);
        }
        const made = await backupCli(stack, ["now"]);
        assert.equal(made.code, 0, `${printed(made)}`);
        const listed = await backupCli(stack, ["list", "--json"]);
        assert.equal(listed.code, 0, listed.stderr);
        const [backup] = (JSON.parse(listed.stdout).backups as any[]).filter((b) => b.restoreDefault);
        assert.equal(backup?.status, "verified", listed.stdout);
        assert.equal(backup.check.counted.find((c: any) => c.table === "items")?.rows, 2, "the newest verified backup is not the one just made");
        // Lost after the backup: what a restore is for.
        const del = await docker("exec", "-u", "postgres", await taskContainer(postgres), "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", "opsbook_admin", "-d", "app", "-c", "DELETE FROM items");
        assert.equal(del.code, 0, del.stderr);
        assert.deepEqual(await items(), []);

        const refused = await opsbook("restore");
        assert.equal(refused.code, 3, refused.stderr);
        assert.match(refused.stderr, /opsbook restore on stack e2e-clien-\w+ will:\n {2}1\. a safety backup of the live data \(to undo with\)\n/);
        assert.match(refused.stderr, new RegExp(`2\\. replace the live data of postgres-app with ${backup.name} \\(verified, taken \\d+ s ago\\)`));
        assert.match(refused.stderr, /no terminal to confirm on and no --yes: refusing; nothing was changed/);
        assert.deepEqual(await items(), [], "a refused restore changed the data");
        const unknown = await opsbook("restore", "postgres-app-nope.dump", "--yes");
        assert.equal(unknown.code, 2);
        assert.match(unknown.stderr, new RegExp(`no backup named postgres-app-nope\\.dump; the stack's backups: .*${backup.name}`));
        assert.deepEqual(JSON.parse((await opsbook("audit", "--json")).stdout), [], "bad input or a refusal left an audit entry");

        const res = await opsbook("restore", "--yes");
        assert.equal(res.code, 0, `${printed(res)}`);
        const result = JSON.parse(res.stdout);
        assert.equal(result.restored, backup.name, "the newest verified backup is the default");
        assert.equal(result.kind, "postgres");
        assert.match(result.safetyBackup ?? "", /^postgres-app-/, "no safety backup was taken");
        const restored = await waitFor("the api reads the restored rows", 30, items, (names) => names.length === 2);
        assert.deepEqual(restored.sort(), ["alpha", "beta"]);
        const [latest] = JSON.parse((await opsbook("audit", "--json")).stdout);
        assert.deepEqual([latest.procedure, latest.result, latest.args], ["restore", "ok", { backup: backup.name, force: false }]);
    });

    it("preflight runs the app's own check in a running api task, with the api's env and secret files; no task, exit 4", async () => {
        const ok = await opsbook("preflight");
        assert.equal(ok.code, 0, ok.stderr);
        // The api's own secrets as the api sees them (files), and its database.
        assert.match(ok.stdout, /preflight ok: CLIENT_CERT_SUBJECT_HEADER is set/);
        assert.match(ok.stdout, /preflight ok: the database answers SELECT 1/);
        assert.match(ok.stdout, /preflight passed/);
        // It changes nothing: no confirmation asked (stdin is no terminal) and no audit entry
        // beyond the restore's.
        assert.deepEqual(JSON.parse((await opsbook("audit", "--json")).stdout).map((e: any) => e.procedure), ["restore"]);

        // With the database down the api itself is replaced (its health check fails), so the
        // failure a person meets is "no running task": said, with where to look, exit 4.
        const down = await docker("service", "scale", "--detach", `${api}=0`);
        assert.equal(down.code, 0, down.stderr);
        try {
            await waitFor("the api stopped", 60, () => docker("ps", "-q", "--filter", `label=com.docker.swarm.service.name=${api}`), (r) => r.stdout.trim() === "");
            const none = await opsbook("preflight");
            assert.equal(none.code, 4, none.stdout + none.stderr);
            assert.match(none.stderr, new RegExp(`no running task of \`api\` \\(${api}\\) on the stack's nodes; 'docker service ps ${api}' shows why`));
        } finally {
            await docker("service", "scale", `${api}=1`);
        }
    });
});
