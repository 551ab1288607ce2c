// The `opsbook:monitoring` part of the spec and the one rule about alert receivers and their
// secrets, shared by the spec (config.ts refuses a receiver whose secret is not set, before
// anything is registered) and the policy pack (production requires a receiver that can send).
// Pure: no engine, no config reads.
import { z } from "zod";

const secretName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { message: "must be a secret's config key, UPPER_SNAKE_CASE (e.g. ALERT_TELEGRAM_BOT_TOKEN)" });

const TelegramReceiverSchema = z
    .object({
        /** Config key of the bot token (`pulumi config set --secret <key>`). Default `ALERT_TELEGRAM_BOT_TOKEN`. */
        botTokenSecret: secretName.default("ALERT_TELEGRAM_BOT_TOKEN"),
        /** Config key of the chat id the alerts go to (a user, group or channel id). Default `ALERT_TELEGRAM_CHAT_ID`. */
        chatIdSecret: secretName.default("ALERT_TELEGRAM_CHAT_ID"),
    })
    .strict();

const WebhookReceiverSchema = z
    .object({
        /** Config key of the URL Alertmanager POSTs its JSON to (URLs of chat webhooks carry a token). Default `ALERT_WEBHOOK_URL`. */
        urlSecret: secretName.default("ALERT_WEBHOOK_URL"),
    })
    .strict();

const ReceiversSchema = z
    .object({
        /** Alertmanager's own Telegram receiver, through `opsbook:telegram.apiBaseUrl`. */
        telegram: TelegramReceiverSchema.optional(),
        /** Alertmanager's generic webhook (JSON POST of every notification). */
        webhook: WebhookReceiverSchema.optional(),
    })
    .strict();

/** The runbooks' numbers, as defaults; a stack overrides any of them. */
const ThresholdsSchema = z
    .object({
        /**
         * Seconds a service's health check must keep failing (no answer, a timeout, a 5xx such as
         * seed 000's 503) before the alert fires. Default 60: seed 000 checked every 5 minutes.
         */
        serviceDownSeconds: z.number().int().min(0).max(3600).default(60),
        /** Seconds a health check may take before it counts as a timeout. Default 5. */
        probeTimeoutSeconds: z.number().int().min(1).max(60).default(5),
        /** Age in seconds after which a worker heartbeat is stale. Default 120 (seed 001: "over 2 minutes"). */
        heartbeatStaleSeconds: z.number().int().min(10).max(86400).default(120),
        /** 5xx answers per minute (from a service's `http_requests_total`) above which it alerts. Default 10 (seed 002). */
        errorsPerMinute: z.number().min(0).default(10),
        /** Seconds Postgres or Redis must stay unreachable before the alert fires. Default 60. */
        databaseDownSeconds: z.number().int().min(0).max(3600).default(60),
        /**
         * Percent of a watched filesystem in use (where the volumes live, and a backup location on a
         * host directory) above which it alerts. Default 85 (seed 003 reviews disk space weekly).
         */
        diskUsedPercent: z.number().min(1).max(99).default(85),
        /** Percent of its memory limit a task may use (working set) before it alerts. Default 80 (seed 002). */
        memoryPercent: z.number().min(1).max(99).default(80),
        /**
         * Seconds for which Telegram's last failed delivery to the stack's webhook (getWebhookInfo's
         * last_error_date) keeps its alert firing; Telegram retries, so a webhook that keeps failing
         * keeps it fresh. Default 600.
         */
        webhookErrorWindowSeconds: z.number().int().min(10).max(86400).default(600),
    })
    .strict();

/** How Alertmanager batches notifications, so that a dead database does not send fifty messages. */
const GroupingSchema = z
    .object({
        /** Seconds to wait for more alerts of a new group before the first message. Default 30. */
        waitSeconds: z.number().int().min(0).max(3600).default(30),
        /** Seconds between messages about new alerts in a group that already notified. Default 300. */
        intervalSeconds: z.number().int().min(1).max(86400).default(300),
        /** Hours before a still-firing group is sent again. Default 4. */
        repeatHours: z.number().int().min(1).max(168).default(4),
    })
    .strict();

