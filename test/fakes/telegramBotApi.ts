// A local stand-in for the Telegram Bot API's webhook methods, for tests that must not reach
// api.telegram.org. It listens on 127.0.0.1 at a port the OS picks and behaves as the API is
// documented to:
//   - requests go to /bot<token>/<method> (method names case-insensitive); parameters come as a
//     query string, a urlencoded form or a JSON body, and every answer is the API's envelope
//     {ok, result, description} or {ok: false, error_code, description, parameters?};
//   - a path without a well-formed token answers 404 "Not Found", a well-formed token the fake
//     does not know answers 401 "Unauthorized";
//   - setWebhook refuses what Telegram refuses, with descriptions in Telegram's style: a URL that
//     is not HTTPS or not on port 443, 80, 88 or 8443, a secret_token outside 1-256 of
//     A-Z a-z 0-9 _ -, a max_connections outside 1-100, an allowed_updates entry that is not an
//     update type. (Telegram itself may clamp or ignore the last two; the fake is stricter so a
//     provider that sends them wrong is caught.) The URL is never fetched;
//   - webhook state is kept per bot token: getWebhookInfo reports it, deleteWebhook clears it;
//   - getMe answers the bot, sendMessage records the message (chat_id and text required, as the
//     API requires them) and answers a Message, so Alertmanager's Telegram receiver can be tested.
// Tests read every call from `calls`, change a webhook behind the stack's back with `tamper`,
// and make the next call fail with `failNext`.
import * as crypto from "crypto";
import * as http from "http";
import type { AddressInfo } from "net";
import { TELEGRAM_UPDATE_TYPES, TELEGRAM_WEBHOOK_PORTS } from "../../providers/telegramWebhook";

/** One bot's webhook as the fake holds it. */
export interface FakeWebhook {
    url: string;
    secretToken: string;
    allowedUpdates?: string[];
    maxConnections: number;
    pendingUpdateCount: number;
    lastErrorDate?: number;
    lastErrorMessage?: string;
}

/** One request the fake answered. */
export interface RecordedCall {
    /** The method as requested, e.g. `setWebhook`. */
    method: string;
    /** The token in the path (tests compare it; they never print it). */
    token: string;
    /** Parameters after decoding (allowed_updates parsed, numbers and booleans typed). */
    params: Record<string, unknown>;
    /** HTTP status of the answer. */
    status: number;
    /** The answer's description, when it had one. */
    description?: string;
    /** When the request arrived (ms since the epoch). */
    at: number;
}

/** A failure to answer instead of doing what was asked. */
export interface InjectedFailure {
    /** Only a call of this method fails (case-insensitive); any method when unset. */
    method?: string;
    /** HTTP status and error_code, e.g. 429 or 500. */
    status: number;
    /** The API's description, e.g. "Too Many Requests: retry after 7". */
    description: string;
    /** parameters.retry_after, for 429. */
    retryAfter?: number;
}

/** One message a bot sent (sendMessage). */
export interface SentMessage {
    readonly token: string;
    readonly chatId: string;
    readonly text: string;
    readonly parseMode?: string;
    readonly at: number;
}

export interface FakeBotApi {
    /** Base URL to use as `opsbook:telegram.apiBaseUrl`, e.g. http://127.0.0.1:41234. */
    readonly baseUrl: string;
    /** Every message accepted by sendMessage, in order. */
    readonly messages: SentMessage[];
    /** Every call answered, in order. */
    readonly calls: RecordedCall[];
    /** Makes the fake accept this token (the bot exists). */
    addBot(token: string): void;
    /** The bot's current webhook (undefined when none is set). */
    webhook(token: string): FakeWebhook | undefined;
    /** Calls of one method (case-insensitive), optionally for one token only. */
    callsOf(method: string, token?: string): RecordedCall[];
    /** Changes a webhook as if someone had used the API or Telegram had state of its own. */
    tamper(token: string, change: Partial<FakeWebhook>): void;
    /** The next matching call answers with this failure; the state does not change. */
    failNext(failure: InjectedFailure): void;
    close(): Promise<void>;
}

/** A made-up token of the real shape: the bot's ID, a colon, 35 URL-safe characters. */
export function fakeBotToken(botId = 7_000_000_000 + crypto.randomInt(1_000_000)): string {
    return `${botId}:AA${crypto.randomBytes(33).toString("base64url").slice(0, 33)}`;
}

/** The shape of tokens BotFather issues; anything else in the path is not a bot at all. */
const TOKEN_SHAPE = /^[0-9]{1,20}:[A-Za-z0-9_-]{35}$/;
const SECRET_TOKEN_CHARS = /^[A-Za-z0-9_-]*$/;

type Answer = { status: number; body: Record<string, unknown> };

