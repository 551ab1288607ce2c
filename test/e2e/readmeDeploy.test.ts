// The README's first command as a new user meets it: `npm run deploy` (scripts/deploy.sh) of the
// committed staging config, copied under a test stack's name, into an empty state
// backend with a passphrase no stack was made with before (a fresh machine generates its own).
// Until 2026-12-03 the committed Pulumi.staging.yaml carried the encryptionsalt of the machine it
// was written on, and this very command failed on any other one ("incorrect passphrase").
// Then what issue 11 asks of that staging stack: `opsbook status` says healthy and exits 0, and
// with its workers stopped it exits non-zero naming each stale heartbeat within the configured
// time (the runbook's 2 minutes, staging's default).
// Wall time: about 5 minutes on 2 shared cores.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT, TestStack, docker, httpGet, requireEngines, run, waitFor } from "./harness";

/** What `opsbook status --json` says, as far as this test reads it. */
interface ReportedStatus {
    healthy: boolean;
    monitoring: string;
    services: { name: string; running: number; desired: number }[];
    endpoints: { name: string; healthy: boolean }[];
    firingAlerts: { alert: string; service?: string; summary?: string }[];
}

/** Staging's heartbeat keys (the copy-trading preset's workers, seed 001). */
const STAGING_HEARTBEATS = ["worker:copy-trading:last-ping", "worker:position-sync:last-ping", "worker:auto-claim:last-ping", "worker:health-check:last-ping"];

describe("README: `npm run deploy` of the committed staging config on a fresh machine's state", { timeout: 20 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-readme");
    // deploy.sh takes policies/config/<stack>.json, else production's; this stack is staging's copy.
    const policyConfig = path.join(ROOT, "policies", "config", `${stack.name}.json`);

    const status = async (): Promise<{ code: number; reported: ReportedStatus }> => {
        const res = await run("node", [path.join(ROOT, "cli", "opsbook.js"), "status", "--json", "--stack", stack.name], { env: stack.env });
        assert.ok(res.stdout.trim().startsWith("{"), `opsbook status --json printed no JSON (exit ${res.code}):\n${res.stdout}\n${res.stderr}`);
        return { code: res.code, reported: JSON.parse(res.stdout) as ReportedStatus };
    };

    before(() => {
        requireEngines();
        // A checkout where staging was deployed holds that passphrase's salt (test/unit/stackFiles
        // checks that the committed file holds none); this stack starts as a fresh machine's would.
        const staging = fs.readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8").replace(/^encryptionsalt:.*\n?/m, "");
        fs.writeFileSync(stack.configFile, staging);
        fs.copyFileSync(path.join(ROOT, "policies", "config", "staging.json"), policyConfig);
    });

    after(async () => {
        await stack.dispose();
        fs.rmSync(policyConfig, { force: true });
    });

    it("deploys with the README's command and prints endpoints that answer", async () => {
        stack.log("npm run deploy");
        const res = await run("bash", ["scripts/deploy.sh", stack.name], { env: stack.env });
        stack.log(`npm run deploy exited ${res.code}`);
        assert.equal(res.code, 0, `npm run deploy failed:\n${res.stdout}\n${res.stderr.slice(-6000)}`);
        // stdout is the endpoints alone (progress and pulumi's output go to stderr).
        const endpoints = JSON.parse(res.stdout) as Record<string, string>;
        assert.deepEqual(Object.keys(endpoints).sort(), ["api", "web"]);
        for (const [name, url] of Object.entries(endpoints)) {
            assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, `${name}'s endpoint`);
            assert.equal((await httpGet(`${url}/health`)).status, 200, `${name} at ${url}/health`);
        }
        // The first deploy wrote this passphrase's salt into the stack's own config file.
        assert.match(fs.readFileSync(stack.configFile, "utf8"), /^encryptionsalt: v1:/m);
        assert.match(res.stderr, /\[deploy\] ready \(\d+s\)/, "deploy.sh's progress ends with its total time");
    });

    it("`opsbook status` says healthy and exits 0, with monitoring on", async () => {
        // Prometheus needs a scrape or two before every target is up and nothing fires.
        const { reported } = await waitFor("opsbook status to exit 0", 240, status, (s) => s.code === 0);
        assert.equal(reported.healthy, true);
        assert.equal(reported.monitoring, "on");
        assert.deepEqual(reported.firingAlerts, []);
        for (const service of reported.services) {
            assert.ok(service.desired > 0 && service.running === service.desired, `${service.name}: ${service.running}/${service.desired} tasks`);
        }
        assert.ok(reported.endpoints.length >= 2 && reported.endpoints.every((e) => e.healthy), JSON.stringify(reported.endpoints));
    });

    it("with the workers stopped, `opsbook status` exits non-zero and names each stale heartbeat within the configured time", async () => {
        const workers = `opsbook-${stack.name}-workers`;
        const scaled = await docker("service", "scale", "--detach", `${workers}=0`);
        assert.equal(scaled.code, 0, scaled.stderr);
        const stoppedAt = Date.now();
        stack.log("workers scaled to 0");
        // heartbeatStaleSeconds (120) + the rule's evaluation and Alertmanager's grouping; the wait is generous for a shared machine.
        const { code, reported } = await waitFor(
            "HeartbeatStale for every worker heartbeat in opsbook status",
            420,
            status,
            (s) => STAGING_HEARTBEATS.every((key) => s.reported.firingAlerts.some((a) => a.alert === "HeartbeatStale" && a.service === "workers" && (a.summary ?? "").includes(key))),
        );
        stack.log(`every heartbeat reported stale ${Math.round((Date.now() - stoppedAt) / 1000)} s after the workers stopped`);
        assert.equal(code, 5, "status exits 5 while an alert fires (cli/errors.ts)");
        assert.equal(reported.healthy, false);
        const stale = reported.firingAlerts.filter((a) => a.alert === "HeartbeatStale");
        for (const alert of stale) {
            assert.match(alert.summary ?? "", new RegExp(`workers of stack ${stack.name}: heartbeat worker:[a-z-]+:last-ping is stale \\(older than 120s\\)`));
        }
    });
});
