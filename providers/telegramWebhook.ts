// Custom because no Pulumi provider exists for the Telegram Bot API.
//
// A dynamic provider for a Telegram bot's webhook: the URL Telegram calls with updates, and the
// secret token it sends in `X-Telegram-Bot-Api-Secret-Token` so the service can tell Telegram from
// anyone else. What the runbooks did with curl (setWebhook once, again when a secret changes,
// deleteWebhook when the bot moves) becomes create, update and delete; `pulumi refresh` reads the
// webhook back with getWebhookInfo so a change made outside the stack shows as drift.
//
// The bot token is the key to the whole bot and it sits in every request URL
// (`<base>/bot<token>/<method>`). So: requests go out with Node's http/https (no command line,
// no shell), every error message is passed through `redact` before it is thrown, and the
// resource marks the token secret in its outputs so the state keeps it encrypted.
//
// Only Node built-ins are used, and errors are plain Errors with properties (no subclasses):
// dynamic providers are serialized into the state and re-run in a separate process, where only
// built-ins and node_modules resolve and a serialized subclass loses its prototype.
import * as http from "http";
import * as https from "https";
import * as pulumi from "@pulumi/pulumi";

/** Where the Bot API answers unless the stack says otherwise (`opsbook:telegram.apiBaseUrl`). */
export const TELEGRAM_API_BASE_URL = "https://api.telegram.org";

/** Update types a bot can ask for in `allowed_updates` (the Bot API's Update fields). */
export const TELEGRAM_UPDATE_TYPES = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
] as const;

/** The only ports Telegram delivers webhooks to. */
export const TELEGRAM_WEBHOOK_PORTS = [443, 80, 88, 8443] as const;

/** setWebhook's documented rule for secret_token: 1-256 of A-Z a-z 0-9 _ -. */
export const SECRET_TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

/** A token as BotFather issues it: the bot's numeric ID, a colon, then the secret part. */
const BOT_TOKEN_PATTERN = /^([0-9]{1,20}):[A-Za-z0-9_-]{20,}$/;

/** What `redact` puts where a secret was. */
const REDACTED = "[redacted]";

// Values not known yet during a preview arrive as these sentinels (one per kind of value); a
// check meets them when a secret is about to be generated or rotated.
const UNKNOWN_SENTINELS = [
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
];

function isUnknown(value: unknown): boolean {
    return typeof value === "string" && UNKNOWN_SENTINELS.includes(value);
}

export interface TelegramWebhookInputs {
    /** Base URL of the Bot API, e.g. https://api.telegram.org or a local Bot API server. */
    apiBaseUrl: string;
    /** The bot's token from BotFather (secret). */
    botToken: string;
    /** The public HTTPS URL Telegram posts updates to. */
    url: string;
    /** Sent by Telegram in X-Telegram-Bot-Api-Secret-Token with every update (secret). */
    secretToken: string;
    /** Update types to receive; an empty list means Telegram's default set. */
    allowedUpdates: string[];
    /** Drop the updates waiting for delivery whenever the webhook is (re)registered. */
    dropPendingUpdates: boolean;
    /** Simultaneous HTTPS connections Telegram may open to the webhook, 1-100. */
    maxConnections: number;
}

export interface TelegramWebhookOutputs extends TelegramWebhookInputs {
    /** Updates Telegram holds for the webhook, as of the last create, update or refresh. */
    pendingUpdateCount: number;
    /** Telegram's last delivery error ("" when none), as of the last create, update or refresh. */
    lastErrorMessage: string;
    /** When that error happened (ISO 8601, "" when none). */
    lastErrorDate: string;
}

/** The Bot API's WebhookInfo, as much of it as the resource reads. */
export interface WebhookInfo {
    url: string;
    has_custom_certificate?: boolean;
    pending_update_count: number;
    ip_address?: string;
    last_error_date?: number;
    last_error_message?: string;
    max_connections?: number;
    allowed_updates?: string[];
}

