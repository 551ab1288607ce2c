// The monitoring services' config files, from the plan. Pure. They are written as JSON, which is
// YAML too: no YAML emitter to trust with quoting, and Prometheus and Alertmanager read it as is.
import { duration } from "../hardening";
import { JOBS } from "./rules";
import { MONITORING_HOSTS, MONITORING_PORTS, MonitoringPlan } from "./plan";

/** Where the config files appear inside the monitoring tasks. */
export const CONFIG_PATHS = {
    prometheus: "/etc/opsbook/prometheus.yml",
    rules: "/etc/opsbook/alert-rules.yml",
    blackbox: "/etc/opsbook/blackbox.yml",
} as const;

const BLACKBOX = `${MONITORING_HOSTS.blackbox}:${MONITORING_PORTS.blackbox}`;

/** A scrape job whose targets are probed through the blackbox exporter with `module`. */
function probeJob(job: string, module: string, targets: { target: string; service: string }[], stack: string, interval: number, timeoutSeconds: number) {
    return {
        job_name: job,
        metrics_path: "/probe",
        params: { module: [module] },
        scrape_interval: duration(interval),
        // The exporter gives a probe this long minus half a second: leave it the whole probe timeout.
        scrape_timeout: duration(Math.min(interval, timeoutSeconds + 1)),
        static_configs: targets.map((t) => ({ targets: [t.target], labels: { stack, service: t.service } })),
        relabel_configs: [
            { source_labels: ["__address__"], target_label: "__param_target" },
            { source_labels: ["__param_target"], target_label: "instance" },
            { target_label: "__address__", replacement: BLACKBOX },
        ],
    };
}

/** prometheus.yml. */
export function prometheusConfig(plan: MonitoringPlan): object {
    const interval = plan.settings.scrapeIntervalSeconds;
    const timeout = plan.settings.thresholds.probeTimeoutSeconds;
    const stack = plan.stack;
    const self = (service: string, host: string, port: number) => ({ targets: [`${host}:${port}`], labels: { stack, service } });
    return {
        global: { scrape_interval: duration(interval), evaluation_interval: duration(interval), scrape_timeout: duration(Math.min(interval, 10)) },
        rule_files: [CONFIG_PATHS.rules],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [`${MONITORING_HOSTS.alertmanager}:${MONITORING_PORTS.alertmanager}`] }] }] },
        scrape_configs: [
            ...(plan.health.length > 0 ? [probeJob(JOBS.health, "http_health", plan.health.map((h) => ({ target: h.url, service: h.service })), stack, interval, timeout)] : []),
            ...(plan.metrics.length > 0
                ? [
                      {
                          job_name: JOBS.app,
                          // Every task of the service, by the engine's DNS (one A record per running task).
                          dns_sd_configs: plan.metrics.map((m) => ({ names: [m.tasksName], type: "A", port: m.port, refresh_interval: duration(Math.max(interval, 5)) })),
                          relabel_configs: [
                              ...plan.metrics.map((m) => ({ source_labels: ["__meta_dns_name"], regex: m.tasksName.replace(/\./g, "\\."), target_label: "service", replacement: m.service })),
                              { target_label: "stack", replacement: stack },
                          ],
                      },
                  ]
                : []),
            ...(plan.postgres ? [probeJob(JOBS.postgres, "tcp_connect", [{ target: plan.postgres, service: "postgres" }], stack, interval, timeout)] : []),
            ...(plan.redis
                ? [{ job_name: JOBS.redis, static_configs: [self("redis", MONITORING_HOSTS.redisExporter, MONITORING_PORTS.redisExporter)] }]
                : []),
            {
                job_name: JOBS.node,
                // One node exporter per node (a global service): every task by the engine's DNS.
                dns_sd_configs: [{ names: [plan.nodeExporterTasks], type: "A", port: MONITORING_PORTS.nodeExporter, refresh_interval: duration(Math.max(interval, 5)) }],
                relabel_configs: [
                    { target_label: "stack", replacement: stack },
                    { target_label: "service", replacement: "node-exporter" },
                ],
            },
            {
                job_name: JOBS.memory,
                // One task memory exporter per node, like the node exporter.
                dns_sd_configs: [{ names: [plan.taskMemoryTasks], type: "A", port: MONITORING_PORTS.taskMemory, refresh_interval: duration(Math.max(interval, 5)) }],
                // The series' own `service` (the task's) is kept: the exporter's is not needed.
                honor_labels: true,
                relabel_configs: [{ target_label: "stack", replacement: stack }],
            },
            ...(plan.telegramWebhook
                ? [
                      {
                          job_name: JOBS.telegram,
                          // Each scrape is one getWebhookInfo call: at most one every 15 s, far inside the Bot API's limits.
                          scrape_interval: duration(Math.max(interval, 15)),
                          // The exporter gives Telegram 5 s.
                          scrape_timeout: "10s",
                          static_configs: [
                              { targets: [`${MONITORING_HOSTS.telegramWebhook}:${MONITORING_PORTS.telegramWebhook}`], labels: { stack, service: plan.telegramWebhook.service } },
                          ],
                      },
                  ]
                : []),
            ...(plan.backupAgent
                ? [{ job_name: JOBS.backup, static_configs: [{ targets: [plan.backupAgent], labels: { stack, service: "backups" } }] }]
                : []),
            {
                job_name: JOBS.monitoring,
                static_configs: [
                    self("prometheus", "localhost", MONITORING_PORTS.prometheus),
                    self("alertmanager", MONITORING_HOSTS.alertmanager, MONITORING_PORTS.alertmanager),
                    self("blackbox-exporter", MONITORING_HOSTS.blackbox, MONITORING_PORTS.blackbox),
                ],
            },
        ],
    };
}

