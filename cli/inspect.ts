// The read-only commands: status, logs, exec. They change nothing, so they need no confirmation
// and leave no audit entry.
import * as http from "node:http";
import { LABEL_IMAGE_REF } from "../components/naming";
import { Engine } from "./engine";
import { CliError, EXIT } from "./errors";
import { StackContext } from "./stack";
import { TaskResult } from "./toolTask";

export interface ServiceStatus {
    /** The name a person uses (the spec's service name, or postgres, redis, scheduler, backups). */
    readonly name: string;
    readonly swarmService: string;
    readonly running: number;
    readonly desired: number;
    /** The image reference the spec names (the service runs the ID it resolved to). */
    readonly image: string;
    /** `APP_RELEASE` of the service's tasks, when it has one. */
    readonly release?: string;
}

export interface EndpointStatus {
    readonly name: string;
    readonly url: string;
    /** HTTP status, or 0 when nothing answered. */
    readonly status: number;
    readonly healthy: boolean;
    readonly ms: number;
    readonly error?: string;
}

/** An alert Alertmanager holds as firing (not silenced, not inhibited). */
export interface FiringAlert {
    readonly alert: string;
    readonly service?: string;
    readonly summary?: string;
    /** When it started firing (ISO 8601). */
    readonly since?: string;
}

/** The backup agent's own verdict: every target has a verified backup younger than its limit. */
export interface BackupStatus {
    readonly ok: boolean;
    readonly targets: { readonly target: string; readonly ok: boolean; readonly lastVerifiedAt: string | null; readonly ageSeconds: number | null }[];
    readonly problem?: string;
}

export interface StackStatus {
    readonly stack: string;
    readonly healthy: boolean;
    readonly services: ServiceStatus[];
    readonly endpoints: EndpointStatus[];
    /** `off` without monitoring; `unreachable` when Alertmanager did not answer (then nobody knows what fires). */
    readonly monitoring: "on" | "off" | "unreachable";
    readonly firingAlerts: FiringAlert[];
    /** Absent for a stack without backups. */
    readonly backups?: BackupStatus;
    /** Absent for a stack without a Telegram webhook; as of the last deploy or refresh. */
    readonly webhook?: { readonly url?: string; readonly pendingUpdateCount?: number; readonly lastErrorMessage?: string };
}

/** Alertmanager's `GET /api/v2/alerts` answer as firing alerts, newest first. Pure. */
export function firingAlertsFrom(body: unknown): FiringAlert[] {
    const list = Array.isArray(body) ? (body as { labels?: Record<string, string>; annotations?: Record<string, string>; startsAt?: string; status?: { state?: string } }[]) : [];
    return list
        .filter((a) => (a.status?.state ?? "active") === "active")
        .map((a) => ({
            alert: a.labels?.alertname ?? "(unnamed)",
            ...(a.labels?.service ? { service: a.labels.service } : {}),
            ...(a.annotations?.summary ? { summary: a.annotations.summary } : {}),
            ...(a.startsAt ? { since: a.startsAt } : {}),
        }))
        .sort((x, y) => (y.since ?? "").localeCompare(x.since ?? ""));
}

/** The backup agent's `health` line (JSON) as a status, ages from `now`. Pure. */
export function backupStatusFrom(healthOutput: string, now = Date.now()): BackupStatus {
    try {
        const parsed = JSON.parse(healthOutput.trim().split("\n").pop() ?? "") as { ok: boolean; targets: { target: string; ok: boolean; lastVerifiedAt: string | null }[] };
        return {
            ok: parsed.ok === true,
            targets: parsed.targets.map((t) => ({
                target: t.target,
                ok: t.ok,
                lastVerifiedAt: t.lastVerifiedAt,
                ageSeconds: t.lastVerifiedAt ? Math.round((now - Date.parse(t.lastVerifiedAt)) / 1000) : null,
            })),
        };
    } catch {
        return { ok: false, targets: [], problem: `the agent's health answer is not its status line: ${healthOutput.trim().slice(0, 200) || "(nothing)"}` };
    }
}

/** GET a JSON document with a deadline; undefined when nothing (or no JSON) answered. */
function getJson(url: string, timeoutMs = 5000): Promise<unknown> {
    return new Promise((resolve) => {
        const req = http.get(url, { timeout: timeoutMs }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
                try {
                    resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString()) : undefined);
                } catch {
                    resolve(undefined);
                }
            });
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve(undefined));
    });
}

