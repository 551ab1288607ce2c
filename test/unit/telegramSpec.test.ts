// The `opsbook:telegram` spec keys and the plan the program builds from them: defaults, and
// errors that name the key and say how to fix it, before anything is registered.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { SpecError, parseSpec } from "../../components/spec";
import { telegramWebhookPlan, webhookUrl } from "../../components/webhook";
import { applyPreset } from "../../presets";

const hook = { service: "app", publicUrl: "https://bot.example.net" };

function signalBot(telegram: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    return parseSpec(applyPreset({ preset: "signal-bot", telegram, ...extra }));
}

function problemsOf(fn: () => unknown): string[] {
    try {
        fn();
    } catch (err) {
        assert.ok(err instanceof SpecError, `expected a SpecError, got ${String(err)}`);
        return err.problems;
    }
    assert.fail("the spec was accepted");
}

describe("`opsbook:telegram` spec keys", () => {
    it("fill in the documented defaults", () => {
        const spec = signalBot({ webhook: hook });
        assert.deepEqual(spec.telegram, {
            apiBaseUrl: "https://api.telegram.org",
            webhook: {
                service: "app",
                publicUrl: "https://bot.example.net",
                path: "/webhook/telegram",
                allowedUpdates: ["message", "callback_query"],
                dropPendingUpdates: false,
                maxConnections: 40,
            },
        });
    });

    it("are optional: a stack without them registers no webhook", () => {
        const spec = signalBot({});
        assert.equal(spec.telegram.webhook, undefined);
        assert.equal(telegramWebhookPlan(spec, {}), undefined);
        assert.equal(parseSpec({ services: { api: {} } }).telegram.webhook, undefined);
    });

    it("trim a trailing slash from the API base URL", () => {
        assert.equal(signalBot({ apiBaseUrl: "http://127.0.0.1:4000/" }).telegram.apiBaseUrl, "http://127.0.0.1:4000");
    });

    it("refuse what Telegram would refuse, naming the key", () => {
        const cases: [Record<string, unknown>, RegExp][] = [
            [{ webhook: { ...hook, publicUrl: "http://bot.example.net" } }, /^`opsbook:telegram\.webhook\.publicUrl` must be an https:\/\/ URL/],
            [{ webhook: { ...hook, publicUrl: "https://bot.example.net:8080" } }, /^`opsbook:telegram\.webhook\.publicUrl` uses port 8080, but Telegram calls webhooks only on ports 443, 80, 88 and 8443/],
            [{ webhook: { ...hook, maxConnections: 0 } }, /^`opsbook:telegram\.webhook\.maxConnections` /],
            [{ webhook: { ...hook, maxConnections: 101 } }, /^`opsbook:telegram\.webhook\.maxConnections` /],
            [{ webhook: { ...hook, allowedUpdates: ["message", "edited_messages"] } }, /^`opsbook:telegram\.webhook\.allowedUpdates\.1` must be one of the Bot API's update types: message, edited_message/],
            [{ webhook: { ...hook, allowedUpdates: ["message", "message"] } }, /^`opsbook:telegram\.webhook\.allowedUpdates` lists an update type twice/],
            [{ webhook: { ...hook, path: "webhook" } }, /^`opsbook:telegram\.webhook\.path` must be a URL path starting with \//],
            [{ webhook: { ...hook, secretToken: "x" } }, /^`opsbook:telegram\.webhook`: unknown key\(s\) `secretToken`/],
            [{ webhook: { publicUrl: "https://bot.example.net" } }, /^`opsbook:telegram\.webhook\.service` is required/],
            [{ apiBaseUrl: "api.telegram.org" }, /^`opsbook:telegram\.apiBaseUrl` must be an http\(s\) URL such as https:\/\/api\.telegram\.org/],
        ];
        for (const [telegram, message] of cases) {
            const problems = problemsOf(() => signalBot(telegram));
            assert.equal(problems.length, 1, JSON.stringify(problems));
            assert.match(problems[0], message);
        }
    });

    it("need an http service that declares the bot token as a user secret and checks a webhook secret", () => {
        assert.match(problemsOf(() => signalBot({ webhook: { ...hook, service: "bot" } }))[0], /^`opsbook:telegram\.webhook\.service` names `bot`, which is not a service of this stack/);
        const worker = problemsOf(() => signalBot({ webhook: hook }, { services: { app: { kind: "worker" } } }));
        assert.ok(worker.some((p) => /^`opsbook:telegram\.webhook\.service` names `app`, a worker; Telegram calls an http service/.test(p)), worker.join("\n"));
        const optional = problemsOf(() => signalBot({ webhook: hook }, { services: { app: { secretEnv: { TELEGRAM_BOT_TOKEN: "config-optional" } } } }));
        assert.match(optional[0], /`services\.app\.secretEnv` must declare `TELEGRAM_BOT_TOKEN: config`/);
        const plain = problemsOf(() => parseSpec({ telegram: { webhook: { ...hook, service: "api" } }, services: { api: { secretEnv: { TELEGRAM_BOT_TOKEN: "config" } } } }));
        assert.match(plain[0], /`services\.api\.secretEnv` must declare `TELEGRAM_WEBHOOK_SECRET: generated`/);
    });
});

describe("telegramWebhookPlan", () => {
    it("takes the token from the service's TELEGRAM_BOT_TOKEN and the settings from the spec", () => {
        const token = pulumi.secret("7000000001:AAF4x9Qd2LkVb8Zp1Rt6Yw3Hn5Jm7Kc0Ue0");
        const plan = telegramWebhookPlan(signalBot({ webhook: { ...hook, maxConnections: 10 }, apiBaseUrl: "http://127.0.0.1:4000" }), { TELEGRAM_BOT_TOKEN: token });
        assert.equal(plan?.botToken, token);
        assert.equal(plan?.maxConnections, 10);
        assert.equal(plan?.apiBaseUrl, "http://127.0.0.1:4000");
        assert.equal(plan?.service, "app");
    });

    it("refuses a stack with a webhook but no bot token, naming the command", () => {
        const problems = problemsOf(() => telegramWebhookPlan(signalBot({ webhook: hook }), {}));
        assert.deepEqual(problems, [
            "`opsbook:TELEGRAM_BOT_TOKEN` is not set, and `opsbook:telegram.webhook` registers service `app`'s webhook with it; " +
                "run 'pulumi config set --secret TELEGRAM_BOT_TOKEN <value>' with the token BotFather gave you",
        ]);
    });
});

describe("webhookUrl", () => {
    it("joins the public base URL and the path with one slash", () => {
        assert.equal(webhookUrl("https://bot.example.net", "/webhook/telegram"), "https://bot.example.net/webhook/telegram");
        assert.equal(webhookUrl("https://bot.example.net/", "/webhook/telegram"), "https://bot.example.net/webhook/telegram");
        assert.equal(webhookUrl("https://example.net/bots/signal"), "https://example.net/bots/signal/webhook/telegram");
    });
});
