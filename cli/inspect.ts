// The read-only commands: status, logs, exec. They change nothing, so they need no confirmation
// and leave no audit entry.
import * as http from "node:http";
import { LABEL_IMAGE_REF } from "../components/naming";
import { CliError, EXIT } from "./errors";

import { StackContext } from "./stack";

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

export interface StackStatus {
    readonly stack: string;
    readonly healthy: boolean;
    readonly services: ServiceStatus[];
    readonly endpoints: EndpointStatus[];
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
    const healthy = statuses.every((s) => s.desired > 0 && s.running >= s.desired) && endpoints.every((e) => e.healthy);
    return { stack: ctx.name, healthy, services: statuses, endpoints };
}

export function formatStatus(status: StackStatus): string {
    const rows = [["SERVICE", "TASKS", "RELEASE", "IMAGE"], ...status.services.map((s) => [s.name, `${s.running}/${s.desired}`, s.release ?? "-", s.image])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
    const endpoints = status.endpoints
        .map((e) => `  ${e.name.padEnd(12)} ${e.url}  ${e.healthy ? "healthy" : "UNHEALTHY"} (${e.status || e.error}, ${e.ms} ms)`)
        .join("\n");
    return `stack ${status.stack}: ${status.healthy ? "healthy" : "DEGRADED"}\n\n${table}\n\nendpoints:\n${endpoints || "  (none published)"}\n`;
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

/**
 * `docker exec` in the service's newest running task on this engine: runs exactly what the person
 * typed, nothing assumed inside the image. Exits with the command's own exit code.
 */
export async function execInService(ctx: StackContext, service: string, typed: string[]): Promise<number> {
    // `exec api -- ls`: the `--` that ends opsbook's own options is not part of the command.
    const command = typed[0] === "--" ? typed.slice(1) : typed;
    if (command.length === 0) {
        throw new CliError(EXIT.USAGE, "exec needs a command after --, e.g. `opsbook exec api -- ls /run/secrets`");
    }
    const swarm = await ctx.swarmService(service);
    const engine = await ctx.engine();
    const [task] = await engine.runningTasks(swarm);
    if (!task) {
        throw new CliError(EXIT.UNAVAILABLE, `no running task of \`${service}\` (${swarm}) on this engine; 'docker service ps ${swarm}' shows why`);
    }
    const tty = process.stdin.isTTY && process.stdout.isTTY ? ["-t"] : [];
    return engine.attached(["exec", "-i", ...tty, task, ...command]);
}
