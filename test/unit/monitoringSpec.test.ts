// The monitoring part of the spec and what it turns into, without an engine: receivers refused
// without their secrets (before anything is registered), the receiver secrets accepted as config
// keys, Alertmanager's and Prometheus's config from the plan, and no secret where it must not be.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { listenPorts } from "../../components/gateway";
import { NOTIFICATION_TEMPLATE, alertmanagerConfig, prometheusConfig } from "../../components/monitoring/configFiles";
import { MONITORING_ENDPOINTS, monitoringPlan } from "../../components/monitoring/plan";
import { alertRules } from "../../components/monitoring/rules";
import { receiverProblems } from "../../components/monitoring/settings";
import { SpecError, configKeyProblems, parseSpec } from "../../components/spec";
import { applyPreset } from "../../presets";
import { setRecordingMocks } from "./mocks";
import { specProblems } from "./specProblems";

const IDENTITY = { project: "opsbook", stack: "staging" };
const TOKEN = "7123456789:AAabcdefghijklmnopqrstuvwxyz0123456";

describe("monitoring spec", () => {
    it("is on by default with the runbooks' thresholds and no receiver", () => {
        const spec = parseSpec(applyPreset({ preset: "copy-trading" }));
        assert.equal(spec.monitoring.enabled, true);
        assert.deepEqual(spec.monitoring.thresholds, { serviceDownSeconds: 60, probeTimeoutSeconds: 5, heartbeatStaleSeconds: 120, errorsPerMinute: 10, databaseDownSeconds: 60, diskUsedPercent: 85, memoryPercent: 80, webhookErrorWindowSeconds: 600 });
        assert.deepEqual(spec.monitoring.receivers, {});
        assert.equal(spec.images.monitoring, "opsbook/monitoring:1");
    });

    it("refuses an unknown monitoring key, heartbeats without Redis, and a service named like a monitoring endpoint", () => {
        assert.deepEqual(specProblems({ monitoring: { treshold: {} }, services: { api: {} } }), [
            "`opsbook:monitoring`: unknown key(s) `treshold`; remove them or check the spelling against the README's spec keys",
        ]);
        assert.deepEqual(specProblems({ redis: { enabled: false }, services: { w: { kind: "worker", heartbeats: ["worker:w:last-ping"] } } }), [
            "`opsbook:services.w.heartbeats` are Redis keys, but the service does not use Redis; add `redis` to its `uses` (with `redis.enabled: true`) or remove `heartbeats`",
        ]);
        assert.deepEqual(specProblems({ services: { prometheus: {} } }), [
            "`opsbook:services.prometheus` is the name the gateway publishes the stack's prometheus under while `monitoring.enabled` is true; rename the service",
        ]);
        assert.deepEqual(specProblems({ monitoring: { enabled: false }, services: { prometheus: {} } }), []);
    });

    it("accepts the receivers' secrets as config keys only while a receiver names them", () => {
        const spec = parseSpec({ monitoring: { receivers: { telegram: {} } }, services: { api: {} } });
        assert.deepEqual(configKeyProblems(["opsbook:ALERT_TELEGRAM_BOT_TOKEN", "opsbook:ALERT_TELEGRAM_CHAT_ID"], spec), []);
        const without = parseSpec({ services: { api: {} } });
        assert.match(configKeyProblems(["opsbook:ALERT_TELEGRAM_BOT_TOKEN"], without)[0], /no service declares `secretEnv.ALERT_TELEGRAM_BOT_TOKEN`/);
    });
});

