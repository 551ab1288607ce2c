// The TelegramWebhook provider without an engine: its pure parts (validation, diff, read-back,
// redaction) and its operations run directly against the fake Bot API. Every error must carry
// the API's error_code and description, and none may carry the bot token.
import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import {
    TelegramWebhookInputs,
    TelegramWebhookOutputs,
    botIdOf,
    callBotApi,
    outputsFromInfo,
    redact,
    setWebhookParams,
    telegramWebhookProvider as provider,
    webhookDiff,
    webhookInputProblems,
    webhookUrlProblem,
} from "../../providers/telegramWebhook";
import { FakeBotApi, fakeBotToken, startFakeBotApi } from "../fakes/telegramBotApi";

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const token = fakeBotToken(7100000001);
const secretPart = token.split(":")[1];

function inputs(change: Partial<TelegramWebhookInputs> = {}): TelegramWebhookInputs {
    return {
        apiBaseUrl: "https://api.telegram.org",
        botToken: token,
        url: "https://bot.example.net/webhook/telegram",
        secretToken: "S3cretToken0123456789abcdefABCDEF0123456789abcd",
        allowedUpdates: ["message", "callback_query"],
        dropPendingUpdates: false,
        maxConnections: 40,
        ...change,
    };
}

function outputs(change: Partial<TelegramWebhookOutputs> = {}): TelegramWebhookOutputs {
    return { ...inputs(), pendingUpdateCount: 0, lastErrorMessage: "", lastErrorDate: "", ...change };
}

/** The message of the error `promise` rejects with. */
async function errorOf(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
    try {
        await promise;
    } catch (err) {
        return err as Error & Record<string, unknown>;
    }
    assert.fail("expected the call to fail");
}

function assertNoToken(text: string, t = token): void {
    assert.ok(!text.includes(t), `the token leaked: ${text.replace(t, "<TOKEN>")}`);
    assert.ok(!text.includes(t.split(":")[1]), "the token's secret part leaked");
}

describe("webhookUrlProblem", () => {
    it("accepts https on ports 443, 80, 88 and 8443, with or without a path", () => {
        for (const url of ["https://bot.example.net", "https://bot.example.net/webhook/telegram", "https://bot.example.net:8443/x", "https://bot.example.net:88", "https://bot.example.net:80/"]) {
            assert.equal(webhookUrlProblem(url), undefined, url);
        }
    });

    it("refuses what Telegram refuses, saying what to do", () => {
        assert.match(webhookUrlProblem("http://bot.example.net/hook")!, /https:\/\/ URL.*terminate TLS at the reverse proxy/);
        assert.match(webhookUrlProblem("https://bot.example.net:8080/hook")!, /port 8080.*443, 80, 88 and 8443/);
        assert.match(webhookUrlProblem("bot.example.net/hook")!, /absolute URL/);
        assert.match(webhookUrlProblem("https://bot.example.net/hook?token=x")!, /query/);
    });
});

