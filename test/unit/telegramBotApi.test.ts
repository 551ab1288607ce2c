// The fake Bot API itself: if it did not behave as the real API is documented to, the provider
// tests and the e2e test would prove nothing.
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { FakeBotApi, fakeBotToken, startFakeBotApi } from "../fakes/telegramBotApi";

let api: FakeBotApi;
const token = fakeBotToken();

async function call(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${api.baseUrl}${path}`, init);
    return { status: res.status, body: await res.json() };
}

function json(method: string, params: Record<string, unknown>, t = token) {
    return call(`/bot${t}/${method}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(params) });
}

const valid = { url: "https://bot.example.net/webhook/telegram", secret_token: "s3cret_Token-1", allowed_updates: ["message"], max_connections: 10 };

describe("the fake Telegram Bot API", () => {
    before(async () => {
        api = await startFakeBotApi();
        api.addBot(token);
    });
    after(() => api.close());

    it("listens on 127.0.0.1 at a port the OS picked", () => {
        assert.match(api.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    });

    it("answers 404 Not Found for a path without a well-formed token, and 401 Unauthorized for an unknown bot", async () => {
        for (const path of ["/botnot-a-token/getWebhookInfo", "/bot123:short/getWebhookInfo", "/getWebhookInfo"]) {
            const res = await call(path, { method: "POST" });
            assert.equal(res.status, 404, path);
            assert.deepEqual(res.body, { ok: false, error_code: 404, description: "Not Found" });
        }
        const res = await json("getWebhookInfo", {}, fakeBotToken(1234567));
        assert.equal(res.status, 401);
        assert.deepEqual(res.body, { ok: false, error_code: 401, description: "Unauthorized" });
    });

    it("sets a webhook, reports it with getWebhookInfo (never the secret token) and says when it was already set", async () => {
        const set = await json("setWebhook", valid);
        assert.deepEqual(set.body, { ok: true, result: true, description: "Webhook was set" });
        const info = await json("getWebhookInfo", {});
        assert.deepEqual(info.body, {
            ok: true,
            result: { url: valid.url, has_custom_certificate: false, pending_update_count: 0, max_connections: 10, allowed_updates: ["message"] },
        });
        assert.equal((await json("setWebhook", valid)).body.description, "Webhook is already set");
        assert.equal(api.webhook(token)?.secretToken, "s3cret_Token-1");
    });

    it("refuses what Telegram refuses, with descriptions in Telegram's words", async () => {
        const cases: [Record<string, unknown>, string][] = [
            [{ url: "http://bot.example.net/hook" }, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"],
            [{ url: "https://bot.example.net:8080/hook" }, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"],
            [{ url: "not a url" }, "Bad Request: bad webhook: Failed to parse URL"],
            [{ secret_token: "has space" }, "Bad Request: secret token contains unallowed characters"],
            [{ secret_token: "a:b" }, "Bad Request: secret token contains unallowed characters"],
            [{ secret_token: "x".repeat(257) }, "Bad Request: secret token is too long"],
            [{ max_connections: 0 }, "Bad Request: max_connections must be between 1 and 100"],
            [{ max_connections: 101 }, "Bad Request: max_connections must be between 1 and 100"],
            [{ allowed_updates: ["message", "messages"] }, 'Bad Request: allowed_updates contains unsupported update type "messages"'],
        ];
        for (const [change, description] of cases) {
            const res = await json("setWebhook", { ...valid, ...change });
            assert.equal(res.status, 400, JSON.stringify(change));
            assert.deepEqual(res.body, { ok: false, error_code: 400, description }, JSON.stringify(change));
        }
        assert.equal(api.webhook(token)?.url, valid.url, "a refused call changed the webhook");
    });

    it("accepts ports 443, 80, 88 and 8443 and a 256-character secret token", async () => {
        for (const port of ["", ":80", ":88", ":8443"]) {
            const res = await json("setWebhook", { ...valid, url: `https://bot.example.net${port}/hook`, secret_token: "A-z_0".padEnd(256, "9") });
            assert.equal(res.status, 200, `${port}: ${JSON.stringify(res.body)}`);
        }
    });

    it("takes parameters as a query string or a form, as the API does, with allowed_updates as JSON", async () => {
        const query = new URLSearchParams({ url: "https://bot.example.net/q", secret_token: "q", allowed_updates: '["callback_query"]', max_connections: "5" });
        const viaQuery = await call(`/bot${token}/setwebhook?${query}`, { method: "GET" });
        assert.equal(viaQuery.status, 200, JSON.stringify(viaQuery.body));
        assert.deepEqual(api.webhook(token)?.allowedUpdates, ["callback_query"]);
        assert.equal(api.webhook(token)?.maxConnections, 5);
        const form = new URLSearchParams({ url: "https://bot.example.net/f", secret_token: "f", drop_pending_updates: "true" });
        const viaForm = await call(`/bot${token}/SETWEBHOOK`, { method: "POST", body: form });
        assert.equal(viaForm.status, 200, JSON.stringify(viaForm.body));
        assert.equal(api.webhook(token)?.url, "https://bot.example.net/f");
        // allowed_updates not given: the previous setting stays, as documented.
        assert.deepEqual(api.webhook(token)?.allowedUpdates, ["callback_query"]);
    });

    it("keeps webhooks per bot", async () => {
        const other = fakeBotToken();
        api.addBot(other);
        await json("setWebhook", { ...valid, url: "https://other.example.net/hook" }, other);
        assert.equal(api.webhook(other)?.url, "https://other.example.net/hook");
        assert.notEqual(api.webhook(token)?.url, "https://other.example.net/hook");
    });

    it("drops pending updates when asked, and shows what `tamper` changed", async () => {
        await json("setWebhook", valid);
        api.tamper(token, { pendingUpdateCount: 12, lastErrorDate: 1_700_000_000, lastErrorMessage: "Wrong response from the webhook: 502 Bad Gateway" });
        const info = (await json("getWebhookInfo", {})).body.result;
        assert.equal(info.pending_update_count, 12);
        assert.equal(info.last_error_message, "Wrong response from the webhook: 502 Bad Gateway");
        assert.equal(info.last_error_date, 1_700_000_000);
        await json("setWebhook", { ...valid, drop_pending_updates: true });
        assert.equal(api.webhook(token)?.pendingUpdateCount, 0);
    });

    it("fails the next call as told, with retry_after for 429, and then answers normally", async () => {
        api.failNext({ method: "setWebhook", status: 429, description: "Too Many Requests: retry after 7", retryAfter: 7 });
        const info = await json("getWebhookInfo", {});
        assert.equal(info.status, 200, "a failure for setWebhook hit another method");
        const limited = await json("setWebhook", { ...valid, max_connections: 77 });
        assert.deepEqual(limited.body, { ok: false, error_code: 429, description: "Too Many Requests: retry after 7", parameters: { retry_after: 7 } });
        assert.notEqual(api.webhook(token)?.maxConnections, 77, "a failed call changed the webhook");
        api.failNext({ status: 500, description: "Internal Server Error" });
        assert.equal((await json("getWebhookInfo", {})).status, 500);
        assert.equal((await json("getWebhookInfo", {})).status, 200);
    });

    it("deletes a webhook and says when there was none", async () => {
        assert.deepEqual((await json("deleteWebhook", {})).body, { ok: true, result: true, description: "Webhook was deleted" });
        assert.deepEqual((await json("deleteWebhook", {})).body, { ok: true, result: true, description: "Webhook is already deleted" });
        assert.equal((await json("getWebhookInfo", {})).body.result.url, "");
    });

    it("sends a message (as Alertmanager's receiver does), records it, and refuses one without text or chat", async () => {
        const me = await json("getMe", {});
        assert.equal(me.body.result.is_bot, true);
        const sent = await json("sendMessage", { chat_id: -1001234567890, text: "FIRING ServiceDown", disable_web_page_preview: true });
        assert.equal(sent.status, 200);
        assert.deepEqual({ ...sent.body.result, date: 0 }, { message_id: 1, date: 0, chat: { id: -1001234567890, type: "group" }, text: "FIRING ServiceDown" });
        assert.deepEqual(
            api.messages.map((m) => [m.chatId, m.text, m.parseMode, m.token === token]),
            [["-1001234567890", "FIRING ServiceDown", undefined, true]],
        );
        assert.deepEqual((await json("sendMessage", { chat_id: 1, text: " " })).body, { ok: false, error_code: 400, description: "Bad Request: message text is empty" });
        assert.deepEqual((await json("sendMessage", { text: "x" })).body, { ok: false, error_code: 400, description: "Bad Request: chat_id is empty" });
        assert.equal((await json("sendMessage", { chat_id: 1, text: "x".repeat(4097) })).status, 400);
        assert.equal(api.messages.length, 1, "a refused message was recorded");
    });

    it("records every call with its decoded parameters and status", () => {
        const sets = api.callsOf("setWebhook", token);
        assert.ok(sets.length > 5);
        const last429 = sets.find((c) => c.status === 429);
        assert.equal(last429?.params.max_connections, 77);
        assert.ok(api.calls.every((c) => typeof c.at === "number" && c.status >= 200));
        assert.ok(api.callsOf("deleteWebhook").length >= 2);
    });
});
