// The stack's alert rules, generated from its monitoring plan (spec + preset): one pure function,
// unit-tested with promtool for every preset. Every alert carries `stack` and `service` labels and
// `summary`, `action` and `runbook` annotations (the runbook points at the README section that
// says what to do); none carries a secret: the plan holds names and URLs of the stack's own
// network only.
import { duration } from "../hardening";
import { DISK_MOUNT_ROOT, MonitoringPlan } from "./plan";

/** Prometheus job names, shared by the scrape config and the rules. */
export const JOBS = { health: "health", app: "app", postgres: "postgres", redis: "redis", node: "node", memory: "memory", backup: "backup", telegram: "telegram", monitoring: "monitoring" } as const;

/** One alerting rule as Prometheus reads it. */
export interface AlertRule {
    readonly alert: string;
    readonly expr: string;
    readonly for: string;
    readonly labels: Record<string, string>;
    readonly annotations: { summary: string; action: string; runbook: string };
}

export interface RuleFile {
    readonly groups: { name: string; rules: AlertRule[] }[];
}

/** The alert names, each a section of the README's "Monitoring and alerts". */
export const ALERTS = ["ServiceDown", "HeartbeatStale", "HighErrorRate", "PostgresUnreachable", "RedisUnreachable", "DiskSpaceLow", "MemoryNearLimit", "BackupStale", "OffsiteCopyStale", "OffsiteWalStale", "PitrProofFailed", "TelegramWebhookFailing", "MonitoringTargetDown"] as const;
export type AlertName = (typeof ALERTS)[number];

/** A PromQL string literal (Go's double-quoted syntax, which JSON's escaping matches for these values). */
const q = (value: string): string => JSON.stringify(value);

/** Where the README says what to do about an alert. */
export function runbookLink(plan: Pick<MonitoringPlan, "settings">, alert: AlertName): string {
    return `${plan.settings.runbookUrl}#${alert.toLowerCase()}`;
}