describe("webhookInputProblems", () => {
    it("passes valid inputs", () => {
        assert.deepEqual(webhookInputProblems(inputs()), []);
        assert.deepEqual(webhookInputProblems(inputs({ secretToken: "A-z_0".padEnd(256, "9"), maxConnections: 100, allowedUpdates: [] })), []);
    });

    it("names each property with a documented constraint broken, never quoting a secret", () => {
        const cases: [Partial<TelegramWebhookInputs>, string, RegExp][] = [
            [{ secretToken: "with space" }, "secretToken", /1 to 256 characters from A-Z, a-z, 0-9, `_` and `-`/],
            [{ secretToken: "x".repeat(257) }, "secretToken", /1 to 256/],
            [{ secretToken: "" }, "secretToken", /1 to 256/],
            [{ maxConnections: 0 }, "maxConnections", /1 to 100/],
            [{ maxConnections: 101 }, "maxConnections", /1 to 100/],
            [{ maxConnections: 2.5 }, "maxConnections", /whole number/],
            [{ url: "http://bot.example.net/hook" }, "url", /https/],
            [{ url: "https://bot.example.net:3000/hook" }, "url", /port 3000/],
            [{ allowedUpdates: ["message", "mesage"] }, "allowedUpdates", /`mesage`/],
            [{ allowedUpdates: ["message", "message"] }, "allowedUpdates", /twice/],
            [{ botToken: "not-a-token" }, "botToken", /pulumi config set --secret TELEGRAM_BOT_TOKEN/],
            [{ apiBaseUrl: "ftp://api.example" }, "apiBaseUrl", /http\(s\) URL/],
        ];
        for (const [change, property, reason] of cases) {
            const failures = webhookInputProblems(inputs(change));
            assert.equal(failures.length, 1, `${JSON.stringify(change)}: ${JSON.stringify(failures)}`);
            assert.equal(failures[0].property, property);
            assert.match(failures[0].reason, reason);
            if (change.secretToken) {
                assert.ok(!failures[0].reason.includes(change.secretToken), "the secret token was quoted");
            }
        }
        assertNoToken(JSON.stringify(webhookInputProblems(inputs({ botToken: `${token} ` }))));
    });

    it("skips values a preview does not know yet", () => {
        assert.deepEqual(webhookInputProblems(inputs({ secretToken: UNKNOWN, botToken: UNKNOWN, url: UNKNOWN })), []);
    });
});

describe("webhookDiff", () => {
    it("changes nothing when only the status outputs moved, or allowed updates were reordered", () => {
        const diff = webhookDiff(outputs({ pendingUpdateCount: 9, lastErrorMessage: "boom" }), inputs({ allowedUpdates: ["callback_query", "message"] }));
        assert.deepEqual(diff, { changes: false, replaces: [], deleteBeforeReplace: false });
    });

    it("updates in place for a new secret token, max connections, URL or a new token of the same bot", () => {
        for (const change of [
            { secretToken: "rotated" },
            { maxConnections: 10 },
            { url: "https://bot.example.net/other" },
            { dropPendingUpdates: true },
            { apiBaseUrl: "http://127.0.0.1:9" },
            { botToken: `${botIdOf(token)}:${"B".repeat(35)}` },
            { secretToken: UNKNOWN },
        ]) {
            assert.deepEqual(webhookDiff(outputs(), inputs(change)), { changes: true, replaces: [], deleteBeforeReplace: false }, JSON.stringify(Object.keys(change)));
        }
    });

    it("sees a URL changed on the server (after a refresh) as a change to set again", () => {
        assert.equal(webhookDiff(outputs({ url: "https://elsewhere.example.org/hook" }), inputs()).changes, true);
    });

    it("replaces the registration when the token belongs to another bot", () => {
        assert.deepEqual(webhookDiff(outputs(), inputs({ botToken: fakeBotToken(7100000002) })).replaces, ["botToken"]);
    });
});

describe("setWebhookParams and outputsFromInfo", () => {
    it("sends every parameter explicitly", () => {
        assert.deepEqual(setWebhookParams(inputs()), {
            url: "https://bot.example.net/webhook/telegram",
            secret_token: inputs().secretToken,
            allowed_updates: ["message", "callback_query"],
            drop_pending_updates: false,
            max_connections: 40,
        });
    });

    it("takes what the server reports for url, allowed updates and max connections, and surfaces the status", () => {
        const outs = outputsFromInfo(inputs(), {
            url: "https://elsewhere.example.org/hook",
            pending_update_count: 3,
            max_connections: 12,
            allowed_updates: ["message"],
            last_error_date: 1_700_000_000,
            last_error_message: "Connection refused",
        });
        assert.equal(outs.url, "https://elsewhere.example.org/hook");
        assert.equal(outs.maxConnections, 12);
        assert.deepEqual(outs.allowedUpdates, ["message"]);
        assert.equal(outs.pendingUpdateCount, 3);
        assert.equal(outs.lastErrorMessage, "Connection refused");
        assert.equal(outs.lastErrorDate, "2023-11-14T22:13:20.000Z");
        assert.equal(outs.secretToken, inputs().secretToken, "the secret token is never reported back; the stack's stays");
    });

    it("keeps the stack's order of allowed updates when the set is the same, and its values when the server omits them", () => {
        const outs = outputsFromInfo(inputs(), { url: inputs().url, pending_update_count: 0, allowed_updates: ["callback_query", "message"] });
        assert.deepEqual(outs.allowedUpdates, ["message", "callback_query"]);
        assert.equal(outs.maxConnections, 40);
        assert.equal(outs.lastErrorMessage, "");
    });
});