const ok = (result: unknown, description?: string): Answer => ({ status: 200, body: { ok: true, result, ...(description ? { description } : {}) } });
const error = (status: number, description: string, retryAfter?: number): Answer => ({
    status,
    body: { ok: false, error_code: status, description, ...(retryAfter !== undefined ? { parameters: { retry_after: retryAfter } } : {}) },
});
const badRequest = (description: string) => error(400, `Bad Request: ${description}`);

/** Values from a query string or form are strings; JSON bodies are typed already. */
function typed(raw: Record<string, unknown>): { params: Record<string, unknown>; problem?: string } {
    const params: Record<string, unknown> = { ...raw };
    if (typeof params.allowed_updates === "string") {
        try {
            params.allowed_updates = params.allowed_updates === "" ? [] : JSON.parse(params.allowed_updates);
        } catch {
            return { params, problem: "can't parse allowed_updates JSON array" };
        }
    }
    if (typeof params.max_connections === "string") {
        params.max_connections = params.max_connections === "" ? undefined : Number(params.max_connections);
    }
    for (const flag of ["drop_pending_updates"]) {
        if (typeof params[flag] === "string") {
            params[flag] = params[flag] === "true" || params[flag] === "1";
        }
    }
    return { params };
}

function setWebhook(state: Map<string, FakeWebhook>, token: string, params: Record<string, unknown>): Answer {
    const url = params.url === undefined ? "" : String(params.url);
    const previous = state.get(token);
    if (url === "") {
        state.delete(token);
        return ok(true, previous ? "Webhook was deleted" : "Webhook is already deleted");
    }
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        return badRequest("bad webhook: Failed to parse URL");
    }
    if (parsed.protocol !== "https:") {
        return badRequest("bad webhook: An HTTPS URL must be provided for webhook");
    }
    const port = parsed.port === "" ? 443 : Number(parsed.port);
    if (!(TELEGRAM_WEBHOOK_PORTS as readonly number[]).includes(port)) {
        return badRequest("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443");
    }
    const secretToken = params.secret_token === undefined ? "" : String(params.secret_token);
    if (!SECRET_TOKEN_CHARS.test(secretToken)) {
        return badRequest("secret token contains unallowed characters");
    }
    if (secretToken.length > 256) {
        return badRequest("secret token is too long");
    }
    const max = params.max_connections;
    if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > 100)) {
        return badRequest("max_connections must be between 1 and 100");
    }
    const updates = params.allowed_updates;
    if (updates !== undefined) {
        if (!Array.isArray(updates) || updates.some((u) => typeof u !== "string")) {
            return badRequest("can't parse allowed_updates JSON array");
        }
        const unsupported = updates.find((u) => !(TELEGRAM_UPDATE_TYPES as readonly string[]).includes(u));
        if (unsupported !== undefined) {
            return badRequest(`allowed_updates contains unsupported update type "${unsupported}"`);
        }
    }
    const next: FakeWebhook = {
        url,
        secretToken,
        // Omitted parameters keep their previous setting, as the API documents for allowed_updates.
        allowedUpdates: updates === undefined ? previous?.allowedUpdates : [...(updates as string[])],
        maxConnections: typeof max === "number" ? max : 40,
        pendingUpdateCount: params.drop_pending_updates === true ? 0 : (previous?.pendingUpdateCount ?? 0),
        lastErrorDate: previous?.url === url ? previous.lastErrorDate : undefined,
        lastErrorMessage: previous?.url === url ? previous.lastErrorMessage : undefined,
    };
    const unchanged = previous !== undefined && JSON.stringify(previous) === JSON.stringify(next);
    state.set(token, next);
    return ok(true, unchanged ? "Webhook is already set" : "Webhook was set");
}

function webhookInfo(hook: FakeWebhook | undefined): Record<string, unknown> {
    if (!hook) {
        return { url: "", has_custom_certificate: false, pending_update_count: 0 };
    }
    return {
        url: hook.url,
        has_custom_certificate: false,
        pending_update_count: hook.pendingUpdateCount,
        ...(hook.lastErrorDate !== undefined ? { last_error_date: hook.lastErrorDate } : {}),
        ...(hook.lastErrorMessage !== undefined ? { last_error_message: hook.lastErrorMessage } : {}),
        max_connections: hook.maxConnections,
        ...(hook.allowedUpdates !== undefined ? { allowed_updates: hook.allowedUpdates } : {}),
    };
}

function readBody(req: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}

/**
 * Starts the fake at a free port on 127.0.0.1, or on `host` (e.g. the address swarm tasks reach
 * this machine at, for a receiver that runs inside the stack).
 */
