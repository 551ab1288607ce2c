// The generated alert rules of every preset, tested by Prometheus's own rule engine: `promtool
// test rules` (Debian's prometheus 2.42) run in the stack's monitoring image. Each case feeds the
// series the scrape config produces (same job and target labels) and checks which alert fires
// when, with its labels and its rendered summary. Needs the Docker engine and the image the
// toolchain builds; without them the test fails and says so.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { listenPorts } from "../../components/gateway";
import { MONITORING_ENDPOINTS, MonitoringPlan, monitoringPlan } from "../../components/monitoring/plan";
import { ALERTS, AlertRule, alertRules } from "../../components/monitoring/rules";
import { CONFIG_PATHS, alertmanagerConfig, blackboxConfig, prometheusConfig } from "../../components/monitoring/configFiles";
import { parseSpec } from "../../components/spec";
import { publishedServices } from "../../components/wiring";
import { PRESETS, applyPreset } from "../../presets";

const ROOT = path.resolve(__dirname, "..", "..");
const IDENTITY = { project: "opsbook", stack: "unit" };

function monitoringImage(): string {
    const image = process.env.OPSBOOK_IMAGE_MONITORING;
    if (!image) {
        assert.fail("OPSBOOK_IMAGE_MONITORING is not set: promtool runs in the monitoring image; run 'eval \"$(npm run -s toolchain)\"' first (npm test does this)");
    }
    return image;
}

function planOf(preset: string, overrides: Record<string, unknown> = {}): MonitoringPlan {
    const spec = parseSpec(applyPreset({ preset, ...overrides }));
    return monitoringPlan(spec, IDENTITY, listenPorts([...publishedServices(spec), ...MONITORING_ENDPOINTS]));
}

/** A series selector with labels, as promtool's input_series takes it. */
const series = (name: string, labels: Record<string, string>) =>
    `${name}{${Object.entries(labels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(",")}}`;

interface Case {
    readonly name: string;
    readonly input: { series: string; values: string }[];
    readonly checks: { eval_time: string; alertname: string; exp_alerts: { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }[] }[];
}

/** The rule's own annotations with the rendered summary the case expects. */
function annotations(rule: AlertRule, summary: string): Record<string, string> {
    return { ...rule.annotations, summary };
}