describe("receivers and their secrets: the rule config.ts and the policy share", () => {
    it("names every missing secret with its receiver and the command that sets it", () => {
        assert.deepEqual(receiverProblems({ webhook: { ALERT_WEBHOOK_URL: "missing" } }, false), [
            "`opsbook:monitoring.receivers.webhook` needs the secret `ALERT_WEBHOOK_URL`, which is not set; run `pulumi config set --secret ALERT_WEBHOOK_URL` and paste the value at the prompt, or remove the receiver",
        ]);
        assert.deepEqual(receiverProblems({}, false), []);
        assert.equal(receiverProblems({}, true).length, 1);
    });

    it("config.ts refuses a receiver without its secrets, a plain-text token and a chat id that is no number, before anything is registered", async () => {
        const registered = setRecordingMocks();
        const { readStackSettings } = await import("../../config");
        const base = { "opsbook:preset": "copy-trading", "opsbook:monitoring": JSON.stringify({ receivers: { telegram: {} } }) };
        pulumi.runtime.setAllConfig(base, []);
        assert.throws(readStackSettings, (err: unknown) => {
            assert.ok(err instanceof SpecError);
            assert.deepEqual(
                err.problems.map((p) => p.split(",")[0]),
                ["`opsbook:monitoring.receivers.telegram` needs the secret `ALERT_TELEGRAM_BOT_TOKEN`", "`opsbook:monitoring.receivers.telegram` needs the secret `ALERT_TELEGRAM_CHAT_ID`"],
            );
            return true;
        });
        pulumi.runtime.setAllConfig({ ...base, "opsbook:ALERT_TELEGRAM_BOT_TOKEN": TOKEN, "opsbook:ALERT_TELEGRAM_CHAT_ID": "@mychannel" }, ["opsbook:ALERT_TELEGRAM_CHAT_ID"]);
        assert.throws(readStackSettings, (err: unknown) => {
            assert.ok(err instanceof SpecError);
            assert.equal(err.problems.length, 2);
            assert.match(err.problems[0], /`opsbook:ALERT_TELEGRAM_BOT_TOKEN` is a secret but is stored in plain text/);
            assert.match(err.problems[1], /`opsbook:ALERT_TELEGRAM_CHAT_ID` \(the chat of `opsbook:monitoring.receivers.telegram`\) must be a numeric chat id/);
            assert.ok(!err.message.includes(TOKEN) && !err.message.includes("@mychannel"), "a value reached the message");
            return true;
        });
        assert.deepEqual(registered, []);
    });
});

describe("config files from the plan", () => {
    const spec = parseSpec(applyPreset({ preset: "copy-trading", telegram: { apiBaseUrl: "http://172.18.0.1:4000/" } }));
    const plan = monitoringPlan(spec, IDENTITY, listenPorts(["api", "web", ...MONITORING_ENDPOINTS]));

    it("Alertmanager: Telegram through the configured Bot API, chat id as a number, grouped per stack, resolved messages too", () => {
        const config = alertmanagerConfig(plan, { telegram: { apiUrl: spec.telegram.apiBaseUrl, botToken: TOKEN, chatId: "-1001234567890" }, webhook: { url: "https://hooks.example.net/x" } }) as any;
        assert.deepEqual(config.route, { receiver: "team", group_by: ["stack"], group_wait: "30s", group_interval: "5m", repeat_interval: "4h" });
        assert.deepEqual(config.receivers[0].telegram_configs, [
            { api_url: "http://172.18.0.1:4000", bot_token: TOKEN, chat_id: -1001234567890, parse_mode: "", message: NOTIFICATION_TEMPLATE, send_resolved: true },
        ]);
        assert.deepEqual(config.receivers[0].webhook_configs, [{ url: "https://hooks.example.net/x", send_resolved: true }]);
        // Without receivers, alerts are kept (and visible in Alertmanager) but sent nowhere.
        assert.deepEqual((alertmanagerConfig(plan, {}) as any).receivers, [{ name: "team" }]);
    });

    it("Prometheus: health checks through the blackbox exporter to the gateway, heartbeats and Redis through its exporter, Postgres by TCP", () => {
        const config = prometheusConfig(plan) as any;
        const jobs = Object.fromEntries(config.scrape_configs.map((j: any) => [j.job_name, j]));
        assert.deepEqual(Object.keys(jobs), ["health", "postgres", "redis", "node", "memory", "backup", "monitoring"]);
        const listen = listenPorts(["api", "web", ...MONITORING_ENDPOINTS]);
        assert.deepEqual(jobs.health.static_configs, [
            { targets: [`http://gateway:${listen.api}/health`], labels: { stack: "staging", service: "api" } },
            { targets: [`http://gateway:${listen.web}/health`], labels: { stack: "staging", service: "web" } },
        ]);
        assert.deepEqual(jobs.postgres.static_configs[0].targets, ["postgres:5432"]);
        // Every node's exporter, by the engine's DNS of the global service.
        assert.deepEqual(jobs.node.dns_sd_configs[0].names, ["tasks.opsbook-staging-monitoring-node-exporter"]);
        assert.deepEqual(config.alerting.alertmanagers[0].static_configs[0].targets, ["monitoring-alertmanager:9093"]);
    });

    it("the rules and Prometheus's config hold no secret: nothing from the receivers reaches them", () => {
        // The plan is built from the spec alone; the receivers' values exist only in alertmanager.yml.
        const text = JSON.stringify([plan, alertRules(plan), prometheusConfig(plan)]);
        for (const value of [TOKEN, "-1001234567890", "hooks.example.net"]) {
            assert.ok(!text.includes(value));
        }
        assert.ok(!text.includes("redis://:"), "a Redis URL with a password");
    });
});