export async function startFakeBotApi(opts: { host?: string } = {}): Promise<FakeBotApi> {
    const host = opts.host ?? "127.0.0.1";
    const messages: SentMessage[] = [];
    const bots = new Set<string>();
    const webhooks = new Map<string, FakeWebhook>();
    const calls: RecordedCall[] = [];
    const failures: InjectedFailure[] = [];

    async function answer(req: http.IncomingMessage): Promise<{ answer: Answer; method: string; token: string; params: Record<string, unknown> }> {
        const url = new URL(req.url ?? "/", "http://fake");
        const match = /^\/bot([^/]*)\/([A-Za-z]+)$/.exec(url.pathname);
        const token = match ? decodeURIComponent(match[1]) : "";
        const method = match ? match[2] : "";
        const raw: Record<string, unknown> = Object.fromEntries(url.searchParams);
        const text = await readBody(req);
        const type = (req.headers["content-type"] ?? "").split(";")[0].trim();
        if (text !== "" && type === "application/json") {
            try {
                Object.assign(raw, JSON.parse(text));
            } catch {
                return { answer: badRequest("can't parse JSON object"), method, token, params: raw };
            }
        } else if (text !== "" && type === "application/x-www-form-urlencoded") {
            Object.assign(raw, Object.fromEntries(new URLSearchParams(text)));
        }
        if (!match || !TOKEN_SHAPE.test(token)) {
            return { answer: error(404, "Not Found"), method, token, params: raw };
        }
        if (!bots.has(token)) {
            return { answer: error(401, "Unauthorized"), method, token, params: raw };
        }
        const { params, problem } = typed(raw);
        const i = failures.findIndex((f) => f.method === undefined || f.method.toLowerCase() === method.toLowerCase());
        if (i >= 0) {
            const [f] = failures.splice(i, 1);
            return { answer: error(f.status, f.description, f.retryAfter), method, token, params };
        }
        if (problem) {
            return { answer: badRequest(problem), method, token, params };
        }
        switch (method.toLowerCase()) {
            case "setwebhook":
                return { answer: setWebhook(webhooks, token, params), method, token, params };
            case "getme":
                return { answer: ok({ id: Number(token.split(":")[0]), is_bot: true, first_name: "opsbook test bot", username: "opsbook_test_bot" }), method, token, params };
            case "sendmessage": {
                const chatId = params.chat_id === undefined ? "" : String(params.chat_id);
                const text = params.text === undefined ? "" : String(params.text);
                if (chatId === "") {
                    return { answer: badRequest("chat_id is empty"), method, token, params };
                }
                if (text.trim() === "") {
                    return { answer: badRequest("message text is empty"), method, token, params };
                }
                if (text.length > 4096) {
                    return { answer: badRequest("message is too long"), method, token, params };
                }
                const at = Date.now();
                const parseMode = params.parse_mode === undefined || params.parse_mode === "" ? undefined : String(params.parse_mode);
                messages.push({ token, chatId, text, parseMode, at });
                const chat = { id: Number(chatId), type: chatId.startsWith("-") ? "group" : "private" };
                return { answer: ok({ message_id: messages.length, date: Math.floor(at / 1000), chat, text }), method, token, params };
            }
            case "getwebhookinfo":
                return { answer: ok(webhookInfo(webhooks.get(token))), method, token, params };
            case "deletewebhook": {
                const had = webhooks.get(token);
                webhooks.delete(token);
                return { answer: ok(true, had ? "Webhook was deleted" : "Webhook is already deleted"), method, token, params };
            }
            default:
                return { answer: error(404, "Not Found: method not found"), method, token, params };
        }
    }

    const server = http.createServer((req, res) => {
        const at = Date.now();
        answer(req).then(
            ({ answer: a, method, token, params }) => {
                calls.push({ method, token, params, status: a.status, description: a.body.description as string | undefined, at });
                res.writeHead(a.status, { "Content-Type": "application/json" });
                res.end(JSON.stringify(a.body));
            },
            (err: unknown) => {
                res.writeHead(500, { "Content-Type": "application/json" });
                res.end(JSON.stringify({ ok: false, error_code: 500, description: `Internal Server Error: fake: ${String(err)}` }));
            },
        );
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, host, resolve);
    });
    const { port } = server.address() as AddressInfo;

    return {
        baseUrl: `http://${host}:${port}`,
        messages,
        calls,
        addBot(token) {
            if (!TOKEN_SHAPE.test(token)) {
                throw new Error("fake Bot API: a bot token has the shape <digits>:<35 of A-Z a-z 0-9 _ ->");
            }
            bots.add(token);
        },
        webhook: (token) => {
            const hook = webhooks.get(token);
            return hook ? { ...hook, allowedUpdates: hook.allowedUpdates && [...hook.allowedUpdates] } : undefined;
        },
        callsOf: (method, token) => calls.filter((c) => c.method.toLowerCase() === method.toLowerCase() && (token === undefined || c.token === token)),
        tamper(token, change) {
            const hook = webhooks.get(token) ?? { url: "", secretToken: "", maxConnections: 40, pendingUpdateCount: 0 };
            const next = { ...hook, ...change };
            if (next.url === "") {
                webhooks.delete(token);
            } else {
                webhooks.set(token, next);
            }
        },
        failNext(failure) {
            failures.push(failure);
        },
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections?.();
                server.close(() => resolve());
            }),
    };
}
