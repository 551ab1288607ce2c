// Issue 5 with the real engines: the signal-bot preset registers its Telegram webhook with a fake
// Bot API (test/fakes/telegramBotApi.ts) on this machine. The fake records what the stack sent;
// the deployed app proves over HTTP that it checks the very secret token Telegram was given.
// Then: a setting change and a secret rotation re-register, drift made behind the stack's back
// shows on refresh and is undone by `up`, an API failure fails `up` with the API's own words,
// destroy deletes the webhook, and the bot token shows nowhere in the output or the state.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { FakeBotApi, RecordedCall, fakeBotToken, startFakeBotApi } from "../fakes/telegramBotApi";
import { CliResult, TestStack, assertSecretsOnlyAsFiles, docker, httpPost, inspect, printed, requireEngines, taskContainer, taskContainers } from "./harness";

const STAGING_POLICY = ["--policy-pack", "policies", "--policy-pack-config", "policies/config/staging.json"];
const WEBHOOK_URL = "https://bot.example.net/webhook/telegram";
const SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token";

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

interface StateResource {
    type: string;
    inputs?: Record<string, { ciphertext?: string }>;
    outputs?: Record<string, { ciphertext?: string }>;
}

/** Every resource object anywhere in a state or history file. */
function resourcesIn(value: unknown): StateResource[] {
    if (Array.isArray(value)) {
        return value.flatMap(resourcesIn);
    }
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        const self = typeof obj.type === "string" && typeof obj.urn === "string" ? [obj as unknown as StateResource] : [];
        return [...self, ...Object.values(obj).flatMap(resourcesIn)];
    }
    return [];
}