// ---------------------------------------------------------------------------------------------
// Pure parts: validation, request parameters, diff, read-back, redaction

/** Why Telegram would refuse `url` as a webhook, or undefined when it would accept it. */
export function webhookUrlProblem(url: string): string | undefined {
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        return "must be an absolute URL such as https://bot.example.net/webhook/telegram";
    }
    if (parsed.protocol !== "https:") {
        return "must be an https:// URL: Telegram delivers updates only over HTTPS (terminate TLS at the reverse proxy)";
    }
    const port = parsed.port === "" ? 443 : Number(parsed.port);
    if (!(TELEGRAM_WEBHOOK_PORTS as readonly number[]).includes(port)) {
        return `uses port ${port}, but Telegram calls webhooks only on ports 443, 80, 88 and 8443; publish the reverse proxy on one of them`;
    }
    if (parsed.username !== "" || parsed.password !== "" || parsed.search !== "" || parsed.hash !== "") {
        return "must not carry credentials, a query or a fragment; the secret token authenticates Telegram instead";
    }
    return undefined;
}

/** The bot's numeric ID (the part of the token before the colon; not secret), if the token has the right shape. */
export function botIdOf(token: string): string | undefined {
    return BOT_TOKEN_PATTERN.exec(token)?.[1];
}

/**
 * Every documented constraint the inputs break, by property. Reasons never quote a secret value:
 * check failures are printed by the CLI.
 */
