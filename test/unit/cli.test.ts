// The `opsbook` CLI's pure parts (no engine, no stack): argument checks, procedures as data, the
// rotation stamp, the audit entry's shape, the task's CSV reader, and the command line itself
// (help, exit codes for bad usage) in a child process.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import { specFromConfigValues } from "../../config";
import { parseSpec } from "../../components/spec";
import { stackModeEnv } from "../../components/wiring";
import { PRESETS, PRESET_PROCEDURES, applyPreset } from "../../presets";
import { auditArgs, auditEntryName } from "../../cli/audit";
import { CliError, EXIT } from "../../cli/errors";
import { backupStatusFrom, firingAlertsFrom } from "../../cli/inspect";
import { buildProgram } from "../../cli/main";
import { commandArgv, nextRotationStamp, parseDay, parseSwitch, presetsWith, resolveProcedure, secretKind, stackProcedures } from "../../cli/procedures";
import { TASK_SCRIPT, parseCsv } from "../../cli/toolTask";

const ROOT = path.resolve(__dirname, "..", "..");

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        // No stack is needed for help and usage errors; a bogus backend proves none is touched.
        const env = { ...process.env, PULUMI_BACKEND_URL: "file:///nonexistent-opsbook-unit" };
        execFile("node", [path.join(ROOT, "cli", "opsbook.js"), ...args], { env }, (err, stdout, stderr) => {
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
    });
}

/** The USAGE error a call throws, or a failed assertion. */
function usageError(f: () => unknown): string {
    try {
        f();
    } catch (err) {
        assert.ok(err instanceof CliError, String(err));
        assert.equal(err.exitCode, EXIT.USAGE);
        return err.message;
    }
    assert.fail("no error");
}

const copyTrading = parseSpec(applyPreset({ preset: "copy-trading" }));