/** GET with a deadline; any answer is reported, a 2xx counts as healthy. */
export function checkEndpoint(name: string, url: string, timeoutMs = 5000): Promise<EndpointStatus> {
    const t0 = Date.now();
    return new Promise((resolve) => {
        const req = http.get(url, { timeout: timeoutMs }, (res) => {
            res.resume();
            res.on("end", () => {
                const status = res.statusCode ?? 0;
                resolve({ name, url, status, healthy: status >= 200 && status < 300, ms: Date.now() - t0 });
            });
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", (err) => resolve({ name, url, status: 0, healthy: false, ms: Date.now() - t0, error: err.message }));
    });
}

export async function stackStatus(ctx: StackContext): Promise<StackStatus> {
    const services = await ctx.swarmServices();
    const outputs = await ctx.outputs();
    const engine = await ctx.engine();
    const byName = new Map(Object.entries(services).map(([name, swarm]) => [swarm, name]));
    const [infos, counts, endpoints] = await Promise.all([
        engine.inspectServices(Object.values(services)),
        // `docker service ls` counts running tasks the way the engine does (what `docker service ls` shows).
        engine.docker(["service", "ls", "--filter", `label=opsbook.stack=${ctx.name}`, "--format", "{{.Name}} {{.Replicas}}"]),
        Promise.all(Object.entries(outputs.healthChecks ?? {}).map(([name, url]) => checkEndpoint(name, url))),
    ]);
    if (counts.code !== 0) {
        throw new CliError(EXIT.UNAVAILABLE, `the Docker engine does not answer: ${counts.stderr.trim().split("\n")[0]}`);
    }
    const replicas = new Map(
        counts.stdout
            .split("\n")
            .filter(Boolean)
            .map((line) => {
                const [name, ratio] = line.split(" ");
                const [running, desired] = (ratio ?? "0/0").split("/").map((n) => Number.parseInt(n, 10) || 0);
                return [name, { running, desired }] as const;
            }),
    );
    const statuses: ServiceStatus[] = Object.entries(services).map(([name, swarm]) => {
        const info = infos.find((i) => i.Spec.Name === swarm);
        const release = info?.Spec.TaskTemplate.ContainerSpec.Env?.find((e) => e.startsWith("APP_RELEASE="))?.slice("APP_RELEASE=".length);
        const count = replicas.get(swarm) ?? { running: 0, desired: info?.Spec.Mode?.Replicated?.Replicas ?? 0 };
        return {
            name: byName.get(swarm) ?? name,
            swarmService: swarm,
            ...count,
            image: info?.Spec.Labels?.[LABEL_IMAGE_REF] ?? info?.Spec.TaskTemplate.ContainerSpec.Image.split("@")[0] ?? "(missing)",
            ...(release !== undefined ? { release } : {}),
        };
    });
    // What the stack's own monitoring says fires, and the backup agent's verdict on its backups.
    const alertmanager = outputs.monitoring?.alertmanager;
    const alertsBody = alertmanager ? await getJson(`${alertmanager}/api/v2/alerts?active=true&silenced=false&inhibited=false`) : undefined;
    const monitoring = !outputs.monitoring ? "off" : alertsBody === undefined ? "unreachable" : "on";
    const firingAlerts = firingAlertsFrom(alertsBody);
    let backups: BackupStatus | undefined;
    const agent = outputs.backups?.agentService;
    if (agent) {
        const found = await ctx.runningTask(agent);
        const health = found ? await found.engine.docker(["exec", found.task, "backup-agent", "health"]) : undefined;
        backups = health ? backupStatusFrom(health.stdout) : { ok: false, targets: [], problem: `no task of ${agent} runs` };
    }
    const webhook = outputs.telegramWebhook;
    const healthy =
        statuses.every((s) => s.desired > 0 && s.running >= s.desired) &&
        endpoints.every((e) => e.healthy) &&
        monitoring !== "unreachable" &&
        firingAlerts.length === 0 &&
        (backups?.ok ?? true) &&
        !webhook?.lastErrorMessage;
    return { stack: ctx.name, healthy, services: statuses, endpoints, monitoring, firingAlerts, ...(backups ? { backups } : {}), ...(webhook ? { webhook } : {}) };
}

export function formatStatus(status: StackStatus): string {
    const rows = [["SERVICE", "TASKS", "RELEASE", "IMAGE"], ...status.services.map((s) => [s.name, `${s.running}/${s.desired}`, s.release ?? "-", s.image])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
    const endpoints = status.endpoints
        .map((e) => `  ${e.name.padEnd(12)} ${e.url}  ${e.healthy ? "healthy" : "UNHEALTHY"} (${e.status || e.error}, ${e.ms} ms)`)
        .join("\n");
    const alerts =
        status.monitoring === "off"
            ? "  (monitoring is off)"
            : status.monitoring === "unreachable"
              ? "  Alertmanager did not answer: what fires is unknown"
              : status.firingAlerts.map((a) => `  FIRING ${a.alert}${a.service ? ` (${a.service})` : ""} since ${a.since ?? "?"}: ${a.summary ?? ""}`.trimEnd()).join("\n") || "  none firing";
    const backups = status.backups
        ? status.backups.targets.map((t) => `  ${t.target.padEnd(16)} ${t.ok ? "ok" : "STALE"}, last verified ${t.lastVerifiedAt ?? "never"}${t.ageSeconds !== null ? ` (${Math.round(t.ageSeconds / 60)} min ago)` : ""}`).join("\n") ||
          `  ${status.backups.problem ?? "no target"}`
        : "  (no backups)";
    const webhook = status.webhook ? `\nwebhook: ${status.webhook.url ?? "?"}, ${status.webhook.lastErrorMessage ? `last error: ${status.webhook.lastErrorMessage}` : "no error"} (as of the last deploy or refresh)\n` : "";
    return `stack ${status.stack}: ${status.healthy ? "healthy" : "DEGRADED"}\n\n${table}\n\nendpoints:\n${endpoints || "  (none published)"}\n\nalerts:\n${alerts}\n\nbackups:\n${backups}\n${webhook}`;
}

/** `docker service logs` of one service, attached to the terminal. */
export async function serviceLogs(ctx: StackContext, service: string, opts: { follow?: boolean; since?: string; tail?: string }): Promise<number> {
    const swarm = await ctx.swarmService(service);
    const args = ["service", "logs", "--timestamps"];
    if (opts.follow) {
        args.push("--follow");
    }
    if (opts.since) {
        args.push("--since", opts.since);
    }
    if (opts.tail) {
        args.push("--tail", opts.tail);
    }
    return (await ctx.engine()).attached([...args, swarm]);
}

/** The service's first running task on the stack's nodes; UNAVAILABLE (with where to look) when none runs. */
async function runningTask(ctx: StackContext, service: string): Promise<{ engine: Engine; task: string }> {
    const swarm = await ctx.swarmService(service);
    const found = await ctx.runningTask(swarm);
    if (!found) {
        throw new CliError(EXIT.UNAVAILABLE, `no running task of \`${service}\` (${swarm}) on the stack's nodes; 'docker service ps ${swarm}' shows why`);
    }
    return found;
}

/** Runs `command` (argv, no shell) in a running task of `service` and captures what it prints. */
export async function commandInService(ctx: StackContext, service: string, command: string[]): Promise<TaskResult> {
    const { engine, task } = await runningTask(ctx, service);
    const res = await engine.docker(["exec", task, ...command]);
    return { ok: res.code === 0, kind: "command", exitCode: res.code, output: res.stdout, error: res.code === 0 ? undefined : res.stderr.trim() || undefined };
}

/**
 * `docker exec` in a running task of the service, on the node that runs it: runs exactly what the
 * person typed, nothing assumed inside the image. Exits with the command's own exit code.
 */
export async function execInService(ctx: StackContext, service: string, typed: string[]): Promise<number> {
    // `exec api -- ls`: the `--` that ends opsbook's own options is not part of the command.
    const command = typed[0] === "--" ? typed.slice(1) : typed;
    if (command.length === 0) {
        throw new CliError(EXIT.USAGE, "exec needs a command after --, e.g. `opsbook exec api -- ls /run/secrets`");
    }
    const { engine, task } = await runningTask(ctx, service);
    const tty = process.stdin.isTTY && process.stdout.isTTY ? ["-t"] : [];
    return engine.attached(["exec", "-i", ...tty, task, ...command]);
}