export const MonitoringSchema = z
    .object({
        /** Prometheus, Alertmanager and the exporters as services of the stack. Default true. */
        enabled: z.boolean().default(true),
        /** Seconds between scrapes and health checks. Default 15. */
        scrapeIntervalSeconds: z.number().int().min(1).max(300).default(15),
        /** Days Prometheus keeps its samples (on its volume). Default 15. */
        retentionDays: z.number().int().min(1).max(3650).default(15),
        /** Memory limit of Prometheus in MiB. Default 256. */
        prometheusMemoryMb: z.number().int().min(64).default(256),
        /**
         * The Docker engine's data root on the nodes (`docker info --format '{{.DockerRootDir}}'`):
         * its `volumes` directory is where the stack's data lives, and its free space is watched.
         * Default: what the stack's engine reports at deploy.
         */
        engineDataRoot: z.string().regex(/^\/[^\0]*$/, { message: "must be an absolute directory on the engine's nodes, e.g. /var/lib/docker (see `docker info --format '{{.DockerRootDir}}'`)" }).optional(),
        /** The document the alerts' `runbook` annotations point into (`<runbookUrl>#<alert name>`): this README by default; a team may give the URL of its own copy. */
        runbookUrl: z.string().min(1).default("README.md"),
        receivers: ReceiversSchema.default(ReceiversSchema.parse({})),
        thresholds: ThresholdsSchema.default(ThresholdsSchema.parse({})),
        grouping: GroupingSchema.default(GroupingSchema.parse({})),
    })
    .strict();

export type MonitoringSpec = z.infer<typeof MonitoringSchema>;
export type AlertReceiverKind = "telegram" | "webhook";

/** One secret a receiver needs: its config key and what it is, in words. */
export interface ReceiverSecret {
    readonly name: string;
    readonly what: string;
}

/** The secrets each configured receiver needs, by receiver. Pure. */
export function receiverSecrets(monitoring: Pick<MonitoringSpec, "receivers">): Partial<Record<AlertReceiverKind, ReceiverSecret[]>> {
    const out: Partial<Record<AlertReceiverKind, ReceiverSecret[]>> = {};
    const { telegram, webhook } = monitoring.receivers;
    if (telegram) {
        out.telegram = [
            { name: telegram.botTokenSecret, what: "the bot token from BotFather" },
            { name: telegram.chatIdSecret, what: "the id of the chat the alerts go to" },
        ];
    }
    if (webhook) {
        out.webhook = [{ name: webhook.urlSecret, what: "the URL notifications are POSTed to" }];
    }
    return out;
}

/** The state of each receiver's secrets as a stack records it: `set` or `missing`, by config key. Never a value. */
export type ReceiverSecretState = Partial<Record<AlertReceiverKind, Record<string, "set" | "missing">>>;

/**
 * The one rule about receivers: each configured receiver has every secret it needs, and (when
 * `requireOne`) there is at least one receiver. Messages name the spec key and the config key and
 * say how to fix it; they never hold a value. Used by config.ts (with what is set in the stack's
 * config) and by the policy pack (with what the Alertmanager service records).
 */
export function receiverProblems(state: ReceiverSecretState, requireOne: boolean): string[] {
    const problems: string[] = [];
    const kinds = Object.keys(state) as AlertReceiverKind[];
    if (requireOne && kinds.length === 0) {
        problems.push(
            "`opsbook:monitoring.receivers` names no receiver, so no alert would reach anyone; add `telegram: {}` (then " +
                "`pulumi config set --secret ALERT_TELEGRAM_BOT_TOKEN` and `ALERT_TELEGRAM_CHAT_ID`) or `webhook: {}` (then `ALERT_WEBHOOK_URL`)",
        );
    }
    for (const kind of kinds) {
        for (const [name, status] of Object.entries(state[kind] ?? {})) {
            if (status !== "set") {
                problems.push(
                    `\`opsbook:monitoring.receivers.${kind}\` needs the secret \`${name}\`, which is not set; run ` +
                        `\`pulumi config set --secret ${name}\` and paste the value at the prompt, or remove the receiver`,
                );
            }
        }
    }
    return problems;
}

/** A Telegram chat id: a user's (positive) or a group's or channel's (negative, -100...). */
export const TELEGRAM_CHAT_ID = /^-?[0-9]{1,20}$/;