/** promtool cases for a plan: every alert it can raise, firing only after its threshold, and not raised when all is well. */
function casesFor(plan: MonitoringPlan): Case[] {
    const rules = alertRules(plan).groups.flatMap((g) => g.rules);
    const find = (alert: string, service?: string) => rules.find((r) => r.alert === alert && (service === undefined || r.labels.service === service))!;
    const stack = plan.stack;
    const t = plan.settings.thresholds;
    const cases: Case[] = [];
    for (const h of plan.health) {
        const labels = { job: "health", instance: h.url, service: h.service, stack };
        const rule = find("ServiceDown", h.service);
        // Healthy for 5 minutes, then 503 (seed 000's failure) for 5 minutes, then no answer at all.
        cases.push({
            name: `${h.service} down`,
            input: [
                { series: series("probe_success", labels), values: "1x20 0x40" },
                { series: series("probe_http_status_code", labels), values: "200x20 503x20 0x20" },
            ],
            checks: [
                { eval_time: "4m", alertname: "ServiceDown", exp_alerts: [] },
                // 5m: the first failed check; the alert waits `serviceDownSeconds` (60 s by default).
                { eval_time: "5m30s", alertname: "ServiceDown", exp_alerts: [] },
                {
                    eval_time: "7m",
                    alertname: "ServiceDown",
                    exp_alerts: [
                        {
                            exp_labels: { ...labels, ...rule.labels },
                            exp_annotations: annotations(rule, `${h.service} of stack ${stack} is down: its health check ${h.url} answered HTTP 503.`),
                        },
                    ],
                },
                {
                    eval_time: "12m",
                    alertname: "ServiceDown",
                    exp_alerts: [
                        {
                            exp_labels: { ...labels, ...rule.labels },
                            exp_annotations: annotations(rule, `${h.service} of stack ${stack} is down: its health check ${h.url} got no answer within ${t.probeTimeoutSeconds}s (refused or timed out).`),
                        },
                    ],
                },
            ],
        });
    }
    const keySeries = (k: string) => series("redis_key_value", { job: "redis", instance: "monitoring-redis-exporter:9121", service: "redis", stack, db: "db0", key: k });
    for (const hb of plan.heartbeats) {
        const rule = rules.find((r) => r.alert === "HeartbeatStale" && r.labels.heartbeat === hb.key)!;
        const up = { series: series("redis_up", { job: "redis", instance: "monitoring-redis-exporter:9121", service: "redis", stack }), values: "1x80" };
        // The other heartbeats keep being written: only this one may fire.
        const others = plan.heartbeats.filter((o) => o.key !== hb.key).map((o) => ({ series: keySeries(o.key), values: "0+15x80" }));
        // Written every 15 s (Unix seconds: promtool's clock starts at 0) until 5m, then never again.
        cases.push({
            name: `${hb.key} stale`,
            input: [up, ...others, { series: keySeries(hb.key), values: "0+15x20 300x60" }],
            checks: [
                { eval_time: "6m", alertname: "HeartbeatStale", exp_alerts: [] },
                {
                    eval_time: "8m",
                    alertname: "HeartbeatStale",
                    exp_alerts: [{ exp_labels: rule.labels, exp_annotations: annotations(rule, `${hb.service} of stack ${stack}: heartbeat ${hb.key} is stale (older than ${t.heartbeatStaleSeconds}s): last written 3m 0s ago.`) }],
                },
            ],
        });
        // A key that is gone (its TTL ran out) is stale too, but not while Redis itself cannot be read.
        cases.push({
            name: `${hb.key} missing`,
            input: [{ series: series("redis_up", { job: "redis", instance: "monitoring-redis-exporter:9121", service: "redis", stack }), values: "1x20 0x20 1x20" }, ...others],
            checks: [
                {
                    eval_time: "4m",
                    alertname: "HeartbeatStale",
                    exp_alerts: [{ exp_labels: rule.labels, exp_annotations: annotations(rule, `${hb.service} of stack ${stack}: heartbeat ${hb.key} is stale (older than ${t.heartbeatStaleSeconds}s): missing from Redis.`) }],
                },
                { eval_time: "9m", alertname: "HeartbeatStale", exp_alerts: [] },
            ],
        });
        // Before Redis has been read once (Prometheus just started), a key not seen yet is no alert.
        cases.push({
            name: `${hb.key} before the first scrape of Redis`,
            input: [{ series: series("up", { job: "monitoring", instance: "localhost:9090", service: "prometheus", stack }), values: "1x20" }],
            checks: [{ eval_time: "4m", alertname: "HeartbeatStale", exp_alerts: [] }],
        });
    }
    for (const m of plan.metrics) {
        const rule = find("HighErrorRate", m.service);
        const base = { job: "app", instance: "10.0.9.7:" + m.port, service: m.service, stack, method: "GET", path: "/items" };
        // 2xx all along; from 5m, 20 answers of 503 every 15 s (80 a minute).
        cases.push({
            name: `${m.service} 5xx rate`,
            input: [
                { series: series("http_requests_total", { ...base, status: "200" }), values: "0+100x60" },
                { series: series("http_requests_total", { ...base, status: "503" }), values: "0x20 20+20x40" },
            ],
            checks: [
                { eval_time: "5m", alertname: "HighErrorRate", exp_alerts: [] },
                { eval_time: "5m30s", alertname: "HighErrorRate", exp_alerts: [] },
                {
                    eval_time: "8m",
                    alertname: "HighErrorRate",
                    exp_alerts: [{ exp_labels: rule.labels, exp_annotations: annotations(rule, `${m.service} of stack ${stack} answers 80 5xx responses per minute (more than ${t.errorsPerMinute}).`) }],
                },
            ],
        });
    }
    if (plan.postgres) {
        const labels = { job: "postgres", instance: plan.postgres, service: "postgres", stack };
        const rule = find("PostgresUnreachable");
        cases.push({
            name: "postgres unreachable",
            input: [{ series: series("probe_success", labels), values: "1x20 0x20" }],
            checks: [
                { eval_time: "5m30s", alertname: "PostgresUnreachable", exp_alerts: [] },
                { eval_time: "7m", alertname: "PostgresUnreachable", exp_alerts: [{ exp_labels: { ...labels, ...rule.labels }, exp_annotations: rule.annotations }] },
            ],
        });
    }
    if (plan.redis) {
        const labels = { job: "redis", instance: "monitoring-redis-exporter:9121", service: "redis", stack };
        const rule = find("RedisUnreachable");
        cases.push({
            name: "redis unreachable",
            input: [{ series: series("redis_up", labels), values: "1x20 0x20" }],
            checks: [
                { eval_time: "5m30s", alertname: "RedisUnreachable", exp_alerts: [] },
                { eval_time: "7m", alertname: "RedisUnreachable", exp_alerts: [{ exp_labels: { ...labels, ...rule.labels }, exp_annotations: rule.annotations }] },
            ],
        });
    }
    for (const d of plan.disks) {
        // One node's exporter; the filesystem grows from 50 % to 90 % full of its 100 GB.
        const fs = { job: "node", instance: "10.0.1.7:9100", service: "node-exporter", stack, mountpoint: `/host/${d.name}`, device: "/dev/sda1", fstype: "ext4" };
        const rule = rules.find((r) => r.alert === "DiskSpaceLow" && r.labels.disk === d.name)!;
        cases.push({
            name: `disk of the ${d.name} filling up`,
            input: [
                { series: series("node_filesystem_size_bytes", fs), values: "100e9x40" },
                { series: series("node_filesystem_avail_bytes", fs), values: "50e9x20 10e9x20" },
                { series: series("node_uname_info", { job: "node", instance: "10.0.1.7:9100", service: "node-exporter", stack, nodename: "trading-1" }), values: "1x40" },
            ],
            checks: [
                { eval_time: "4m", alertname: "DiskSpaceLow", exp_alerts: [] },
                // 90 % from 5m on; the alert waits five minutes.
                { eval_time: "9m", alertname: "DiskSpaceLow", exp_alerts: [] },
                {
                    eval_time: "10m30s",
                    alertname: "DiskSpaceLow",
                    exp_alerts: [
                        {
                            exp_labels: { ...fs, nodename: "trading-1", ...rule.labels },
                            exp_annotations: annotations(rule, `The disk holding the ${d.name} of stack ${stack} (${d.hostPath} on node trading-1) is 90% full (alert above ${t.diskUsedPercent}%).`),
                        },
                    ],
                },
            ],
        });
    }
    {
        // One api task whose working set grows from 50 % to 90 % of its 256 MiB limit.
        const task = { job: "memory", instance: "10.0.1.7:9101", stack, service: "api", swarm_service: `opsbook-${stack}-api`, task: `opsbook-${stack}-api.1.abc` };
        const rule = find("MemoryNearLimit");
        cases.push({
            name: "a task near its memory limit",
            input: [
                { series: series("opsbook_task_memory_limit_bytes", task), values: "268435456x40" },
                { series: series("opsbook_task_memory_working_set_bytes", task), values: "134217728x20 241591910x20" },
            ],
            checks: [
                { eval_time: "4m", alertname: "MemoryNearLimit", exp_alerts: [] },
                { eval_time: "6m", alertname: "MemoryNearLimit", exp_alerts: [] },
                {
                    eval_time: "7m30s",
                    alertname: "MemoryNearLimit",
                    exp_alerts: [
                        {
                            exp_labels: { ...task, ...rule.labels },
                            exp_annotations: {
                                ...annotations(rule, `opsbook-${stack}-api.1.abc (api) of stack ${stack} uses 90% of its memory limit (alert above ${t.memoryPercent}%): near being killed for memory.`),
                                action: rule.annotations.action.replace(/\{\{ \$labels\.swarm_service \}\}/g, `opsbook-${stack}-api`),
                            },
                        },
                    ],
                },
            ],
        });
    }
    if (plan.backupAgent) {
        const agent = { job: "backup", instance: plan.backupAgent, service: "backups", stack };
        const rule = find("BackupStale");
        const db = { ...agent, target: "postgres:app" };
        const fresh = { ...agent, target: "sqlite:/data/app.db" };
        const never = { ...agent, target: "sqlite:/data/new.db" };
        const proofRule = find("PitrProofFailed");
        const proof = { ...agent, label: "20261201-030000F" };
        cases.push({
            name: "a pgBackRest proof failing",
            input: [{ series: series("opsbook_backup_pitr_proof_ok", proof), values: "1x20 0x20" }],
            checks: [
                { eval_time: "4m", alertname: "PitrProofFailed", exp_alerts: [] },
                {
                    eval_time: "5m30s",
                    alertname: "PitrProofFailed",
                    exp_alerts: [
                        {
                            exp_labels: { ...proof, ...proofRule.labels },
                            exp_annotations: annotations(
                                proofRule,
                                `The proof of stack ${stack}'s newest pgBackRest backup 20261201-030000F failed (pgbackrest verify of the archived WAL, or its scratch restore): restores to a time after it may be impossible.`,
                            ),
                        },
                    ],
                },
            ],
        });
        const offsiteRule = find("OffsiteCopyStale");
        const copy = { ...agent, offsite: "sftp://backup@10.0.0.9/srv/opsbook" };
        cases.push({
            name: "the off-site copy failing",
            input: [
                { series: series("opsbook_backup_offsite_fresh", copy), values: "1x20 0x40" },
                { series: series("opsbook_backup_offsite_age_seconds", copy), values: "3600x20 180000x40" },
            ],
            checks: [
                { eval_time: "9m", alertname: "OffsiteCopyStale", exp_alerts: [] },
                {
                    eval_time: "16m",
                    alertname: "OffsiteCopyStale",
                    exp_alerts: [
                        {
                            exp_labels: { ...copy, ...offsiteRule.labels },
                            exp_annotations: annotations(
                                offsiteRule,
                                `The off-site copy of stack ${stack}'s backups (sftp://backup@10.0.0.9/srv/opsbook) has not succeeded within two schedule periods: the last copy is 2d 2h 0m 0s old. A loss of this host would lose the backups made since.`,
                            ),
                        },
                    ],
                },
            ],
        });
        const walRule = find("OffsiteWalStale");
        cases.push({
            name: "the shipped pgBackRest repository falling behind",
            input: [
                // Shipped every 10 s (age under 90 s) for 5 minutes, then stuck: the agent's verdict turns at 3 intervals + 60 s.
                { series: series("opsbook_backup_offsite_wal_fresh", copy), values: "1x20 0x40" },
                { series: series("opsbook_backup_offsite_wal_age_seconds", copy), values: "10x20 100+15x40" },
            ],
            checks: [
                { eval_time: "6m", alertname: "OffsiteWalStale", exp_alerts: [] },
                {
                    eval_time: "8m",
                    alertname: "OffsiteWalStale",
                    exp_alerts: [
                        {
                            exp_labels: { ...copy, ...walRule.labels },
                            exp_annotations: annotations(
                                walRule,
                                `Stack ${stack}'s pgBackRest repository (base backups and WAL) has not been shipped off-site to sftp://backup@10.0.0.9/srv/opsbook within its bound: the last shipment is 4m 25s old. A loss of this host now would lose the writes made since.`,
                            ),
                        },
                    ],
                },
            ],
        });
        cases.push({
            name: "a backup gone stale, another never verified",
            input: [
                // Fresh for 5 minutes (age 20 h), then the agent's verdict turns (age past 48 h).
                { series: series("opsbook_backup_target_fresh", db), values: "1x20 0x40" },
                { series: series("opsbook_backup_last_verified_age_seconds", db), values: "72000x20 180000x40" },
                { series: series("opsbook_backup_target_fresh", fresh), values: "1x60" },
                { series: series("opsbook_backup_last_verified_age_seconds", fresh), values: "3600x60" },
                { series: series("opsbook_backup_target_fresh", never), values: "0x60" },
            ],
            checks: [
                { eval_time: "9m", alertname: "BackupStale", exp_alerts: [] },
                {
                    eval_time: "16m",
                    alertname: "BackupStale",
                    exp_alerts: [
                        {
                            exp_labels: { ...db, ...rule.labels },
                            exp_annotations: annotations(rule, `No verified backup of postgres:app in stack ${stack} within two schedule periods: the last was verified 2d 2h 0m 0s ago.`),
                        },
                        {
                            exp_labels: { ...never, ...rule.labels },
                            exp_annotations: annotations(rule, `No verified backup of sqlite:/data/new.db in stack ${stack} within two schedule periods: none has been verified yet.`),
                        },
                    ],
                },
            ],
        });
    }
    if (plan.telegramWebhook) {
        const hook = plan.telegramWebhook;
        const exporter = { job: "telegram", instance: "monitoring-telegram-webhook:9102", service: hook.service, stack };
        const [failedRule, elsewhereRule, blindRule] = rules.filter((r) => r.alert === "TelegramWebhookFailing");
        const message = "Wrong response from the webhook: 503 Service Unavailable";
        cases.push({
            name: "Telegram failing to deliver to the webhook",
            input: [
                // No error for 5 minutes; then Telegram reports one at 300 s (Unix time, as getWebhookInfo gives it).
                { series: series("opsbook_telegram_webhook_last_error_timestamp_seconds", exporter), values: "0x20 300x40" },
                { series: series("opsbook_telegram_webhook_last_error_info", { ...exporter, message }), values: "_x20 1x40" },
            ],
            checks: [
                { eval_time: "4m", alertname: "TelegramWebhookFailing", exp_alerts: [] },
                {
                    eval_time: "6m",
                    alertname: "TelegramWebhookFailing",
                    exp_alerts: [
                        {
                            exp_labels: { ...exporter, message, ...failedRule.labels },
                            exp_annotations: annotations(
                                failedRule,
                                `Telegram could not deliver an update to ${hook.service} of stack ${stack} (1m 0s ago): "${message}". Updates wait at Telegram and are retried; past 24 hours they are lost.`,
                            ),
                        },
                    ],
                },
                // No new error within the window: resolved.
                { eval_time: `${Math.ceil((300 + t.webhookErrorWindowSeconds) / 60) + 1}m`, alertname: "TelegramWebhookFailing", exp_alerts: [] },
            ],
        });
        cases.push({
            name: "the webhook deleted at Telegram",
            input: [
                { series: series("opsbook_telegram_webhook_url_set", exporter), values: "1x20 0x40" },
                { series: series("opsbook_telegram_webhook_url_expected", exporter), values: "1x20 0x40" },
            ],
            checks: [
                { eval_time: "5m30s", alertname: "TelegramWebhookFailing", exp_alerts: [] },
                {
                    eval_time: "7m",
                    alertname: "TelegramWebhookFailing",
                    exp_alerts: [
                        {
                            exp_labels: { ...exporter, ...elsewhereRule.labels },
                            exp_annotations: annotations(elsewhereRule, `The bot's webhook at Telegram is not stack ${stack}'s ${hook.url}: no webhook is set, so updates do not reach ${hook.service}.`),
                        },
                    ],
                },
            ],
        });
        cases.push({
            name: "Telegram not telling (a revoked token)",
            input: [{ series: series("opsbook_telegram_webhook_info_up", exporter), values: "1x20 0x40" }],
            checks: [
                { eval_time: "9m", alertname: "TelegramWebhookFailing", exp_alerts: [] },
                {
                    eval_time: "11m",
                    alertname: "TelegramWebhookFailing",
                    exp_alerts: [
                        {
                            exp_labels: { ...exporter, ...blindRule.labels },
                            exp_annotations: annotations(
                                blindRule,
                                `Telegram does not tell stack ${stack} the state of ${hook.service}'s webhook (getWebhookInfo failed for 5 minutes): a revoked bot token, or ${hook.apiBaseUrl} unreachable from the stack.`,
                            ),
                        },
                    ],
                },
            ],
        });
    }
    const blackbox = { job: "monitoring", instance: "monitoring-blackbox:9115", service: "blackbox-exporter", stack };
    const blind = find("MonitoringTargetDown");
    cases.push({
        name: "monitoring blind",
        input: [{ series: series("up", blackbox), values: "1x20 0x20" }],
        checks: [
            { eval_time: "5m30s", alertname: "MonitoringTargetDown", exp_alerts: [] },
            {
                eval_time: "7m",
                alertname: "MonitoringTargetDown",
                exp_alerts: [{ exp_labels: { ...blackbox, ...blind.labels }, exp_annotations: annotations(blind, `Monitoring of stack ${stack} is partly blind: Prometheus cannot scrape blackbox-exporter (monitoring-blackbox:9115).`) }],
            },
        ],
    });
    return cases;
}

