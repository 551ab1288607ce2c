// The signal-bot program with a Telegram webhook, under Pulumi mocks: what the program registers
// for the webhook, and that both of its tokens reach the provider as secrets only.
// Mocks and config are set before the program is imported, as the program reads them at load.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { FakeEngine, startFakeEngine } from "./fakeDockerEngine";

/** Pulumi's marker for a secret value crossing the resource monitor boundary. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const TOKEN = "7000000001:AAF4x9Qd2LkVb8Zp1Rt6Yw3Hn5Jm7Kc0Ue0";

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, any>;
}

const registered: Registered[] = [];
let engine: FakeEngine;
let outputs: Record<string, pulumi.Output<unknown>>;

function unwrap<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => resolve(v)));
}

function reveal(value: any): { secret: boolean; value: any } {
    if (value && typeof value === "object" && SECRET_SIG in value) {
        return { secret: true, value: value.value };
    }
    return { secret: false, value };
}

describe("a signal-bot stack with a Telegram webhook, under mocks", () => {
    before(async () => {
        engine = await startFakeEngine({
            "opsbook/postgres:15": "sha256:1111",
            "opsbook/app:reference": "sha256:3333",
            "opsbook/gateway:1": "sha256:4444",
            "opsbook/backup:1": "sha256:5555",
        });
        process.env.DOCKER_HOST = `unix://${engine.socketPath}`;
        pulumi.runtime.setMocks(
            {
                newResource(args) {
                    registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                    const outs: Record<string, unknown> = { ...args.inputs };
                    if (args.type.endsWith(":Container")) {
                        outs.containerName = `${args.inputs.name}-abc123`;
                        outs.hostPorts = Object.fromEntries(((args.inputs.publish as number[]) ?? []).map((p) => [String(p), 40000 + p]));
                    }
                    if (args.type.endsWith(":GeneratedSecretValue")) {
                        outs.value = "w".repeat(args.inputs.length);
                    }
                    if (args.type.endsWith(":Network")) {
                        outs.networkName = `${args.inputs.name}-abc123`;
                    }
                    if (args.type.endsWith(":TelegramWebhook")) {
                        Object.assign(outs, { pendingUpdateCount: 0, lastErrorMessage: "", lastErrorDate: "" });
                    }
                    return { id: `${args.name}-id`, state: outs };
                },
                call(args) {
                    throw new Error(`unexpected call to ${args.token}`);
                },
            },
            "opsbook",
            "staging",
            false,
        );
        pulumi.runtime.setAllConfig(
            {
                "opsbook:preset": "signal-bot",
                "opsbook:telegram": JSON.stringify({
                    apiBaseUrl: "http://127.0.0.1:4000",
                    webhook: { service: "app", publicUrl: "https://bot.example.net", maxConnections: 10 },
                }),
                "opsbook:TELEGRAM_BOT_TOKEN": TOKEN,
            },
            ["opsbook:TELEGRAM_BOT_TOKEN"],
        );
        const mod = (await import("../../index")) as unknown as { default: () => Promise<Record<string, pulumi.Output<unknown>>> };
        outputs = await mod.default();
        await unwrap(pulumi.output(outputs.telegramWebhook));
    });

    after(async () => {
        await engine.close();
    });

    function webhook(): Registered {
        const found = registered.filter((r) => r.type === "pulumi-nodejs:dynamic/opsbook:TelegramWebhook");
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

    it("gives the app the same secret token it registers", () => {
        const app = registered.find((r) => r.type.endsWith(":Container") && r.inputs.labels?.["opsbook.service"] === "app");
        assert.ok(app, "no app container");
        const env = reveal(app.inputs.secretEnv);
        assert.equal(env.secret, true);
        assert.equal(env.value.TELEGRAM_WEBHOOK_SECRET, reveal(webhook().inputs.secretToken).value);
        assert.equal(env.value.TELEGRAM_BOT_TOKEN, TOKEN);
    });

    it("exports the webhook's URL and status, and no secret", async () => {
        const exported = (await unwrap(pulumi.output(outputs.telegramWebhook))) as Record<string, unknown>;
        assert.equal(exported.url, "https://bot.example.net/webhook/telegram");
        assert.equal(exported.pendingUpdateCount, 0);
        assert.ok(!JSON.stringify(exported).includes(TOKEN.split(":")[1]));
    });
});
