// The signal-bot program with a Telegram webhook, under Pulumi mocks: what the program registers
// for the webhook, and that both of its tokens reach the provider as secrets only.
// Mocks and config are set before the program is imported, as the program reads them at load.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { FakeEngine } from "./fakeDockerEngine";
import { Registered, TYPES, reveal, runProgramUnderMocks, unwrap } from "./mocks";

const TOKEN = "7000000001:AAF4x9Qd2LkVb8Zp1Rt6Yw3Hn5Jm7Kc0Ue0";

let registered: Registered[] = [];
let engine: FakeEngine;
let outputs: Record<string, pulumi.Output<unknown>>;

describe("a signal-bot stack with a Telegram webhook, under mocks", () => {
    before(async () => {
        ({ registered, outputs, engine } = await runProgramUnderMocks(
            {
                "opsbook:preset": "signal-bot",
                "opsbook:telegram": JSON.stringify({
                    apiBaseUrl: "http://127.0.0.1:4000",
                    webhook: { service: "app", publicUrl: "https://bot.example.net", maxConnections: 10 },
                }),
                "opsbook:TELEGRAM_BOT_TOKEN": TOKEN,
            },
            { secretKeys: ["opsbook:TELEGRAM_BOT_TOKEN"], secretChar: "w" },
        ));
        await unwrap(pulumi.output(outputs.telegramWebhook));
    });

    after(async () => {
        await engine?.close();
    });

    function labelOf(r: Registered, label: string): string | undefined {
        return (r.inputs.labels as { label: string; value: string }[] | undefined)?.find((l) => l.label === label)?.value;
    }

    function webhook(): Registered {
        const found = registered.filter((r) => r.type === TYPES.telegramWebhook);
        assert.equal(found.length, 1, registered.map((r) => r.type).join("\n"));
        return found[0];
    }

    it("registers one TelegramWebhook under the registration component, with the spec's settings", () => {
        const { name, inputs } = webhook();
        assert.equal(name, "telegram-webhook-registration");
        assert.ok(registered.some((r) => r.type === "opsbook:index:TelegramWebhookRegistration"));
        assert.equal(inputs.url, "https://bot.example.net/webhook/telegram");
        assert.equal(inputs.apiBaseUrl, "http://127.0.0.1:4000");
        assert.deepEqual(inputs.allowedUpdates, ["message", "callback_query"]);
        assert.equal(inputs.maxConnections, 10);
        assert.equal(inputs.dropPendingUpdates, false);
    });

    it("hands the bot token and the secret token to the provider as secrets only", () => {
        const { inputs } = webhook();
        const botToken = reveal(inputs.botToken);
        const secretToken = reveal(inputs.secretToken);
        assert.deepEqual(botToken, { secret: true, value: TOKEN });
        assert.equal(secretToken.secret, true);
        assert.equal(secretToken.value, "w".repeat(48), "not the service's generated TELEGRAM_WEBHOOK_SECRET");
    });

    it("gives the app the same secret token it registers, and the bot token, as secret files only", () => {
        const app = registered.find((r) => r.type === TYPES.service && labelOf(r, "opsbook.service") === "app");
        assert.ok(app, "no app service");
        const spec = app.inputs.taskSpec.containerSpec;
        assert.equal(spec.env.TELEGRAM_WEBHOOK_SECRET_FILE, "/run/secrets/TELEGRAM_WEBHOOK_SECRET");
        assert.equal(spec.env.TELEGRAM_BOT_TOKEN_FILE, "/run/secrets/TELEGRAM_BOT_TOKEN");
        assert.ok(!("TELEGRAM_WEBHOOK_SECRET" in spec.env) && !("TELEGRAM_BOT_TOKEN" in spec.env), "a token leaked into plain env");
        for (const [key, expected] of [
            ["TELEGRAM_WEBHOOK_SECRET", reveal(webhook().inputs.secretToken).value],
            ["TELEGRAM_BOT_TOKEN", TOKEN],
        ]) {
            const secret = registered.find((r) => r.type === TYPES.secret && labelOf(r, "opsbook.secret-env") === key);
            assert.ok(secret, `no swarm secret for ${key}`);
            const data = reveal(secret.inputs.data);
            assert.equal(data.secret, true, `${key} reached the provider in plain text`);
            assert.equal(Buffer.from(data.value, "base64").toString("utf8"), expected, key);
            const mounted = (spec.secrets as { fileName: string; secretName: string }[]).find((f) => f.fileName === `/run/secrets/${key}`);
            assert.equal(mounted?.secretName, `${secret.name}-abc1234`, `the app does not mount the ${key} secret`);
        }
        assert.ok(!JSON.stringify(app.inputs).includes(TOKEN.split(":")[1]), "the bot token is in the service's spec");
    });

    it("watches the webhook with the exporter, which reads the bot token from a secret file only", () => {
        const exporter = registered.find((r) => r.type === TYPES.service && labelOf(r, "opsbook.monitoring") === "telegram-webhook");
        assert.ok(exporter, `no webhook exporter among: ${registered.filter((r) => r.type === TYPES.service).map((r) => r.name).join(", ")}`);
        const spec = exporter.inputs.taskSpec.containerSpec;
        assert.deepEqual(spec.commands, [
            "opsbook-telegram-webhook-exporter",
            "--listen=:9102",
            "--token-file=/run/secrets/TELEGRAM_BOT_TOKEN",
            "--api-base=http://127.0.0.1:4000",
            "--expect-url=https://bot.example.net/webhook/telegram",
        ]);
        const mounted = (spec.secrets as { fileName: string; secretName: string }[]).find((f) => f.fileName === "/run/secrets/TELEGRAM_BOT_TOKEN");
        const secret = registered.find((r) => r.type === TYPES.secret && r.options.parent.includes("Monitoring") && labelOf(r, "opsbook.secret-env") === "TELEGRAM_BOT_TOKEN");
        assert.ok(secret && mounted?.secretName === `${secret.name}-abc1234`, "the exporter does not mount its own token secret");
        assert.equal(Buffer.from(reveal(secret.inputs.data).value, "base64").toString("utf8"), TOKEN);
        assert.equal(reveal(secret.inputs.data).secret, true, "the token reached the provider in plain text");
        assert.ok(!JSON.stringify(exporter.inputs).includes(TOKEN.split(":")[1]), "the bot token is in the exporter's spec");
    });

    it("exports the webhook's URL and status, and no secret", async () => {
        const exported = (await unwrap(pulumi.output(outputs.telegramWebhook))) as Record<string, unknown>;
        assert.equal(exported.url, "https://bot.example.net/webhook/telegram");
        assert.equal(exported.pendingUpdateCount, 0);
        assert.ok(!JSON.stringify(exported).includes(TOKEN.split(":")[1]));
    });
});
