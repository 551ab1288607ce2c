// Issue 11 with the real engines: a stack with monitoring on (short thresholds) sends its alerts
// to the project's fake Bot API through Alertmanager's own Telegram receiver. The fake listens on
// the address swarm tasks reach this machine at (the docker_gwbridge gateway), since Alertmanager
// runs inside the stack. Stopping the api out of band (scaled to 0) must bring a "down" message
// naming the stack, the service and what to do, then "resolved" once it is back; stopping the
// workers must bring "heartbeat stale" the same way. The generic webhook receiver gets the same
// notifications as Alertmanager's JSON. The api's Telegram webhook is registered with the same
// fake, and Telegram's state of it is watched: a delivery error the fake reports, and the webhook
// deleted behind the stack's back, each bring a "webhook failing" message, then "resolved".
// Wall time: about 8 minutes on 2 shared cores.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { FakeBotApi, SentMessage, fakeBotToken, startFakeBotApi } from "../fakes/telegramBotApi";
import { ROOT, TestStack, assertSecretsOnlyAsFiles, docker, httpGet, printed, requireEngines, run, waitFor } from "./harness";

const STAGING_POLICY = ["--policy-pack", "policies", "--policy-pack-config", "policies/config/staging.json"];
const CHAT_ID = "-1001234567890";
const HEARTBEAT = "worker:copy-trading:last-ping";
const WEBHOOK_URL = "https://bot.example.net/webhook/telegram";

/** The address this machine has on the bridge that gives swarm tasks their way out. */
async function addressTasksReach(): Promise<string> {
    const res = await docker("network", "inspect", "docker_gwbridge", "--format", "{{(index .IPAM.Config 0).Gateway}}");
    assert.equal(res.code, 0, `no docker_gwbridge network (is the engine a swarm manager? 'eval "$(npm run -s toolchain)"' makes it one): ${res.stderr}`);
    const address = res.stdout.trim();
    assert.match(address, /^\d+\.\d+\.\d+\.\d+$/, `docker_gwbridge has no IPv4 gateway: ${address}`);
    return address;
}