/** The alert rules of a stack. Pure. */
export function alertRules(plan: MonitoringPlan): RuleFile {
    const t = plan.settings.thresholds;
    const interval = plan.settings.scrapeIntervalSeconds;
    const stack = plan.stack;
    const rule = (alert: AlertName, service: string | undefined, expr: string, forSeconds: number, summary: string, action: string, extra: Record<string, string> = {}): AlertRule => ({
        alert,
        expr,
        for: duration(forSeconds),
        // `service` from the rule when the alert is about one service; from the series otherwise.
        labels: { stack, ...(service ? { service } : {}), ...extra },
        annotations: { summary, action, runbook: runbookLink(plan, alert) },
    });
    const psOf = (service: string) => `docker service ps ${plan.engineNames[service] ?? service}`;
    const logsOf = (service: string) => `docker service logs --since 15m ${plan.engineNames[service] ?? service}`;

    const health = plan.health.map((h) => {
        const sel = `{job=${q(JOBS.health)},service=${q(h.service)}}`;
        return rule(
            "ServiceDown",
            h.service,
            // The status code as the value (0: no answer), so the message says what the check saw.
            `probe_http_status_code${sel} and (probe_success${sel} == 0)`,
            t.serviceDownSeconds,
            `${h.service} of stack ${stack} is down: its health check {{ $labels.instance }} ` +
                `{{ if eq $value 0.0 }}got no answer within ${t.probeTimeoutSeconds}s (refused or timed out){{ else }}answered HTTP {{ $value }}{{ end }}.`,
            `See why its tasks fail: \`${psOf(h.service)}\` and \`${logsOf(h.service)}\`; then check its database and Redis connectivity (its health JSON names them).`,
        );
    });

    const heartbeats = plan.heartbeats.map((hb) => {
        const sel = `{job=${q(JOBS.redis)},key=${q(hb.key)}}`;
        const value = `max(redis_key_value${sel})`;
        // Milliseconds (the reference app, JavaScript's Date.now()) or seconds (Unix time): both read as seconds.
        const seconds = `((${value} > 1e11) / 1000 or ${value})`;
        // A missing key counts as stale only while Redis is read (redis_up is 1): not before the
        // first scrape, not while the exporter or Redis is down (RedisUnreachable says so).
        const redisRead = `(max(redis_up{job=${q(JOBS.redis)}}) == 1)`;
        return rule(
            "HeartbeatStale",
            hb.service,
            `(time() - ${seconds}) > ${t.heartbeatStaleSeconds} or max(absent(redis_key_value${sel}) and on() ${redisRead})`,
            2 * interval,
            `${hb.service} of stack ${stack}: heartbeat ${hb.key} is stale (older than ${t.heartbeatStaleSeconds}s): ` +
                `{{ if gt $value 1.0 }}last written {{ $value | humanizeDuration }} ago{{ else }}missing from Redis{{ end }}.`,
            `The worker has stopped or hangs: \`${psOf(hb.service)}\` and \`${logsOf(hb.service)}\`; restart it with \`docker service update --force ${plan.engineNames[hb.service] ?? hb.service}\` once the cause is known.`,
            { heartbeat: hb.key },
        );
    });

    const errors = plan.metrics.map((m) =>
        rule(
            "HighErrorRate",
            m.service,
            // Over two minutes, so one slow scrape does not halve the rate; summed over the tasks.
            `sum(rate(http_requests_total{job=${q(JOBS.app)},service=${q(m.service)},status=~"5.."}[2m])) * 60 > ${t.errorsPerMinute}`,
            60,
            `${m.service} of stack ${stack} answers {{ printf "%.0f" $value }} 5xx responses per minute (more than ${t.errorsPerMinute}).`,
            `\`${logsOf(m.service)}\` for the failing requests; a release just rolled out? roll it back. A dependency down shows in its own alert.`,
        ),
    );

    const databases: AlertRule[] = [];
    if (plan.postgres) {
        databases.push(
            rule(
                "PostgresUnreachable",
                "postgres",
                `probe_success{job=${q(JOBS.postgres)}} == 0`,
                t.databaseDownSeconds,
                `Postgres of stack ${stack} does not accept connections at ${plan.postgres}.`,
                `\`${psOf("postgres")}\` and \`${logsOf("postgres")}\`; a full disk or a crash loop shows there. Services that use it answer their health checks as degraded until it is back.`,
            ),
        );
    }
    if (plan.redis) {
        databases.push(
            rule(
                "RedisUnreachable",
                "redis",
                `redis_up{job=${q(JOBS.redis)}} == 0`,
                t.databaseDownSeconds,
                `Redis of stack ${stack} does not answer its exporter (PING with the stack's password).`,
                `\`${psOf("redis")}\` and \`${logsOf("redis")}\`; heartbeats and shared state are unavailable until it is back.`,
            ),
        );
    }

    // Per node and per watched directory; `disk` names what lives there (the mount is /host/<disk>).
    const disk = plan.disks.map((d) => {
        const sel = `{job=${q(JOBS.node)},mountpoint=${q(`${DISK_MOUNT_ROOT}/${d.name}`)}}`;
        return rule(
            "DiskSpaceLow",
            undefined,
            // Times node_uname_info (always 1) for the node's name: the exporter's tasks take their node's hostname.
            `((1 - node_filesystem_avail_bytes${sel} / node_filesystem_size_bytes${sel}) * 100 > ${t.diskUsedPercent}) * on(instance) group_left(nodename) node_uname_info{job=${q(JOBS.node)}}`,
            5 * 60,
            `The disk holding the ${d.name} of stack ${stack} (${d.hostPath} on node {{ $labels.nodename }}) is {{ printf "%.0f" $value }}% full (alert above ${t.diskUsedPercent}%).`,
            `Free space before Postgres or the backups stop: \`docker system df\` on that node, remove unused images (\`docker image prune\`), prune old backups or move \`backups.location\`; grow the disk if the data itself grew.`,
            { service: "node-exporter", disk: d.name },
        );
    });

    // The agent's own verdict per target (fresh: a verified backup within two schedule periods,
    // images/backup/agent/plan.js), so the rule and `npm run backup -- health` cannot disagree.
    // The value is the last verified backup's age, or 0 when there is none yet.
    // The age where the verdict is "not fresh", or 0 where there is no age yet (nothing ever done).
    const ageWhereStale = (age: string, fresh: string, by: string) => {
        const stale = `${fresh}{job=${q(JOBS.backup)}} == 0`;
        const ages = `${age}{job=${q(JOBS.backup)}}`;
        return `(${ages} and on(${by}) (${stale})) or on(${by}) ((${stale}) * 0 unless on(${by}) ${ages})`;
    };
    const backups = plan.backupAgent
        ? [
              rule(
                  "BackupStale",
                  "backups",
                  ageWhereStale("opsbook_backup_last_verified_age_seconds", "opsbook_backup_target_fresh", "target"),
                  10 * 60,
                  `No verified backup of {{ $labels.target }} in stack ${stack} within two schedule periods: ` +
                      `{{ if gt $value 0.0 }}the last was verified {{ $value | humanizeDuration }} ago{{ else }}none has been verified yet{{ end }}.`,
                  `\`npm run backup -- status\` says why (a failed dump, a failed verification, the agent not running); \`npm run backup -- now\` once fixed. Until then a restore can only go back to the last verified backup.`,
              ),
              // Only a stack with an off-site target has the series; the rule matches nothing elsewhere.
              rule(
                  "OffsiteCopyStale",
                  "backups",
                  ageWhereStale("opsbook_backup_offsite_age_seconds", "opsbook_backup_offsite_fresh", "offsite"),
                  10 * 60,
                  `The off-site copy of stack ${stack}'s backups ({{ $labels.offsite }}) has not succeeded within two schedule periods: ` +
                      `{{ if gt $value 0.0 }}the last copy is {{ $value | humanizeDuration }} old{{ else }}no copy has succeeded yet{{ end }}. A loss of this host would lose the backups made since.`,
                  `\`npm run backup -- status\` shows the copy's last error (host unreachable, key refused, host key changed); fix it, then \`npm run backup -- now\`.`,
              ),
              // Only a stack with point-in-time recovery and an off-site target has the series. The
              // agent's verdict allows three shipping intervals plus a minute; two more minutes here
              // ride out a daily copy's prune holding the repository. Every minute of it is a minute
              // of acknowledged writes a host loss would cost.
              rule(
                  "OffsiteWalStale",
                  "backups",
                  ageWhereStale("opsbook_backup_offsite_wal_age_seconds", "opsbook_backup_offsite_wal_fresh", "offsite"),
                  2 * 60,
                  `Stack ${stack}'s pgBackRest repository (base backups and WAL) has not been shipped off-site to {{ $labels.offsite }} within its bound: ` +
                      `{{ if gt $value 0.0 }}the last shipment is {{ $value | humanizeDuration }} old{{ else }}nothing has been shipped yet{{ end }}. A loss of this host now would lose the writes made since.`,
                  `\`npm run backup -- status\` shows \`offsiteWal.lastError\` (host unreachable, key refused, no stanza yet); the agent retries every \`backups.offsite.walEverySeconds\` by itself once the cause is fixed.`,
              ),
              // Only a stack with point-in-time recovery has the series. At once: a corrupt archive
              // means restores to a time past it may be impossible, and every hour widens the gap.
              rule(
                  "PitrProofFailed",
                  "backups",
                  `opsbook_backup_pitr_proof_ok{job=${q(JOBS.backup)}} == 0`,
                  0,
                  `The proof of stack ${stack}'s newest pgBackRest backup {{ $labels.label }} failed (pgbackrest verify of the archived WAL, or its scratch restore): restores to a time after it may be impossible.`,
                  `\`npm run backup -- status\` names the failing file or check; take a new full backup with \`npm run backup -- now --full\` and prove it (\`npm run backup -- verify <label>\`); keep the last proven dump until one passes.`,
              ),
          ]
        : [];

    // Seed 000's "the webhook's last error", as Telegram reports it (getWebhookInfo through the
    // webhook exporter): a recent failed delivery, a webhook that is not the stack's, or Telegram
    // not telling (a revoked token shows only there).
    const hook = plan.telegramWebhook;
    const telegramSel = `{job=${q(JOBS.telegram)}}`;
    const telegram = hook
        ? [
              rule(
                  "TelegramWebhookFailing",
                  hook.service,
                  // The error's age (filtered to the window) times the info series (1), keeping its labels (the message).
                  `opsbook_telegram_webhook_last_error_info${telegramSel} * on(instance) group_left() (time() - opsbook_telegram_webhook_last_error_timestamp_seconds${telegramSel} < ${t.webhookErrorWindowSeconds})`,
                  0,
                  `Telegram could not deliver an update to ${hook.service} of stack ${stack} ({{ $value | humanizeDuration }} ago): "{{ $labels.message }}". Updates wait at Telegram and are retried; past 24 hours they are lost.`,
                  `Check the path Telegram takes: \`curl -sS -o /dev/null -w '%{http_code}' ${hook.url}\` from outside (reverse proxy, TLS certificate, DNS), then \`${psOf(hook.service)}\` and \`${logsOf(hook.service)}\`; a 401 or 403 from the service means its TELEGRAM_WEBHOOK_SECRET and the registered one differ: \`pulumi up\` registers it again.`,
              ),
              rule(
                  "TelegramWebhookFailing",
                  hook.service,
                  // The value says which: url_set, 0 (none) or 1 (another URL).
                  `opsbook_telegram_webhook_url_set${telegramSel} and on(instance) (opsbook_telegram_webhook_url_expected${telegramSel} == 0)`,
                  Math.max(60, 2 * interval),
                  `The bot's webhook at Telegram is not stack ${stack}'s ${hook.url}: {{ if eq $value 0.0 }}no webhook is set{{ else }}another URL is set{{ end }}, so updates do not reach ${hook.service}.`,
                  `Someone or something changed it (another deploy with the same bot token, a manual setWebhook or deleteWebhook). \`pulumi up --refresh\` registers the stack's again; if another stack uses the same token, give each its own bot.`,
              ),
              rule(
                  "TelegramWebhookFailing",
                  hook.service,
                  `opsbook_telegram_webhook_info_up${telegramSel} == 0`,
                  5 * 60,
                  `Telegram does not tell stack ${stack} the state of ${hook.service}'s webhook (getWebhookInfo failed for 5 minutes): a revoked bot token, or ${hook.apiBaseUrl} unreachable from the stack.`,
                  `\`docker service logs --since 15m ${hook.exporterService}\` says which (never the token). A revoked token: set the new one with \`pulumi config set --secret TELEGRAM_BOT_TOKEN\` and \`pulumi up\`.`,
              ),
          ]
        : [];

    const memory = rule(
        "MemoryNearLimit",
        undefined,
        // Per task; tasks without a limit have no limit series and never match.
        `opsbook_task_memory_working_set_bytes{job=${q(JOBS.memory)}} / opsbook_task_memory_limit_bytes{job=${q(JOBS.memory)}} * 100 > ${t.memoryPercent}`,
        2 * 60,
        `{{ $labels.task }} ({{ $labels.service }}) of stack ${stack} uses {{ printf "%.0f" $value }}% of its memory limit (alert above ${t.memoryPercent}%): near being killed for memory.`,
        `\`docker service ps {{ $labels.swarm_service }}\` for restarts (OOM kills show as exit 137); if it grew with load, raise the service's \`memoryMb\` and deploy; if it keeps growing, look for a leak in \`docker service logs --since 1h {{ $labels.swarm_service }}\`.`,
    );

    const blind = rule(
        "MonitoringTargetDown",
        undefined,
        `up{job=~${q(`${JOBS.monitoring}|${JOBS.redis}|${JOBS.node}|${JOBS.memory}|${JOBS.backup}|${JOBS.telegram}`)}} == 0`,
        Math.max(60, 4 * interval),
        `Monitoring of stack ${stack} is partly blind: Prometheus cannot scrape {{ $labels.service }} ({{ $labels.instance }}).`,
        `\`docker service ps\` and \`docker service logs\` of the stack's monitoring services (\`docker service ls --filter label=opsbook.stack=${stack} --filter label=opsbook.component=monitoring\`).`,
    );

    return {
        groups: [
            { name: `${stack}-services`, rules: [...health, ...heartbeats, ...errors, ...telegram, memory] },
            { name: `${stack}-data`, rules: [...databases, ...disk, ...backups] },
            { name: `${stack}-monitoring`, rules: [blind] },
        ].filter((g) => g.rules.length > 0),
    };
}