/** Runs promtool on the plan's rules and cases; returns its output, failing with it on a failed case. */
function promtool(plan: MonitoringPlan, cases: Case[]): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-promtool-"));
    try {
        fs.writeFileSync(path.join(dir, "rules.yml"), JSON.stringify(alertRules(plan), null, 2));
        const tests = {
            rule_files: ["rules.yml"],
            evaluation_interval: `${plan.settings.scrapeIntervalSeconds}s`,
            tests: cases.map((c) => ({ name: c.name, interval: "15s", input_series: c.input, alert_rule_test: c.checks })),
        };
        fs.writeFileSync(path.join(dir, "tests.yml"), JSON.stringify(tests, null, 2));
        fs.chmodSync(dir, 0o755);
        for (const f of fs.readdirSync(dir)) {
            fs.chmodSync(path.join(dir, f), 0o644);
        }
        try {
            return execFileSync("docker", ["run", "--rm", "--network", "none", "-v", `${dir}:/rules:ro`, "-w", "/rules", monitoringImage(), "promtool", "test", "rules", "tests.yml"], {
                encoding: "utf8",
                stdio: "pipe",
            });
        } catch (err) {
            const e = err as { stdout?: string; stderr?: string; message: string };
            assert.fail(`promtool test rules failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Runs a command in the monitoring image with `files` mounted at /etc/opsbook; returns its output or fails with it. */
function inImage(files: Record<string, object>, command: string[]): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-monitoring-config-"));
    try {
        for (const [name, content] of Object.entries(files)) {
            fs.writeFileSync(path.join(dir, name), JSON.stringify(content, null, 2), { mode: 0o644 });
        }
        fs.chmodSync(dir, 0o755);
        return execFileSync("docker", ["run", "--rm", "--network", "none", "-v", `${dir}:/etc/opsbook:ro`, monitoringImage(), ...command], { encoding: "utf8", stdio: "pipe" });
    } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        assert.fail(`${command.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

describe("the config files as the tools themselves read them, for every preset", () => {
    for (const preset of Object.keys(PRESETS)) {
        it(`${preset}: promtool checks prometheus.yml with its rules, the blackbox exporter and amtool their configs`, () => {
            const plan = planOf(preset);
            const base = (p: string) => path.posix.basename(p);
            const out = inImage(
                {
                    [base(CONFIG_PATHS.prometheus)]: prometheusConfig(plan),
                    [base(CONFIG_PATHS.rules)]: alertRules(plan),
                    [base(CONFIG_PATHS.blackbox)]: blackboxConfig(plan),
                    "alertmanager.yml": alertmanagerConfig(plan, {
                        telegram: { apiUrl: "https://api.telegram.org", botToken: "7000000001:AAF4x9Qd2LkVb8Zp1Rt6Yw3Hn5Jm7Kc0Ue", chatId: "-1001234567890" },
                        webhook: { url: "https://alerts.example.net/opsbook" },
                    }),
                },
                [
                    "sh",
                    "-c",
                    `promtool check config ${CONFIG_PATHS.prometheus} && prometheus-blackbox-exporter --config.check --config.file=${CONFIG_PATHS.blackbox} 2>&1 && amtool check-config /etc/opsbook/alertmanager.yml`,
                ],
            );
            assert.match(out, /is valid prometheus config file syntax/);
            assert.match(out, /Config file is ok/);
            assert.match(out, /Checking '\/etc\/opsbook\/alertmanager.yml'\s+SUCCESS/);
        });
    }
});

describe("alert rules under promtool, for every preset", () => {
    for (const preset of Object.keys(PRESETS)) {
        it(`${preset}: every alert fires after its threshold, with stack, service, summary and runbook`, () => {
            const plan = planOf(preset);
            const cases = casesFor(plan);
            const out = promtool(plan, cases);
            assert.match(out, /SUCCESS/);
            // The cases cover every rule the preset has.
            const rules = alertRules(plan).groups.flatMap((g) => g.rules);
            const covered = new Set(cases.flatMap((c) => c.checks.map((k) => k.alertname)));
            assert.deepEqual([...new Set(rules.map((r) => r.alert))].filter((a) => !covered.has(a)), []);
        });
    }

    it("copy-trading: seed 001's four heartbeats, stale after its 2 minutes, each named", () => {
        const plan = planOf("copy-trading");
        assert.deepEqual(
            plan.heartbeats.map((h) => `${h.service}:${h.key}`),
            ["workers:worker:copy-trading:last-ping", "workers:worker:auto-claim:last-ping", "workers:worker:health-check:last-ping", "workers:worker:position-sync:last-ping"],
        );
        assert.equal(plan.settings.thresholds.heartbeatStaleSeconds, 120);
    });

    it("energy-trading: seed 004's METRICS_PORT is scraped from every task, and 5xx over seed 002's 10 a minute alert", () => {
        const plan = planOf("energy-trading");
        assert.deepEqual(plan.metrics, [{ service: "api", tasksName: "tasks.opsbook-unit-api", port: 9100 }]);
        assert.equal(plan.settings.thresholds.errorsPerMinute, 10);
    });

    it("checks published services through the gateway (the users' path) and unpublished ones directly", () => {
        const plan = planOf("prediction-market", { services: { orderbook: { publish: false } } });
        const listen = listenPorts(["backend", "frontend", ...MONITORING_ENDPOINTS]);
        assert.deepEqual(plan.health, [
            { service: "backend", url: `http://gateway:${listen.backend}/health` },
            { service: "frontend", url: `http://gateway:${listen.frontend}/health` },
            { service: "orderbook", url: "http://orderbook:8080/" },
        ]);
    });

    it("takes thresholds from the spec: a stack's own numbers reach the rules and promtool agrees", () => {
        const plan = planOf("signal-bot", { monitoring: { thresholds: { serviceDownSeconds: 30, probeTimeoutSeconds: 2 } } });
        const down = alertRules(plan).groups.flatMap((g) => g.rules).find((r) => r.alert === "ServiceDown")!;
        assert.equal(down.for, "30s");
        assert.match(promtool(plan, casesFor(plan)), /SUCCESS/);
    });

    it("watches the disk of the engine's volumes on every node, and a backup location on a host directory; disk over 85 % by default", () => {
        const plan = planOf("market-watchdog");
        assert.deepEqual(plan.disks, [{ name: "volumes", hostPath: "/var/lib/docker/volumes" }]);
        assert.equal(plan.nodeExporterTasks, "tasks.opsbook-unit-monitoring-node-exporter");
        assert.equal(plan.settings.thresholds.diskUsedPercent, 85);
        const spec = parseSpec(applyPreset({ preset: "market-watchdog", backups: { location: "/srv/backups" }, monitoring: { engineDataRoot: "/data/docker/" } }));
        // The spec's data root wins over the one the engine reports.
        assert.deepEqual(monitoringPlan(spec, IDENTITY, {}, "/var/lib/docker").disks, [
            { name: "volumes", hostPath: "/data/docker/volumes" },
            { name: "backups", hostPath: "/srv/backups" },
        ]);
        const reported = monitoringPlan(parseSpec(applyPreset({ preset: "market-watchdog" })), IDENTITY, {}, "/srv/engine");
        assert.deepEqual(reported.disks, [{ name: "volumes", hostPath: "/srv/engine/volumes" }]);
        const cases = casesFor(monitoringPlan(spec, IDENTITY, {}));
        assert.match(promtool(monitoringPlan(spec, IDENTITY, {}), cases), /SUCCESS/);
    });

    it("signal-bot with its Telegram webhook: seed 000's last error, a webhook that is not the stack's, and Telegram not telling, under promtool", () => {
        const overrides = { telegram: { webhook: { service: "app", publicUrl: "https://bot.example.net" } } };
        const plan = planOf("signal-bot", overrides);
        assert.deepEqual(plan.telegramWebhook, {
            service: "app",
            url: "https://bot.example.net/webhook/telegram",
            apiBaseUrl: "https://api.telegram.org",
            exporterService: "opsbook-unit-monitoring-telegram-webhook",
        });
        assert.equal(planOf("signal-bot").telegramWebhook, undefined, "no webhook, no exporter");
        const rules = alertRules(plan).groups.flatMap((g) => g.rules).filter((r) => r.alert === "TelegramWebhookFailing");
        assert.equal(rules.length, 3);
        assert.ok(rules.every((r) => r.labels.service === "app" && !r.expr.includes("bot.example.net")));
        // The window comes from the spec.
        const shortWindow = planOf("signal-bot", { ...overrides, monitoring: { thresholds: { webhookErrorWindowSeconds: 120 } } });
        assert.match(alertRules(shortWindow).groups.flatMap((g) => g.rules).find((r) => r.alert === "TelegramWebhookFailing")!.expr, /< 120\)$/);
        for (const p of [plan, shortWindow]) {
            const cases = casesFor(p);
            assert.ok(cases.some((c) => c.name === "the webhook deleted at Telegram"));
            assert.match(promtool(p, cases), /SUCCESS/);
        }
        // The scrape job asks Telegram through the exporter, never with the token in a URL.
        const job = (prometheusConfig(plan) as { scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[] }).scrape_configs.find((j) => j.job_name === "telegram");
        assert.deepEqual(job?.static_configs?.[0].targets, ["monitoring-telegram-webhook:9102"]);
        const base = (f: string) => path.posix.basename(f);
        const out = inImage({ [base(CONFIG_PATHS.prometheus)]: prometheusConfig(plan), [base(CONFIG_PATHS.rules)]: alertRules(plan) }, ["promtool", "check", "config", CONFIG_PATHS.prometheus]);
        assert.match(out, /is valid prometheus config file syntax/);
    });

    it("labels every alert with the stack and points its runbook at a README section of that name", () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        for (const preset of Object.keys(PRESETS)) {
            for (const rule of alertRules(planOf(preset)).groups.flatMap((g) => g.rules)) {
                assert.equal(rule.labels.stack, "unit", `${preset} ${rule.alert}`);
                // The two about whatever series matched take `service` from the series (the task's, or the scraped part's).
                assert.ok(rule.labels.service !== undefined || ["MonitoringTargetDown", "MemoryNearLimit"].includes(rule.alert), `${preset} ${rule.alert} has no service label`);
                assert.deepEqual(Object.keys(rule.annotations).sort(), ["action", "runbook", "summary"]);
                assert.equal(rule.annotations.runbook, `README.md#${rule.alert.toLowerCase()}`);
            }
        }
        for (const alert of ALERTS) {
            assert.match(readme, new RegExp(`^#### ${alert}$`, "m"), `README.md has no section for ${alert}`);
        }
    });
});