export function webhookInputProblems(inputs: Partial<Record<keyof TelegramWebhookInputs, unknown>>): pulumi.dynamic.CheckFailure[] {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const fail = (property: keyof TelegramWebhookInputs, reason: string) => failures.push({ property, reason });
    const known = (value: unknown) => value !== undefined && !isUnknown(value);

    const base = inputs.apiBaseUrl;
    if (known(base)) {
        let protocol = "";
        try {
            protocol = new URL(String(base)).protocol;
        } catch {
            // reported below
        }
        if (protocol !== "https:" && protocol !== "http:") {
            fail("apiBaseUrl", `must be an http(s) URL such as ${TELEGRAM_API_BASE_URL}`);
        }
    }
    if (known(inputs.botToken) && (typeof inputs.botToken !== "string" || botIdOf(inputs.botToken) === undefined)) {
        fail("botToken", "is not a bot token as BotFather issues it (`<bot id>:<secret>`); set the bot's token with 'pulumi config set --secret TELEGRAM_BOT_TOKEN <token>'");
    }
    if (known(inputs.url)) {
        const problem = typeof inputs.url === "string" ? webhookUrlProblem(inputs.url) : "must be a string";
        if (problem) {
            fail("url", problem);
        }
    }
    if (known(inputs.secretToken) && (typeof inputs.secretToken !== "string" || !SECRET_TOKEN_PATTERN.test(inputs.secretToken))) {
        fail("secretToken", "must be 1 to 256 characters from A-Z, a-z, 0-9, `_` and `-` (Telegram's rule for secret_token)");
    }
    const updates = inputs.allowedUpdates;
    if (known(updates)) {
        if (!Array.isArray(updates)) {
            fail("allowedUpdates", "must be a list of update types");
        } else {
            const unknownTypes = updates.filter((u) => !isUnknown(u) && !(TELEGRAM_UPDATE_TYPES as readonly unknown[]).includes(u));
            if (unknownTypes.length > 0) {
                fail("allowedUpdates", `names update types the Bot API does not have: ${unknownTypes.map((u) => `\`${String(u)}\``).join(", ")}; use ${TELEGRAM_UPDATE_TYPES.join(", ")}`);
            }
            if (new Set(updates).size !== updates.length) {
                fail("allowedUpdates", "lists an update type twice");
            }
        }
    }
    const max = inputs.maxConnections;
    if (known(max) && (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > 100)) {
        fail("maxConnections", "must be a whole number from 1 to 100 (Telegram's range for max_connections)");
    }
    if (known(inputs.dropPendingUpdates) && typeof inputs.dropPendingUpdates !== "boolean") {
        fail("dropPendingUpdates", "must be true or false");
    }
    return failures;
}

/** The body of setWebhook: every parameter sent explicitly, so nothing depends on what was set before. */
export function setWebhookParams(inputs: TelegramWebhookInputs): Record<string, unknown> {
    return {
        url: inputs.url,
        secret_token: inputs.secretToken,
        allowed_updates: inputs.allowedUpdates,
        drop_pending_updates: inputs.dropPendingUpdates,
        max_connections: inputs.maxConnections,
    };
}

/** Order-insensitive: Telegram treats allowed_updates as a set. */
function sameUpdates(a: unknown, b: unknown): boolean {
    if (!Array.isArray(a) || !Array.isArray(b)) {
        return JSON.stringify(a) === JSON.stringify(b);
    }
    return JSON.stringify([...a].map(String).sort()) === JSON.stringify([...b].map(String).sort());
}

const COMPARED_INPUTS = ["apiBaseUrl", "botToken", "url", "secretToken", "allowedUpdates", "dropPendingUpdates", "maxConnections"] as const;

/**
 * What a change means. Another bot (a token with another bot ID) is a replacement: the new bot's
 * webhook is set, then the old bot's is removed with the old token. Anything else, including a
 * new token for the same bot, is an update: setWebhook again. The status outputs
 * (pendingUpdateCount, lastError*) never cause a change.
 */
export function webhookDiff(olds: Partial<TelegramWebhookOutputs>, news: Partial<TelegramWebhookInputs>): pulumi.dynamic.DiffResult {
    const changed = COMPARED_INPUTS.filter((key) => {
        const before = olds[key];
        const after = news[key];
        if (isUnknown(after)) {
            return true;
        }
        return key === "allowedUpdates" ? !sameUpdates(before, after) : JSON.stringify(before) !== JSON.stringify(after);
    });
    const oldBot = typeof olds.botToken === "string" ? botIdOf(olds.botToken) : undefined;
    const newBot = typeof news.botToken === "string" && !isUnknown(news.botToken) ? botIdOf(news.botToken) : undefined;
    const anotherBot = oldBot !== undefined && newBot !== undefined && oldBot !== newBot;
    return { changes: changed.length > 0, replaces: anotherBot ? ["botToken"] : [], deleteBeforeReplace: false };
}

/**
 * The resource's outputs given what getWebhookInfo answered. The inputs Telegram reports back
 * (url, allowed_updates, max_connections) take the server's values, so a change made outside the
 * stack shows as a diff on refresh and the next `pulumi up` sets them again. The secret token
 * and drop_pending_updates are never reported back, so they keep the stack's values.
 */
export function outputsFromInfo(props: TelegramWebhookInputs, info: WebhookInfo): TelegramWebhookOutputs {
    const reported = info.allowed_updates;
    return {
        ...props,
        url: info.url,
        // The stack's order is kept when the set is the same, so a refresh shows no false drift.
        allowedUpdates: reported === undefined || sameUpdates(reported, props.allowedUpdates) ? props.allowedUpdates : reported,
        maxConnections: info.max_connections ?? props.maxConnections,
        pendingUpdateCount: info.pending_update_count ?? 0,
        lastErrorMessage: info.last_error_message ?? "",
        lastErrorDate: info.last_error_date ? new Date(info.last_error_date * 1000).toISOString() : "",
    };
}

/** Replaces every occurrence of each secret (as is and URL-encoded, and a token's secret part) with a marker. */
export function redact(text: string, secrets: (string | undefined)[]): string {
    const needles = new Set<string>();
    for (const secret of secrets) {
        if (!secret || secret.length < 4) {
            continue;
        }
        needles.add(secret);
        needles.add(encodeURIComponent(secret));
        const colon = secret.indexOf(":");
        if (colon > 0 && secret.length - colon > 8) {
            needles.add(secret.slice(colon + 1));
        }
    }
    let out = text;
    // Longest first, so the whole token is replaced before its secret part is looked for.
    for (const needle of [...needles].sort((a, b) => b.length - a.length)) {
        out = out.split(needle).join(REDACTED);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// The Bot API client

/**
 * A failed Bot API call. A plain Error with properties, not a subclass (see the file comment):
 * `errorCode` is the API's error_code (or the HTTP status), `retryAfter` its retry_after.
 */
export type BotApiError = Error & { method: string; errorCode?: number; retryAfter?: number };

function botApiError(message: string, method: string, errorCode?: number, retryAfter?: number): BotApiError {
    return Object.assign(new Error(message), { method, errorCode, retryAfter });
}

/** What a person should do about an error code, where the API's description alone does not say. */
function hintFor(errorCode: number | undefined, retryAfter: number | undefined): string {
    if (retryAfter !== undefined) {
        return `; Telegram asks to wait ${retryAfter}s before the next call: run the command again after that`;
    }
    if (errorCode === 401 || errorCode === 404) {
        return "; the bot token is not accepted (revoked in BotFather?): set the current one with 'pulumi config set --secret TELEGRAM_BOT_TOKEN <token>' and run 'pulumi up'";
    }
    return "";
}

interface BotApiTarget {
    apiBaseUrl: string;
    botToken: string;
}

/**
 * Calls one Bot API method with a JSON body and returns its `result`. A non-ok answer becomes an
 * error that carries the API's error_code and description ("setWebhook failed: 400 Bad Request:
 * ..."); every message is redacted of the token and the webhook's secret token.
 */
export function callBotApi<T>(target: BotApiTarget, method: string, params: Record<string, unknown>, opts: { timeoutMs?: number; alsoRedact?: string[] } = {}): Promise<T> {
    const secrets = [target.botToken, ...(opts.alsoRedact ?? [])];
    const clean = (text: string) => redact(text, secrets);
    const base = String(target.apiBaseUrl).replace(/\/+$/, "");
    let endpoint: URL;
    try {
        endpoint = new URL(`${base}/bot${target.botToken}/${method}`);
    } catch {
        return Promise.reject(botApiError(clean(`${method} failed: the Bot API base URL \`${base}\` is not a URL; set \`opsbook:telegram.apiBaseUrl\``), method));
    }
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const payload = Buffer.from(JSON.stringify(params));
    const client = endpoint.protocol === "https:" ? https : http;
    return new Promise<T>((resolve, reject) => {
        const req = client.request(
            endpoint,
            {
                method: "POST",
                headers: { "Content-Type": "application/json", "Content-Length": payload.length, Accept: "application/json" },
                timeout: timeoutMs,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("error", (err) => reject(botApiError(clean(`${method} failed: the answer from ${base} broke off (${err.message})`), method)));
                res.on("end", () => {
                    const text = Buffer.concat(chunks).toString("utf8");
                    const status = res.statusCode ?? 0;
                    let body: { ok?: unknown; result?: unknown; description?: unknown; error_code?: unknown; parameters?: { retry_after?: unknown } } | undefined;
                    try {
                        body = JSON.parse(text);
                    } catch {
                        body = undefined;
                    }
                    if (body && typeof body === "object" && body.ok === true) {
                        resolve(body.result as T);
                        return;
                    }
                    if (body && typeof body === "object" && body.ok === false) {
                        const code = typeof body.error_code === "number" ? body.error_code : status;
                        const retryAfter = typeof body.parameters?.retry_after === "number" ? body.parameters.retry_after : undefined;
                        const description = typeof body.description === "string" ? body.description : `HTTP ${status}`;
                        reject(botApiError(clean(`${method} failed: ${code} ${description}${hintFor(code, retryAfter)}`), method, code, retryAfter));
                        return;
                    }
                    // Not the Bot API's envelope: a proxy or something else answered.
                    const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
                    reject(botApiError(clean(`${method} failed: HTTP ${status} from ${base} without a Bot API answer${snippet ? `: ${snippet}` : ""}; check \`opsbook:telegram.apiBaseUrl\``), method, status));
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", (err: NodeJS.ErrnoException) => {
            reject(botApiError(clean(`${method} failed: cannot reach the Bot API at ${base} (${err.code ?? err.message})`), method));
        });
        req.end(payload);
    });
}

// ---------------------------------------------------------------------------------------------
// The provider

async function registerAndRead(inputs: TelegramWebhookInputs): Promise<TelegramWebhookOutputs> {
    const alsoRedact = [inputs.secretToken];
    await callBotApi<boolean>(inputs, "setWebhook", setWebhookParams(inputs), { alsoRedact });
    const info = await callBotApi<WebhookInfo>(inputs, "getWebhookInfo", {}, { alsoRedact });
    // Right after setWebhook the stack's values are the truth; only the status comes from the read.
    return { ...outputsFromInfo(inputs, info), url: inputs.url, allowedUpdates: inputs.allowedUpdates, maxConnections: inputs.maxConnections };
}

export const telegramWebhookProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: TelegramWebhookInputs, news: TelegramWebhookInputs) {
        const inputs = { ...news };
        if (typeof inputs.apiBaseUrl === "string" && !isUnknown(inputs.apiBaseUrl)) {
            inputs.apiBaseUrl = inputs.apiBaseUrl.replace(/\/+$/, "");
        }
        return { inputs, failures: webhookInputProblems(news) };
    },

    async diff(_id: string, olds: TelegramWebhookOutputs, news: TelegramWebhookInputs) {
        return webhookDiff(olds, news);
    },

    async create(inputs: TelegramWebhookInputs) {
        const outs = await registerAndRead(inputs);
        return { id: `bot${botIdOf(inputs.botToken) ?? "unknown"}`, outs };
    },

    async update(_id: string, _olds: TelegramWebhookOutputs, news: TelegramWebhookInputs) {
        return { outs: await registerAndRead(news) };
    },

    async read(id: string, props: TelegramWebhookOutputs) {
        const info = await callBotApi<WebhookInfo>(props, "getWebhookInfo", {}, { alsoRedact: [props.secretToken] });
        return { id, props: outputsFromInfo(props, info) };
    },

    async delete(_id: string, props: TelegramWebhookOutputs) {
        const alsoRedact = [props.secretToken];
        // The bot has one webhook. If it points somewhere else now, another deployment of the
        // same bot owns it (or a person moved it on purpose): removing it would cut that off.
        const info = await callBotApi<WebhookInfo>(props, "getWebhookInfo", {}, { alsoRedact });
        if (info.url !== "" && info.url !== props.url) {
            return;
        }
        await callBotApi<boolean>(props, "deleteWebhook", { drop_pending_updates: false }, { alsoRedact });
    },
};

export type TelegramWebhookArgs = { [K in keyof TelegramWebhookInputs]: pulumi.Input<TelegramWebhookInputs[K]> };

/**
 * A bot's webhook registration with the Telegram Bot API. The bot token and the secret token are
 * secret in the state and in every output.
 */
export class TelegramWebhook extends pulumi.dynamic.Resource {
    declare public readonly url: pulumi.Output<string>;
    declare public readonly allowedUpdates: pulumi.Output<string[]>;
    declare public readonly maxConnections: pulumi.Output<number>;
    declare public readonly pendingUpdateCount: pulumi.Output<number>;
    declare public readonly lastErrorMessage: pulumi.Output<string>;
    declare public readonly lastErrorDate: pulumi.Output<string>;

    constructor(name: string, args: TelegramWebhookArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            telegramWebhookProvider,
            name,
            { pendingUpdateCount: undefined, lastErrorMessage: undefined, lastErrorDate: undefined, ...args },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["botToken", "secretToken"] }),
            "opsbook",
            "TelegramWebhook",
        );
    }
}