describe("preset procedures", () => {
    it("every declared procedure names a service, secret and arguments its preset has", () => {
        for (const [preset, procedures] of Object.entries(PRESET_PROCEDURES)) {
            const spec = parseSpec(applyPreset({ preset }));
            assert.ok(preset in PRESETS, preset);
            for (const [name, p] of Object.entries(procedures)) {
                const a = p.action;
                if (a.kind === "rotate") {
                    assert.equal(secretKind(spec, a.secret), "generated", `${preset} ${name}: ${a.secret} is not a generated secret`);
                    continue;
                }
                const svc = spec.services[a.service];
                assert.ok(svc, `${preset} ${name}: no service ${a.service}`);
                if (a.kind === "http") {
                    assert.ok(a.bearerSecret in svc.secretEnv, `${preset} ${name}: ${a.service} has no ${a.bearerSecret}`);
                    for (const v of Object.values(a.body ?? {})) {
                        const arg = /^\{(\w+)\}$/.exec(v)?.[1];
                        assert.ok(!arg || p.arguments?.some((x) => x.name === arg), `${preset} ${name}: body names unknown argument ${arg}`);
                    }
                } else if (a.kind === "command") {
                    assert.ok(a.command.length > 0, `${preset} ${name}: an empty command`);
                    for (const part of a.command) {
                        const arg = /^\{(\w+)\}$/.exec(part)?.[1];
                        assert.ok(!arg || [...(p.arguments ?? []), ...(p.options ?? [])].some((x) => x.name === arg), `${preset} ${name}: the command names unknown argument ${arg}`);
                    }
                } else {
                    assert.ok(svc.uses.includes("postgres"), `${preset} ${name}: ${a.service} has no database`);
                    for (const m of a.sql.matchAll(/:'?(\w+)'?/g)) {
                        assert.ok([...(p.arguments ?? []), ...(p.options ?? [])].some((x) => x.name === m[1]), `${preset} ${name}: SQL uses :${m[1]}, which is no argument`);
                    }
                }
            }
        }
    });

    it("an unknown procedure lists the stack's; one of another preset says which presets have it", () => {
        assert.match(usageError(() => resolveProcedure("s", copyTrading, "frobnicate", [], {})), /unknown procedure `frobnicate`; stack s's procedures: pause, resume, audit-logs, reconcile, retry-relayer/);
        assert.match(usageError(() => resolveProcedure("s", copyTrading, "revoke-admin", [], {})), /presets that have it: prediction-market/);
        assert.deepEqual(presetsWith("pause"), ["copy-trading"]);
        const bare = parseSpec({ services: { api: {} } });
        assert.match(usageError(() => resolveProcedure("s", bare, "pause", [], {})), /preset none\) has no procedure `pause`; presets that have it: copy-trading\. This stack's procedures: none/);
    });

    it("names a missing argument, refuses a malformed one or an extra one, and checks options", () => {
        assert.match(usageError(() => resolveProcedure("s", copyTrading, "retry-relayer", [], {})), /needs the argument <txId>/);
        assert.match(usageError(() => resolveProcedure("s", copyTrading, "retry-relayer", ["tx 1; drop"], {})), /<txId> of retry-relayer must match/);
        assert.match(usageError(() => resolveProcedure("s", copyTrading, "pause", ["now"], {})), /pause takes no arguments; unexpected `now`/);
        assert.match(usageError(() => resolveProcedure("s", copyTrading, "audit-logs", [], { limit: "1;DELETE" })), /--limit of audit-logs must match/);
        assert.deepEqual(resolveProcedure("s", copyTrading, "audit-logs", [], {}).values, { limit: "50" });
        assert.deepEqual(resolveProcedure("s", copyTrading, "retry-relayer", ["tx-42"], {}).values, { txId: "tx-42" });
    });
});

describe("market-watchdog procedures (seed 003)", () => {
    const watchdog = parseSpec(applyPreset({ preset: "market-watchdog" }));

    it("are the runbook's own Python CLI in a running web task, read-only, with --limit as one argv element", () => {
        assert.deepEqual(Object.keys(stackProcedures(watchdog)), ["recent-alerts", "rules"]);
        const alerts = resolveProcedure("s", watchdog, "recent-alerts", [], {});
        assert.equal(alerts.procedure.changes, false);
        assert.deepEqual(alerts.values, { limit: "5" }, "the runbook's own `--limit 5`");
        assert.ok(alerts.procedure.action.kind === "command" && alerts.procedure.action.service === "web");
        assert.deepEqual(commandArgv(alerts.procedure.action.command, resolveProcedure("s", watchdog, "recent-alerts", [], { limit: "20" }).values), [
            "python", "-m", "src.cli.main", "alerts", "list", "--limit", "20",
        ]);
        const rules = resolveProcedure("s", watchdog, "rules", [], {});
        assert.equal(rules.procedure.changes, false);
        assert.ok(rules.procedure.action.kind === "command");
        assert.deepEqual(commandArgv(rules.procedure.action.command, rules.values), ["python", "-m", "src.cli.main", "rules", "list"]);
        // The web task has what the CLI reads: the SQLite volume and the app's env.
        assert.equal(watchdog.services.web.env.DATABASE_URL, "sqlite:////data/signal_sentinel.db");
        assert.deepEqual(Object.values(watchdog.services.web.volumes ?? {}), ["/data"]);
    });

    it("refuse a limit that is no whole number and an extra argument; other presets' stacks are told where they are", () => {
        assert.match(usageError(() => resolveProcedure("s", watchdog, "recent-alerts", [], { limit: "5; rm -rf /" })), /--limit of recent-alerts must match/);
        assert.match(usageError(() => resolveProcedure("s", watchdog, "recent-alerts", [], { limit: "0" })), /--limit of recent-alerts must match/);
        assert.match(usageError(() => resolveProcedure("s", watchdog, "rules", ["all"], {})), /rules takes no arguments; unexpected `all`/);
        assert.match(usageError(() => resolveProcedure("s", copyTrading, "rules", [], {})), /has no procedure `rules`; presets that have it: market-watchdog/);
        assert.match(usageError(() => resolveProcedure("s", watchdog, "pause", [], {})), /presets that have it: copy-trading\. This stack's procedures: recent-alerts, rules/);
    });

    it("have a true --help: what runs, the option's default and the preset", async () => {
        const help = await cli("recent-alerts", "--help");
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout, /Usage: opsbook recent-alerts \[options\]/);
        assert.match(help.stdout, /alerts list --limit N\) \[preset market-watchdog\]/);
        assert.match(help.stdout, /--limit <limit> +how many alerts \(default 5\)/);
        const rules = await cli("rules", "--help");
        assert.match(rules.stdout, /rules and when each last triggered \(its CLI: rules list\) \[preset market-watchdog\]/);
    });
});

