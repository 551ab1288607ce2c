import * as pulumi from "@pulumi/pulumi";
import { TELEGRAM_API_BASE_URL, TelegramWebhook, webhookUrlProblem } from "../providers/telegramWebhook";
import { Spec, SpecError } from "./spec";

/** The env names the webhook takes its two secrets from, on the service it points at. */
export const BOT_TOKEN_ENV = "TELEGRAM_BOT_TOKEN";
export const WEBHOOK_SECRET_ENV = "TELEGRAM_WEBHOOK_SECRET";

export const DEFAULT_WEBHOOK_PATH = "/webhook/telegram";
export const DEFAULT_ALLOWED_UPDATES = ["message", "callback_query"];
export const DEFAULT_MAX_CONNECTIONS = 40;

export interface TelegramWebhookRegistrationArgs {
    /** The service Telegram calls; named in messages. */
    readonly service: string;
    /** Public HTTPS base URL that reaches the service through the reverse proxy, e.g. https://bot.example.net. */
    readonly publicUrl: string;
    /** Path of the webhook on the service. Default `/webhook/telegram`. */
    readonly path?: string;
    /** Update types Telegram sends. Default `["message", "callback_query"]`. */
    readonly allowedUpdates?: string[];
    /** Drop updates waiting for delivery on every (re)registration. Default false. */
    readonly dropPendingUpdates?: boolean;
    /** Simultaneous connections Telegram may open, 1-100. Default 40. */
    readonly maxConnections?: number;
    /** Base URL of the Bot API. Default https://api.telegram.org. */
    readonly apiBaseUrl?: string;
    /** The bot's token (the service's TELEGRAM_BOT_TOKEN, a user secret). */
    readonly botToken: pulumi.Input<string>;
    /** The secret token Telegram sends and the service checks (the service's TELEGRAM_WEBHOOK_SECRET). */
    readonly secretToken: pulumi.Input<string>;
}

/** The public URL Telegram posts to: the proxy's base URL and the service's path. */
export function webhookUrl(publicUrl: string, path: string = DEFAULT_WEBHOOK_PATH): string {
    return `${publicUrl.replace(/\/+$/, "")}${path.startsWith("/") ? path : `/${path}`}`;
}

/**
 * What the stack's webhook needs from the spec and the user's secrets, checked before any
 * resource is registered; undefined when the stack declares no webhook. The secret token is
 * added by the caller once the stack's generated secrets exist. A missing user secret is an
 * error here (not left to the policy pack): without the token nothing can be registered.
 */
export function telegramWebhookPlan(
    spec: Pick<Spec, "telegram" | "services">,
    userSecrets: Record<string, pulumi.Input<string>>,
): Omit<TelegramWebhookRegistrationArgs, "secretToken"> | undefined {
    const hook = spec.telegram.webhook;
    if (!hook) {
        return undefined;
    }
    const svc = spec.services[hook.service];
    const missing = [BOT_TOKEN_ENV, WEBHOOK_SECRET_ENV].filter((name) => svc?.secretEnv[name]?.startsWith("config") && userSecrets[name] === undefined);
    if (missing.length > 0) {
        throw new SpecError(
            missing.map(
                (name) =>
                    `\`opsbook:${name}\` is not set, and \`opsbook:telegram.webhook\` registers service \`${hook.service}\`'s webhook with it; ` +
                    `run 'pulumi config set --secret ${name} <value>'${name === BOT_TOKEN_ENV ? " with the token BotFather gave you" : ""}`,
            ),
        );
    }
    return {
        service: hook.service,
        publicUrl: hook.publicUrl,
        path: hook.path,
        allowedUpdates: hook.allowedUpdates,
        dropPendingUpdates: hook.dropPendingUpdates,
        maxConnections: hook.maxConnections,
        apiBaseUrl: spec.telegram.apiBaseUrl,
        botToken: userSecrets[BOT_TOKEN_ENV],
    };
}

/**
 * Registers a service's Telegram webhook: Telegram posts updates to the public URL with the
 * service's secret token, so the service can refuse anything else. Create it after the service is
 * healthy (`dependsOn`): when the secret token rotates, the service rolls to the new secret first
 * and only then is Telegram told to send it; updates refused in between are retried by Telegram.
 */
export class TelegramWebhookRegistration extends pulumi.ComponentResource {
    /** The public URL Telegram posts updates to, as last registered or read back. */
    public readonly url: pulumi.Output<string>;
    /** Updates Telegram holds for the webhook, as of the last `pulumi up` or `pulumi refresh`. */
    public readonly pendingUpdateCount: pulumi.Output<number>;
    /** Telegram's last delivery error ("" when none), as of the last `pulumi up` or `pulumi refresh`. */
    public readonly lastErrorMessage: pulumi.Output<string>;

    constructor(name: string, args: TelegramWebhookRegistrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:TelegramWebhookRegistration", name, {}, opts);
        const where = `\`telegram.webhook\` (service \`${args.service}\`)`;
        const urlProblem = webhookUrlProblem(args.publicUrl);
        if (urlProblem) {
            throw new pulumi.ResourceError(`\`telegram.webhook.publicUrl\` ${urlProblem}.`, this);
        }
        const maxConnections = args.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
        if (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > 100) {
            throw new pulumi.ResourceError(`\`telegram.webhook.maxConnections\` must be a whole number from 1 to 100; set it in ${where}.`, this);
        }
        if (args.botToken === undefined || args.secretToken === undefined) {
            throw new pulumi.ResourceError(
                `${where} needs the service's ${BOT_TOKEN_ENV} and ${WEBHOOK_SECRET_ENV}; declare them in \`services.${args.service}.secretEnv\`.`,
                this,
            );
        }

        const webhook = new TelegramWebhook(
            `${name}-registration`,
            {
                apiBaseUrl: args.apiBaseUrl ?? TELEGRAM_API_BASE_URL,
                // Secret whichever way it arrived, so no output derived from it is ever plain.
                botToken: pulumi.secret(args.botToken),
                secretToken: pulumi.secret(args.secretToken),
                url: webhookUrl(args.publicUrl, args.path),
                allowedUpdates: args.allowedUpdates ?? DEFAULT_ALLOWED_UPDATES,
                dropPendingUpdates: args.dropPendingUpdates ?? false,
                maxConnections,
            },
            { parent: this },
        );
        this.url = webhook.url;
        this.pendingUpdateCount = webhook.pendingUpdateCount;
        this.lastErrorMessage = webhook.lastErrorMessage;
        this.registerOutputs({ url: this.url, pendingUpdateCount: this.pendingUpdateCount, lastErrorMessage: this.lastErrorMessage });
    }
}