/** blackbox.yml: an HTTP health check (2xx is healthy) and a TCP connect. */
export function blackboxConfig(plan: MonitoringPlan): object {
    const timeout = duration(plan.settings.thresholds.probeTimeoutSeconds);
    return {
        modules: {
            http_health: { prober: "http", timeout, http: { preferred_ip_protocol: "ip4", ip_protocol_fallback: false, method: "GET" } },
            tcp_connect: { prober: "tcp", timeout, tcp: { preferred_ip_protocol: "ip4", ip_protocol_fallback: false } },
        },
    };
}

/** The receivers' secret values, read by the component (never part of the plan). */
export interface ReceiverValues {
    readonly telegram?: { readonly apiUrl: string; readonly botToken: string; readonly chatId: string };
    readonly webhook?: { readonly url: string };
}

/** The name of the one receiver every alert goes to (a receiver without configs drops them). */
export const TEAM_RECEIVER = "team";

/**
 * What a notification says: the stack, each alert's service, what it saw and what to do, and the
 * README section; firing and resolved alike. Plain text (no parse mode), so nothing in a summary
 * needs escaping for Telegram.
 */
export const NOTIFICATION_TEMPLATE = [
    '{{ if eq .Status "firing" }}FIRING{{ else }}RESOLVED{{ end }} - stack {{ .CommonLabels.stack }}: {{ len .Alerts.Firing }} firing, {{ len .Alerts.Resolved }} resolved',
    "{{ range .Alerts.Firing }}",
    "FIRING {{ .Labels.alertname }} - service {{ .Labels.service }}",
    "{{ .Annotations.summary }}",
    "What to do: {{ .Annotations.action }}",
    "Runbook: {{ .Annotations.runbook }}",
    "{{ end }}{{ range .Alerts.Resolved }}",
    "RESOLVED {{ .Labels.alertname }} - service {{ .Labels.service }} is back; it was: {{ .Annotations.summary }}",
    "{{ end }}",
].join("\n");

/** alertmanager.yml, with the receivers' secrets in it (Alertmanager 0.25 reads no bot token from a file): a secret as a whole. */
export function alertmanagerConfig(plan: MonitoringPlan, receivers: ReceiverValues): object {
    const g = plan.settings.grouping;
    return {
        route: {
            receiver: TEAM_RECEIVER,
            // One message per stack and batch: a dead database and every service it takes down arrive together.
            group_by: ["stack"],
            group_wait: duration(g.waitSeconds),
            group_interval: duration(g.intervalSeconds),
            repeat_interval: duration(g.repeatHours * 3600),
        },
        receivers: [
            {
                name: TEAM_RECEIVER,
                ...(receivers.telegram
                    ? {
                          telegram_configs: [
                              {
                                  api_url: receivers.telegram.apiUrl,
                                  bot_token: receivers.telegram.botToken,
                                  chat_id: Number(receivers.telegram.chatId),
                                  parse_mode: "",
                                  message: NOTIFICATION_TEMPLATE,
                                  send_resolved: true,
                              },
                          ],
                      }
                    : {}),
                ...(receivers.webhook ? { webhook_configs: [{ url: receivers.webhook.url, send_resolved: true }] } : {}),
            },
        ],
    };
}