describe("Telegram webhook: signal-bot against a fake Bot API", { timeout: 40 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-tg");
    const token = fakeBotToken();
    /** Everything the pulumi CLI printed in this test, to check that the token never appears. */
    const transcript: string[] = [];
    let api: FakeBotApi;
    let appUrl = "";

    const pulumi = async (args: string[], input?: string): Promise<CliResult> => {
        const res = await stack.pulumi(args, input);
        transcript.push(res.stdout, res.stderr);
        return res;
    };
    const up = async (extra: string[] = []): Promise<CliResult> => {
        const res = await stack.up(extra);
        transcript.push(res.stdout, res.stderr);
        return res;
    };
    const configSet = async (...args: string[]) => {
        const res = await pulumi(["config", "set", ...args]);
        assert.equal(res.code, 0, res.stderr);
    };
    const setWebhooks = (): RecordedCall[] => api.callsOf("setWebhook", token).filter((c) => c.status === 200);
    const lastSecret = () => String(setWebhooks().slice(-1)[0].params.secret_token);
    /** The app's swarm service: its spec version and running tasks; equal means untouched. */
    const appSnapshot = async () => {
        const { services } = await stack.outputs();
        return { version: (await inspect(services.app, "service")).Version.Index, tasks: (await taskContainers(services.app)).sort() };
    };
    const postUpdate = (secret?: string) =>
        httpPost(`${appUrl}/webhook/telegram`, { update_id: Date.now() % 1_000_000 }, secret === undefined ? {} : { [SECRET_HEADER]: secret });

    before(async () => {
        requireEngines();
        api = await startFakeBotApi();
        api.addBot(token);
        await stack.init(
            [
                "config:",
                "  opsbook:preset: signal-bot",
                "  opsbook:monitoring: {enabled: false}",
                "  opsbook:telegram:",
                `    apiBaseUrl: ${api.baseUrl}`,
                "    webhook:",
                "      service: app",
                "      publicUrl: https://bot.example.net",
                "",
            ].join("\n"),
        );
        // On stdin, as a person would paste it at the prompt: never on a command line.
        const set = await pulumi(["config", "set", "--secret", "TELEGRAM_BOT_TOKEN"], token);
        assert.equal(set.code, 0, set.stderr);
    });

    after(async () => {
        await stack.dispose();
        await api.close();
    });

    it("registers the webhook on the first deploy, with exactly the spec's parameters", async () => {
        const res = await up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const sets = setWebhooks();
        assert.equal(sets.length, 1, JSON.stringify(api.calls.map((c) => [c.method, c.status, c.description])));
        const { secret_token: secret, ...rest } = sets[0].params;
        assert.deepEqual(rest, { url: WEBHOOK_URL, allowed_updates: ["message", "callback_query"], drop_pending_updates: false, max_connections: 40 });
        assert.match(String(secret), /^[A-Za-z0-9]{48}$/, "not the generated TELEGRAM_WEBHOOK_SECRET");
        assert.equal(api.webhook(token)?.url, WEBHOOK_URL);
        const outputs = await stack.outputs();
        assert.deepEqual(outputs.telegramWebhook, { url: WEBHOOK_URL, pendingUpdateCount: 0, lastErrorMessage: "" });
        appUrl = outputs.endpoints.app;
        assert.ok(appUrl, `no endpoint for app: ${JSON.stringify(outputs.endpoints)}`);
    });

    it("the deployed app accepts the secret token Telegram was given, and nothing else", async () => {
        const secret = lastSecret();
        assert.equal((await postUpdate(secret)).status, 200);
        assert.equal((await postUpdate(`${secret}x`)).status, 401);
        assert.equal((await postUpdate()).status, 401);
    });

    it("changes nothing on a second pulumi up", async () => {
        const res = await up(["--expect-no-changes"]);
        assert.equal(res.code, 0, `second up reported changes:\n${printed(res)}`);
        assert.equal(setWebhooks().length, 1);
    });

    it("sets the webhook again when maxConnections changes, with the same secret and without touching the app", async () => {
        const before = await appSnapshot();
        assert.ok(before.tasks.length > 0, "the app runs no task");
        const secret = lastSecret();
        await configSet("--path", "opsbook:telegram.webhook.maxConnections", "10");
        const res = await up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        assert.equal(setWebhooks().length, 2);
        assert.equal(setWebhooks()[1].params.max_connections, 10);
        assert.equal(lastSecret(), secret);
        assert.equal(api.webhook(token)?.maxConnections, 10);
        assert.deepEqual(await appSnapshot(), before, "the app was updated for a webhook setting");
    });

    it("re-registers a rotated secret token once the app runs with it; the app accepts only the new one", async () => {
        const old = lastSecret();
        await configSet("--path", "opsbook:rotation.TELEGRAM_WEBHOOK_SECRET", "2");
        const res = await up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const fresh = lastSecret();
        assert.notEqual(fresh, old, "the webhook still has the old secret");
        assert.match(fresh, /^[A-Za-z0-9]{48}$/);
        assert.equal(api.webhook(token)?.secretToken, fresh);
        // Telegram was told only after the app's new task had started (and passed its health check:
        // Swarm counts a start-first update done only then, and the deploy waits for it).
        const task = await taskContainer((await stack.outputs()).services.app);
        const started = Date.parse((await inspect(task, "container")).State.StartedAt);
        assert.ok(setWebhooks().slice(-1)[0].at > started, "setWebhook came before the app ran with the new secret");
        // The app has the new secret as a file, and no container of the stack has a secret
        // (the bot token, the webhook secret, ...) in its env, command or labels.
        const file = await docker("exec", task, "cat", "/run/secrets/TELEGRAM_WEBHOOK_SECRET");
        assert.ok(file.code === 0 && file.stdout === fresh, `the app's /run/secrets/TELEGRAM_WEBHOOK_SECRET does not hold the registered secret: ${file.stderr}`);
        await assertSecretsOnlyAsFiles(stack, [old, token]);
        assert.equal((await postUpdate(fresh)).status, 200);
        assert.equal((await postUpdate(old)).status, 401);
    });

    it("shows a webhook changed behind the stack's back on refresh, and pulumi up sets it back", async () => {
        api.tamper(token, { url: "https://intruder.example.org/hook", maxConnections: 99, pendingUpdateCount: 5 });
        const refresh = await pulumi(["refresh", "--yes", "--non-interactive", "--diff"]);
        assert.equal(refresh.code, 0, `pulumi refresh failed:\n${printed(refresh)}`);
        assert.match(refresh.stdout, /TelegramWebhook/);
        assert.match(refresh.stdout, /intruder\.example\.org/, `the drift is not shown:\n${refresh.stdout}`);
        // Stack outputs change only with `up`; the resource's own outputs show what refresh read.
        const exported = await pulumi(["stack", "export"]);
        const [registered] = resourcesIn(JSON.parse(exported.stdout)).filter((r) => r.type.endsWith(":TelegramWebhook"));
        assert.equal((registered.outputs as Record<string, unknown>).url, "https://intruder.example.org/hook");
        assert.equal((registered.outputs as Record<string, unknown>).pendingUpdateCount, 5);
        const preview = await pulumi(["preview", "--non-interactive", "--expect-no-changes"]);
        assert.notEqual(preview.code, 0, "the drift would not be undone");
        const before = setWebhooks().length;
        const res = await up();
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        assert.equal(setWebhooks().length, before + 1);
        assert.equal(api.webhook(token)?.url, WEBHOOK_URL);
        assert.equal(api.webhook(token)?.maxConnections, 10);
        const outputs = await stack.outputs();
        assert.equal(outputs.telegramWebhook.url, WEBHOOK_URL);
        assert.equal(outputs.telegramWebhook.pendingUpdateCount, 5, "the backlog Telegram reports is not surfaced");
    });

    it("fails pulumi up with the API's error code and description when the Bot API refuses", async () => {
        await configSet("--path", "opsbook:telegram.webhook.maxConnections", "20");
        api.failNext({ method: "setWebhook", status: 429, description: "Too Many Requests: retry after 7", retryAfter: 7 });
        const res = await up();
        assert.notEqual(res.code, 0, "pulumi up succeeded although setWebhook failed");
        const refusal = (res.stdout + res.stderr).split("\n").find((line) => line.includes("setWebhook failed"));
        stack.log(`pulumi up refused as expected: ${refusal?.trim()}`);
        assert.match(refusal ?? "", /setWebhook failed: 429 Too Many Requests: retry after 7; Telegram asks to wait 7s/);
        assert.equal(api.webhook(token)?.maxConnections, 10);
        const retry = await up();
        assert.equal(retry.code, 0, `pulumi up after the failure failed:\n${printed(retry)}`);
        assert.equal(api.webhook(token)?.maxConnections, 20);
    });

    it("deletes the webhook on pulumi destroy", async () => {
        const res = await pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(res.code, 0, `pulumi destroy failed:\n${printed(res)}`);
        const deletes = api.callsOf("deleteWebhook", token);
        assert.equal(deletes.length, 1);
        assert.equal(deletes[0].status, 200);
        assert.equal(api.webhook(token), undefined);
    });

    it("never prints the bot token, and the state holds it (and every secret token) only encrypted", async () => {
        const secretPart = token.split(":")[1];
        const printed = transcript.join("\n");
        assert.ok(printed.length > 1000, "nothing was recorded");
        assert.ok(!printed.includes(secretPart), "the bot token appeared in pulumi's output");
        const secretTokens = [...new Set(setWebhooks().map((c) => String(c.params.secret_token)))];
        assert.equal(secretTokens.length, 2);
        for (const secret of secretTokens) {
            assert.ok(!printed.includes(secret), "a webhook secret token appeared in pulumi's output");
        }
        const files = [...filesUnder(stack.stateDir), stack.configFile];
        assert.ok(files.some((f) => f.endsWith(".json") && fs.readFileSync(f, "utf8").includes("TelegramWebhook")), "no state file holds the webhook");
        for (const file of files) {
            const text = fs.readFileSync(file, "utf8");
            assert.ok(!text.includes(secretPart), `${path.relative(stack.stateDir, file)} holds the bot token in plain text`);
            for (const secret of secretTokens) {
                assert.ok(!text.includes(secret), `${path.relative(stack.stateDir, file)} holds a webhook secret token in plain text`);
            }
        }
        assert.match(fs.readFileSync(stack.configFile, "utf8"), /opsbook:TELEGRAM_BOT_TOKEN:\s+secure: /);
        // And it is there, encrypted: later updates and the destroy need it.
        const webhooks = files
            .filter((f) => f.endsWith(".json"))
            .flatMap((f) => resourcesIn(JSON.parse(fs.readFileSync(f, "utf8"))))
            .filter((r) => r.type === "pulumi-nodejs:dynamic/opsbook:TelegramWebhook");
        assert.ok(webhooks.length > 0, "no checkpoint holds the webhook");
        for (const r of webhooks) {
            for (const key of ["botToken", "secretToken"]) {
                assert.ok(r.inputs?.[key]?.ciphertext && r.outputs?.[key]?.ciphertext, `${key} is not encrypted in a checkpoint`);
            }
        }
    });
});