describe("redact", () => {
    it("removes the token, its URL-encoded form and its secret part", () => {
        const text = `POST /bot${token}/setWebhook; /bot${encodeURIComponent(token)}/x; part ${secretPart}`;
        const clean = redact(text, [token]);
        assertNoToken(clean);
        assert.match(clean, /\/bot\[redacted\]\/setWebhook/);
    });
});

describe("the provider against the fake Bot API", () => {
    let api: FakeBotApi;
    const at = (change: Partial<TelegramWebhookInputs> = {}) => inputs({ apiBaseUrl: api.baseUrl, ...change });

    before(async () => {
        api = await startFakeBotApi();
        api.addBot(token);
    });
    after(() => api.close());

    it("create: sets the webhook with exactly the inputs and reads the status back", async () => {
        const res = await provider.create!(at());
        assert.equal(res.id, `bot${botIdOf(token)}`);
        const [set] = api.callsOf("setWebhook", token);
        assert.deepEqual(set.params, setWebhookParams(at()));
        assert.equal(api.webhook(token)?.secretToken, at().secretToken);
        assert.equal(res.outs.pendingUpdateCount, 0);
        assert.equal(res.outs.url, at().url);
    });

    it("check: trims a trailing slash from the base URL and reports failures by property", async () => {
        const res = await provider.check!(at(), at({ apiBaseUrl: `${api.baseUrl}/`, maxConnections: 0 }));
        assert.equal(res.inputs!.apiBaseUrl, api.baseUrl);
        assert.deepEqual(res.failures!.map((f) => f.property), ["maxConnections"]);
    });

    it("update: sets the webhook again with the new inputs", async () => {
        const before = api.callsOf("setWebhook").length;
        const res = await provider.update!(`bot${botIdOf(token)}`, outputs({ apiBaseUrl: api.baseUrl }), at({ maxConnections: 10 }));
        assert.equal(api.callsOf("setWebhook").length, before + 1);
        assert.equal(api.webhook(token)?.maxConnections, 10);
        assert.equal(res.outs.maxConnections, 10);
    });

    it("read: shows a webhook changed behind the stack's back, with the status Telegram reports", async () => {
        api.tamper(token, { url: "https://elsewhere.example.org/hook", pendingUpdateCount: 4, lastErrorMessage: "Wrong response from the webhook: 401 Unauthorized", lastErrorDate: 1_700_000_000 });
        const res = await provider.read!(`bot${botIdOf(token)}`, outputs({ apiBaseUrl: api.baseUrl, maxConnections: 10 }));
        const props = res.props as TelegramWebhookOutputs;
        assert.equal(props.url, "https://elsewhere.example.org/hook");
        assert.equal(props.pendingUpdateCount, 4);
        assert.equal(props.lastErrorMessage, "Wrong response from the webhook: 401 Unauthorized");
        assert.equal(props.botToken, token, "the token must stay in the state for later operations");
        assert.equal(webhookDiff(props, at({ maxConnections: 10 })).changes, true, "the next `pulumi up` must set it again");
    });

    it("reports the API's error_code and description, with retry_after for 429, and never the token", async () => {
        api.failNext({ method: "setWebhook", status: 429, description: "Too Many Requests: retry after 7", retryAfter: 7 });
        const limited = await errorOf(provider.update!("id", outputs(), at({ maxConnections: 11 })));
        assert.match(limited.message, /^setWebhook failed: 429 Too Many Requests: retry after 7; Telegram asks to wait 7s/);
        assert.equal(limited.errorCode, 429);
        assert.equal(limited.retryAfter, 7);
        assertNoToken(`${limited.message}\n${limited.stack}`);

        api.failNext({ status: 500, description: "Internal Server Error" });
        const broken = await errorOf(provider.create!(at()));
        assert.equal(broken.message, "setWebhook failed: 500 Internal Server Error");

        api.failNext({ method: "setWebhook", status: 400, description: "Bad Request: bad webhook: Failed to resolve host: Name or service not known" });
        const bad = await errorOf(provider.create!(at()));
        assert.equal(bad.message, "setWebhook failed: 400 Bad Request: bad webhook: Failed to resolve host: Name or service not known");
    });

    it("reports a token the API does not know with the command that fixes it", async () => {
        const stranger = fakeBotToken(7100000003);
        const err = await errorOf(provider.read!("id", outputs({ apiBaseUrl: api.baseUrl, botToken: stranger })));
        assert.match(err.message, /^getWebhookInfo failed: 401 Unauthorized; the bot token is not accepted .*pulumi config set --secret TELEGRAM_BOT_TOKEN/);
        assertNoToken(`${err.message}\n${err.stack}`, stranger);
    });

    it("never shows the token when the API cannot be reached or is not the API", async () => {
        const closed = await startFakeBotApi();
        await closed.close();
        const unreachable = await errorOf(callBotApi({ apiBaseUrl: closed.baseUrl, botToken: token }, "getWebhookInfo", {}));
        assert.match(unreachable.message, /^getWebhookInfo failed: cannot reach the Bot API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
        const notAUrl = await errorOf(callBotApi({ apiBaseUrl: "::not a url::", botToken: token }, "getWebhookInfo", {}));
        assertNoToken(`${notAUrl.message}\n${notAUrl.stack}`);
        // A proxy in front of the API that echoes the path it could not route, token and all.
        const proxy = http.createServer((req, res) => {
            res.writeHead(502, { "Content-Type": "text/html" });
            res.end(`<html><body>Bad Gateway: cannot route POST ${req.url}</body></html>`);
        });
        await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
        try {
            const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
            const echo = await errorOf(callBotApi({ apiBaseUrl: base, botToken: token }, "setWebhook", {}));
            assert.match(echo.message, /^setWebhook failed: HTTP 502 from http:\/\/127\.0\.0\.1:\d+ without a Bot API answer: .*cannot route POST \/bot\[redacted\]\/setWebhook/);
            assertNoToken(`${echo.message}\n${echo.stack}`);
        } finally {
            proxy.close();
        }
    });

    it("delete: removes the webhook the stack registered", async () => {
        await provider.update!("id", outputs(), at());
        await provider.delete!("id", outputs({ apiBaseUrl: api.baseUrl }));
        assert.equal(api.webhook(token), undefined);
        const [del] = api.callsOf("deleteWebhook", token).slice(-1);
        assert.equal(del.status, 200);
    });

    it("delete: leaves a webhook that now points somewhere else (another deployment of the bot owns it)", async () => {
        api.tamper(token, { url: "https://production.example.net/webhook/telegram", secretToken: "theirs" });
        const before = api.callsOf("deleteWebhook").length;
        await provider.delete!("id", outputs({ apiBaseUrl: api.baseUrl }));
        assert.equal(api.callsOf("deleteWebhook").length, before);
        assert.equal(api.webhook(token)?.url, "https://production.example.net/webhook/telegram");
    });
});