/** Alertmanager's webhook payload, as far as the test reads it. */
interface WebhookNotification {
    status: string;
    commonLabels: Record<string, string>;
    alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

/** A receiver of Alertmanager's generic webhook on `host`: records every JSON body POSTed to /alerts. */
async function startWebhookReceiver(host: string): Promise<{ url: string; received: { at: number; body: WebhookNotification }[]; close(): Promise<void> }> {
    const received: { at: number; body: WebhookNotification }[] = [];
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            if (req.method === "POST" && req.url === "/alerts") {
                received.push({ at: Date.now(), body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as WebhookNotification });
            }
            res.writeHead(req.url === "/alerts" ? 200 : 404);
            res.end();
        });
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, host, resolve);
    });
    const { port } = server.address() as AddressInfo;
    return { url: `http://${host}:${port}/alerts`, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("monitoring: alerts reach Telegram (a fake Bot API) and resolve", { timeout: 30 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-mon");
    const token = fakeBotToken();
    /** The api's own bot (its TELEGRAM_BOT_TOKEN), whose webhook the stack registers and watches. */
    const hookToken = fakeBotToken();
    let api: FakeBotApi;
    let webhook: Awaited<ReturnType<typeof startWebhookReceiver>>;
    let services: Record<string, string> = {};

    /** Messages to our chat that arrived after `since` and match `pattern`. */
    const messagesSince = (since: number, pattern: RegExp): SentMessage[] => api.messages.filter((m) => m.at >= since && m.chatId === CHAT_ID && pattern.test(m.text));
    const scale = async (service: string, replicas: number) => {
        const res = await docker("service", "scale", "--detach", `${services[service]}=${replicas}`);
        assert.equal(res.code, 0, res.stderr);
    };

    before(async () => {
        requireEngines();
        const host = await addressTasksReach();
        api = await startFakeBotApi({ host });
        api.addBot(token);
        api.addBot(hookToken);
        webhook = await startWebhookReceiver(host);
        await stack.init(
            [
                "config:",
                "  opsbook:postgres: {enabled: false}",
                "  opsbook:telegram:",
                `    apiBaseUrl: ${api.baseUrl}`,
                "    webhook: {service: api, publicUrl: https://bot.example.net}",
                "  opsbook:monitoring:",
                "    scrapeIntervalSeconds: 3",
                "    thresholds: {serviceDownSeconds: 6, probeTimeoutSeconds: 2, heartbeatStaleSeconds: 20, webhookErrorWindowSeconds: 30}",
                "    grouping: {waitSeconds: 1, intervalSeconds: 2, repeatHours: 1}",
                "    receivers: {telegram: {}, webhook: {}}",
                "  opsbook:services:",
                "    api:",
                "      kind: http",
                "      env: {APP_ROLE: api}",
                "      secretEnv: {TELEGRAM_BOT_TOKEN: config, TELEGRAM_WEBHOOK_SECRET: generated}",
                "      uses: [redis]",
                "    workers:",
                "      kind: worker",
                "      singleInstance: always",
                "      env: {APP_ROLE: worker, WORKER_NAMES: copy-trading}",
                "      uses: [redis]",
                `      heartbeats: ["${HEARTBEAT}"]`,
                "",
            ].join("\n"),
        );
    });

    after(async () => {
        await stack.dispose();
        await api?.close();
        await webhook?.close();
    });

    it("refuses a Telegram receiver whose secrets are not set, naming both keys, before anything is created", async () => {
        const res = await stack.pulumi(["preview", "--non-interactive"]);
        assert.notEqual(res.code, 0, "preview passed without the receiver's secrets");
        const text = res.stdout + res.stderr;
        for (const [receiver, key] of [
            ["telegram", "ALERT_TELEGRAM_BOT_TOKEN"],
            ["telegram", "ALERT_TELEGRAM_CHAT_ID"],
            ["webhook", "ALERT_WEBHOOK_URL"],
        ]) {
            assert.match(text, new RegExp(`\`opsbook:monitoring\\.receivers\\.${receiver}\` needs the secret \`${key}\`, which is not set; run \`pulumi config set --secret ${key}\``));
        }
        assert.deepEqual(await stack.services(), [], "something was created");
    });

    it("deploys Prometheus, Alertmanager and the exporters, Prometheus and Alertmanager on 127.0.0.1 only", async () => {
        // On stdin, as a person pastes them at the prompt: never on a command line.
        for (const [key, value] of [
            ["ALERT_TELEGRAM_BOT_TOKEN", token],
            ["ALERT_TELEGRAM_CHAT_ID", CHAT_ID],
            ["ALERT_WEBHOOK_URL", webhook.url],
            ["TELEGRAM_BOT_TOKEN", hookToken],
        ]) {
            const set = await stack.pulumi(["config", "set", "--secret", key], value);
            assert.equal(set.code, 0, set.stderr);
        }
        const res = await stack.up(STAGING_POLICY);
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        assert.ok(!(res.stdout + res.stderr).includes(token), "the bot token was printed");
        assert.ok(!(res.stdout + res.stderr).includes(hookToken), "the webhook's bot token was printed");
        assert.equal(api.webhook(hookToken)?.url, WEBHOOK_URL, "the api's webhook was not registered");
        const outputs = await stack.outputs();
        services = { ...outputs.services, ...outputs.monitoring.services };
        assert.match(outputs.monitoring.prometheus, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.match(outputs.monitoring.alertmanager, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.deepEqual(outputs.monitoring.receivers, ["telegram", "webhook"]);
        assert.deepEqual(Object.keys(outputs.endpoints), ["api"], "Prometheus and Alertmanager are not app endpoints");
        assert.equal((await httpGet(`${outputs.monitoring.alertmanager}/-/ready`)).status, 200);
        const rules = await waitFor("Prometheus's rules", 60, () => httpGet(`${outputs.monitoring.prometheus}/api/v1/rules`), (r) => r.status === 200);
        const names = rules.body.data.groups.flatMap((g: { rules: { name: string; labels: Record<string, string> }[] }) => g.rules.map((r) => `${r.name}/${r.labels.service ?? "*"}`));
        assert.deepEqual(names.sort(), [
            "DiskSpaceLow/node-exporter",
            "HeartbeatStale/workers",
            "MemoryNearLimit/*",
            "MonitoringTargetDown/*",
            "RedisUnreachable/redis",
            "ServiceDown/api",
            "TelegramWebhookFailing/api",
            "TelegramWebhookFailing/api",
            "TelegramWebhookFailing/api",
        ]);
        // Every target answers: the api through the gateway, Redis through its exporter, the webhook's exporter, the monitoring services themselves.
        await waitFor("every scrape target up", 90, () => httpGet(`${outputs.monitoring.prometheus}/api/v1/targets`), (r) => {
            const active: { health: string; labels: Record<string, string> }[] = r.body?.data?.activeTargets ?? [];
            return active.length >= 8 && active.some((t) => t.labels.job === "telegram") && active.every((t) => t.health === "up");
        });
        // The node exporter sees the filesystem that holds the engine's volumes as this machine does.
        const volumesDir = `${(await docker("info", "--format", "{{.DockerRootDir}}")).stdout.trim()}/volumes`;
        const query = (expr: string) => httpGet(`${outputs.monitoring.prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`);
        const sizeSeries = await waitFor("the volumes' filesystem size", 60, () => query('node_filesystem_size_bytes{job="node",mountpoint="/host/volumes"}'), (r) => (r.body?.data?.result ?? []).length === 1);
        const seen = sizeSeries.body.data.result[0];
        const here = fs.statfsSync(volumesDir);
        assert.equal(Number(seen.value[1]), here.blocks * here.bsize, `the exporter's ${volumesDir} is not this machine's filesystem`);
        const nodeName = (await docker("info", "--format", "{{.Name}}")).stdout.trim();
        const uname = await query('node_uname_info{job="node"}');
        assert.equal(uname.body.data.result[0]?.metric.nodename, nodeName, "the exporter does not name its node");
        // Each task's memory against its limit: the api's limit as the engine has it, its working set as the kernel counts it.
        const limit = await query(`opsbook_task_memory_limit_bytes{service="api"}`);
        const engineLimit = (await docker("service", "inspect", "--format", "{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}", services.api)).stdout.trim();
        assert.equal(limit.body.data.result[0]?.value[1], engineLimit, "the api's memory limit is not the engine's");
        const workingSet = await query(`opsbook_task_memory_working_set_bytes{service="api"}`);
        const used = Number(workingSet.body.data.result[0]?.value[1]);
        assert.ok(used > 1024 * 1024 && used < Number(engineLimit), `the api's working set is ${used} bytes`);
        const tasks = await query(`count(opsbook_task_memory_working_set_bytes{stack="${stack.name}"})`);
        stack.log(`task memory: ${tasks.body.data.result[0]?.value[1]} tasks reported; api ${Math.round(used / 1048576)} MiB of ${Math.round(Number(engineLimit) / 1048576)} MiB`);
        const monitoringServices = await docker("service", "ls", "--filter", `label=opsbook.stack=${stack.name}`, "--filter", "label=opsbook.component=monitoring", "--format", "{{.Name}} {{.Replicas}}");
        stack.log(`monitoring services:\n${monitoringServices.stdout}`);
        const stats = await docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}");
        stack.log(`memory:\n${stats.stdout.split("\n").filter((l) => l.includes(`${stack.name}-monitoring`)).join("\n")}`);
    });

    it("keeps both bot tokens, the chat id and Redis's password out of every container's env, command and labels", async () => {
        const files = await assertSecretsOnlyAsFiles(stack, [token, hookToken]);
        assert.ok(files >= 4, `only ${files} secret files checked`);
    });

    it("sends nothing while everything is healthy", async () => {
        // Two evaluation rounds past every threshold but the heartbeat's.
        await new Promise((r) => setTimeout(r, 12_000));
        assert.deepEqual(messagesSince(0, /FIRING/).map((m) => m.text), []);
    });

    it("the api stopped: a down message names the stack, the service and what to do; resolved once it is back", async () => {
        const stoppedAt = Date.now();
        await scale("api", 0);
        const [firing] = await waitFor("a FIRING ServiceDown message", 120, async () => messagesSince(stoppedAt, /FIRING ServiceDown - service api/), (m) => m.length > 0);
        stack.log(`down message after ${Math.round((firing.at - stoppedAt) / 1000)}s:\n${firing.text}`);
        assert.equal(firing.token, token);
        assert.equal(firing.parseMode, undefined, "plain text: nothing in a summary needs escaping");
        assert.match(firing.text, new RegExp(`^FIRING - stack ${stack.name}: 1 firing, 0 resolved`));
        assert.match(firing.text, new RegExp(`api of stack ${stack.name} is down: its health check http://gateway:\\d+/health (answered HTTP 5\\d\\d|got no answer)`));
        assert.match(firing.text, new RegExp(`What to do: See why its tasks fail: \`docker service ps ${services.api}\``));
        assert.match(firing.text, /Runbook: README\.md#servicedown/);

        // `opsbook status` says so too, and exits non-zero while it fires (for a cron job or CI).
        const status = await run("node", [path.join(ROOT, "cli", "opsbook.js"), "status", "--json", "--stack", stack.name], { env: stack.env });
        stack.log(`opsbook status while the api is down: exit ${status.code}`);
        assert.equal(status.code, 5, `opsbook status exited ${status.code} while ServiceDown fired:\n${status.stdout}\n${status.stderr}`);
        const reported = JSON.parse(status.stdout) as { healthy: boolean; monitoring: string; firingAlerts: { alert: string; service?: string }[]; backups?: { ok: boolean } };
        assert.equal(reported.healthy, false);
        assert.equal(reported.monitoring, "on");
        assert.ok(reported.firingAlerts.some((a) => a.alert === "ServiceDown" && a.service === "api"), JSON.stringify(reported.firingAlerts));

        const backAt = Date.now();
        await scale("api", 1);
        const [resolved] = await waitFor("a RESOLVED ServiceDown message", 180, async () => messagesSince(backAt, /RESOLVED ServiceDown - service api/), (m) => m.length > 0);
        stack.log(`resolved message after ${Math.round((resolved.at - backAt) / 1000)}s:\n${resolved.text}`);
        assert.match(resolved.text, new RegExp(`^RESOLVED - stack ${stack.name}: 0 firing, 1 resolved`));

        // The webhook got the same two notifications, as Alertmanager's JSON.
        const hooks = webhook.received.filter((n) => n.at >= stoppedAt && n.body.alerts.some((a) => a.labels.alertname === "ServiceDown" && a.labels.service === "api"));
        const firingHook = hooks.find((n) => n.body.status === "firing");
        assert.ok(firingHook, `no firing notification at the webhook: ${JSON.stringify(webhook.received.map((n) => n.body.status))}`);
        assert.equal(firingHook.body.commonLabels.stack, stack.name);
        assert.equal(firingHook.body.alerts[0].annotations.runbook, "README.md#servicedown");
        await waitFor(
            "a resolved notification at the webhook",
            30,
            async () => webhook.received.filter((n) => n.at >= backAt && n.body.status === "resolved"),
            (list) => list.some((n) => n.body.alerts.some((a) => a.labels.service === "api" && a.status === "resolved")),
        );
    });

    it("the workers stopped: a heartbeat-stale message after the threshold; resolved once they write again", async () => {
        const stoppedAt = Date.now();
        await scale("workers", 0);
        const [firing] = await waitFor("a FIRING HeartbeatStale message", 150, async () => messagesSince(stoppedAt, /FIRING HeartbeatStale - service workers/), (m) => m.length > 0);
        const after = Math.round((firing.at - stoppedAt) / 1000);
        stack.log(`stale message after ${after}s:\n${firing.text}`);
        // The last beat was at most 10 s before the stop (the app's interval), the threshold is 20 s.
        assert.ok(after >= 9, `HeartbeatStale fired ${after}s after the stop, before the 20 s threshold could pass`);
        assert.match(firing.text, new RegExp(`workers of stack ${stack.name}: heartbeat ${HEARTBEAT} is stale \\(older than 20s\\): last written .* ago\\.`));
        assert.match(firing.text, /What to do: The worker has stopped or hangs/);
        assert.match(firing.text, /Runbook: README\.md#heartbeatstale/);

        const backAt = Date.now();
        await scale("workers", 1);
        const [resolved] = await waitFor("a RESOLVED HeartbeatStale message", 180, async () => messagesSince(backAt, /RESOLVED HeartbeatStale - service workers/), (m) => m.length > 0);
        stack.log(`resolved message after ${Math.round((resolved.at - backAt) / 1000)}s`);
    });

    it("Telegram fails to deliver to the api's webhook: a message quoting Telegram's error, resolved once no new error comes within the window", async () => {
        const prometheus = (await stack.outputs()).monitoring.prometheus as string;
        const query = (expr: string) => httpGet(`${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`);
        // The exporter sees the webhook the stack registered, asking with the api's bot token.
        await waitFor("the registered webhook seen as the stack's", 60, () => query('opsbook_telegram_webhook_url_expected{job="telegram"}'), (r) => r.body?.data?.result?.[0]?.value?.[1] === "1");
        assert.ok(api.callsOf("getWebhookInfo", hookToken).length > 0, "the exporter did not ask Telegram with the api's token");

        const failedAt = Date.now();
        const telegramWords = "Wrong response from the webhook: 503 Service Unavailable";
        api.tamper(hookToken, { lastErrorDate: Math.floor(failedAt / 1000), lastErrorMessage: telegramWords, pendingUpdateCount: 4 });
        const [firing] = await waitFor("a FIRING TelegramWebhookFailing message", 90, async () => messagesSince(failedAt, /FIRING TelegramWebhookFailing - service api/), (m) => m.length > 0);
        stack.log(`webhook message after ${Math.round((firing.at - failedAt) / 1000)}s:\n${firing.text}`);
        assert.equal(firing.token, token, "sent by the alerts' bot");
        assert.match(firing.text, new RegExp(`Telegram could not deliver an update to api of stack ${stack.name} \\(.* ago\\): "${telegramWords}"`));
        assert.match(firing.text, /What to do: Check the path Telegram takes/);
        assert.match(firing.text, /Runbook: README\.md#telegramwebhookfailing/);
        assert.ok(!firing.text.includes(hookToken), "the message holds the webhook's bot token");
        // No new error: the alert ends once the error is older than the 30 s window.
        const [resolved] = await waitFor("a RESOLVED TelegramWebhookFailing message", 120, async () => messagesSince(failedAt, /RESOLVED TelegramWebhookFailing - service api/), (m) => m.length > 0);
        stack.log(`resolved ${Math.round((resolved.at - failedAt) / 1000)}s after the error`);
        assert.ok(resolved.at - failedAt >= 30_000, `resolved ${resolved.at - failedAt} ms after the error, inside the 30 s window`);
    });

    it("the webhook deleted behind the stack's back: a message saying none is set; resolved once the stack's URL is back", async () => {
        const deletedAt = Date.now();
        api.tamper(hookToken, { url: "" });
        const [firing] = await waitFor("a FIRING message about the missing webhook", 150, async () => messagesSince(deletedAt, /FIRING TelegramWebhookFailing - service api/), (m) => m.length > 0);
        stack.log(`missing-webhook message after ${Math.round((firing.at - deletedAt) / 1000)}s`);
        assert.match(firing.text, new RegExp(`The bot's webhook at Telegram is not stack ${stack.name}'s ${WEBHOOK_URL}: no webhook is set, so updates do not reach api\\.`));
        assert.match(firing.text, /pulumi up --refresh/);

        const backAt = Date.now();
        api.tamper(hookToken, { url: WEBHOOK_URL });
        await waitFor("a RESOLVED message once the URL is back", 120, async () => messagesSince(backAt, /RESOLVED TelegramWebhookFailing - service api/), (m) => m.length > 0);
    });
});