describe("stack-wide procedures", () => {
    it("on|off, nothing else", () => {
        assert.equal(parseSwitch("maintenance", "on"), true);
        assert.equal(parseSwitch("maintenance", "off"), false);
        assert.match(usageError(() => parseSwitch("maintenance", "yes")), /maintenance takes on or off, not `yes`/);
    });

    it("replay takes a real calendar day and names the option when it is missing", () => {
        assert.equal(parseDay("2026-11-20"), "2026-11-20");
        assert.equal(parseDay("2024-02-29"), "2024-02-29");
        assert.match(usageError(() => parseDay("2026-02-30")), /--date must be a day as YYYY-MM-DD; got `2026-02-30`/);
        assert.match(usageError(() => parseDay("20261120")), /--date must be a day/);
        assert.match(usageError(() => parseDay(undefined)), /replay needs --date <YYYY-MM-DD>/);
    });

    it("the next rotation stamp keeps whole numbers whole (POSTGRES_APP_PASSWORD and keys require it)", () => {
        assert.equal(nextRotationStamp(undefined), "1");
        assert.equal(nextRotationStamp("1"), "2");
        assert.equal(nextRotationStamp("99999999999999999999"), "100000000000000000000");
        assert.equal(nextRotationStamp("initial", new Date("2026-12-02T03:04:05Z")), "20261202030405");
    });

    it("tells generated secrets from keys, user-supplied ones and unknown names", () => {
        assert.equal(secretKind(copyTrading, "ADMIN_TOKEN"), "generated");
        assert.equal(secretKind(copyTrading, "REDIS_PASSWORD"), "generated");
        assert.equal(secretKind(copyTrading, "TRADING_KEY_ENCRYPTION_KEY"), "key");
        assert.equal(secretKind(copyTrading, "DYNAMIC_PUBLIC_KEY"), "user");
        assert.equal(secretKind(copyTrading, "NOPE"), "unknown");
    });

    it("maintenance and read-only are one spec key each, read from config as the CLI lists it", () => {
        const spec = specFromConfigValues({ "opsbook:preset": "prediction-market", "opsbook:maintenance": "true", "opsbook:readOnly": "false" });
        assert.equal(spec.maintenance, true);
        assert.equal(spec.readOnly, false);
        assert.deepEqual(stackModeEnv(spec), { MAINTENANCE_MODE: "true" });
        // Off adds nothing: the preset's own MAINTENANCE_MODE=false stays and no service rolls.
        assert.deepEqual(stackModeEnv(parseSpec(applyPreset({ preset: "prediction-market" }))), {});
        assert.deepEqual(stackModeEnv({ maintenance: false, readOnly: true }), { READ_ONLY: "true" });
        assert.throws(() => specFromConfigValues({ "opsbook:maintenance": "yes please", "opsbook:services": "{}" }), /opsbook:maintenance` is not valid JSON/);
    });
});

describe("audit entries", () => {
    it("leave out arguments named like secrets", () => {
        assert.deepEqual(auditArgs({ secret: "ADMIN_TOKEN", txId: "t1", apiKey: "abc", password: "x", yes: true, none: undefined }), {
            secret: "[left out]",
            txId: "t1",
            apiKey: "[left out]",
            password: "[left out]",
            yes: true,
        });
    });

    it("are named within the engine's 64 characters, sortable by time, whatever the stack's name", () => {
        const at = new Date("2026-12-02T03:04:05.678Z");
        const name = auditEntryName({ project: "opsbook", stack: "a-very-long-stack-name-for-a-team-that-likes-long-names" }, at);
        assert.ok(name.length <= 64, name);
        assert.match(name, /-20261202T030405678Z-[0-9a-f]{6}$/);
    });
});

describe("the task's program", () => {
    it("is valid JavaScript and never puts the password in an env var or on psql's command line", () => {
        assert.doesNotThrow(() => new Function("require", "process", TASK_SCRIPT));
        assert.doesNotMatch(TASK_SCRIPT, /PGPASSWORD/);
        assert.match(TASK_SCRIPT, /PGPASSFILE: "\/tmp\/opsbook.pgpass"/);
        assert.match(TASK_SCRIPT, /mode: 0o600/);
    });
});

describe("the task's CSV reader (psql --csv)", () => {
    it("reads quoted fields, doubled quotes, commas and newlines inside quotes", () => {
        assert.deepEqual(parseCsv('id,action\n1,"copy, ""quoted"""\n2,"two\nlines"\n3,\n'), [
            { id: "1", action: 'copy, "quoted"' },
            { id: "2", action: "two\nlines" },
            { id: "3", action: "" },
        ]);
        assert.deepEqual(parseCsv("paused\n2\n"), [{ paused: "2" }]);
        assert.deepEqual(parseCsv(""), []);
    });
});

describe("the command line", () => {
    it("every command has a description and its own --help", () => {
        const program = buildProgram();
        for (const command of program.commands) {
            assert.ok(command.description().length > 10, `${command.name()} has no description`);
            assert.match(command.helpInformation(), new RegExp(`Usage: opsbook ${command.name()}`));
        }
        const names = program.commands.map((c) => c.name());
        for (const expected of ["status", "logs", "exec", "maintenance", "read-only", "rotate", "rollback", "replay", "restore", "audit", "procedures", "pause", "resume", "reconcile", "retry-relayer", "audit-logs", "revoke-admin", "invalidate-sessions", "preflight", "recent-alerts", "rules"]) {
            assert.ok(names.includes(expected), `no command ${expected}`);
        }
    });

    it("--help lists the commands and the exit codes, exit 0; a bad option or argument is exit 2", async () => {
        const help = await cli("--help");
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout, /status \[options\]/);
        assert.match(help.stdout, /Exit codes:\n {2}0 {2}done/);
        const commands = help.stdout.slice(help.stdout.indexOf("Commands:\n") + 10).split("\n\n")[0].split("\n");
        assert.ok(commands.length >= 19, help.stdout);
        for (const line of commands) {
            assert.match(line, /^ {2}[a-z][\w-]* .*\S {2,}\S/, `not one line per command: ${JSON.stringify(line)}`);
        }
        const sub = await cli("rotate", "--help");
        assert.equal(sub.code, 0);
        assert.match(sub.stdout, /Usage: opsbook rotate \[options\] <SECRET>/);
        const badOption = await cli("status", "--nope");
        assert.equal(badOption.code, EXIT.USAGE);
        assert.match(badOption.stderr, /unknown option '--nope'/);
        const missing = await cli("rotate");
        assert.equal(missing.code, EXIT.USAGE);
        assert.match(missing.stderr, /missing required argument 'SECRET'/);
        const badSwitch = await cli("maintenance", "maybe", "--stack", "x");
        assert.equal(badSwitch.code, EXIT.USAGE);
        assert.match(badSwitch.stderr, /maintenance takes on or off, not `maybe`/);
    });
});

describe("opsbook status: alerts and backups", () => {
    it("lists Alertmanager's active alerts, newest first, and leaves suppressed ones out", () => {
        const alerts = firingAlertsFrom([
            { labels: { alertname: "ServiceDown", service: "api" }, annotations: { summary: "api is down" }, startsAt: "2026-12-02T03:00:00Z", status: { state: "active" } },
            { labels: { alertname: "HeartbeatStale", service: "workers" }, annotations: {}, startsAt: "2026-12-02T03:05:00Z", status: { state: "active" } },
            { labels: { alertname: "RedisDown" }, startsAt: "2026-12-02T03:06:00Z", status: { state: "suppressed" } },
        ]);
        assert.deepEqual(alerts, [
            { alert: "HeartbeatStale", service: "workers", since: "2026-12-02T03:05:00Z" },
            { alert: "ServiceDown", service: "api", summary: "api is down", since: "2026-12-02T03:00:00Z" },
        ]);
        assert.deepEqual(firingAlertsFrom(undefined), []);
    });

    it("reads the backup agent's health line, with the age of each target's last verified backup", () => {
        const now = Date.parse("2026-12-02T04:00:00Z");
        const line = JSON.stringify({ ok: false, targets: [{ target: "postgres-app", ok: true, lastVerifiedAt: "2026-12-02T03:00:00Z" }, { target: "sqlite-data", ok: false, lastVerifiedAt: null }] });
        assert.deepEqual(backupStatusFrom(`some log\n${line}\n`, now), {
            ok: false,
            targets: [
                { target: "postgres-app", ok: true, lastVerifiedAt: "2026-12-02T03:00:00Z", ageSeconds: 3600 },
                { target: "sqlite-data", ok: false, lastVerifiedAt: null, ageSeconds: null },
            ],
        });
        const broken = backupStatusFrom("exec failed", now);
        assert.equal(broken.ok, false);
        assert.match(broken.problem ?? "", /not its status line: exec failed/);
    });
});
