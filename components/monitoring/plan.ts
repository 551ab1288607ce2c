// What a stack's monitoring watches, derived from the spec once: the health checks (through the
// gateway, the path users take), the heartbeats, the databases. The rules, Prometheus's config and
// the component all read this plan, so a target and its alert cannot drift apart. Pure.
import { StackIdentity, engineName } from "../naming";
import { BACKUP_AGENT_HOST, BACKUP_AGENT_METRICS_PORT, backupsEnabled } from "../backupPlan";
import type { Spec } from "../spec";
import { webhookUrl } from "../webhook";
import type { MonitoringSpec } from "./settings";

/** DNS names of the monitoring services on the stack's networks (prefixed: a team's service may be called `prometheus`). */
export const MONITORING_HOSTS = {
    prometheus: "monitoring-prometheus",
    alertmanager: "monitoring-alertmanager",
    blackbox: "monitoring-blackbox",
    redisExporter: "monitoring-redis-exporter",
    nodeExporter: "monitoring-node-exporter",
    taskMemory: "monitoring-task-memory",
    telegramWebhook: "monitoring-telegram-webhook",
} as const;

export const MONITORING_PORTS = { prometheus: 9090, alertmanager: 9093, blackbox: 9115, redisExporter: 9121, nodeExporter: 9100, taskMemory: 9101, telegramWebhook: 9102 } as const;

/** Where the node exporter sees a watched host directory: `/host/<name>` (the rules select on it). */
export const DISK_MOUNT_ROOT = "/host";

/** Names the gateway publishes Prometheus and Alertmanager under (beside the spec's services). */
export const MONITORING_ENDPOINTS = ["alertmanager", "prometheus"] as const;

/** The gateway's name on the edge network (components/gateway.ts gives it this alias). */
export const GATEWAY_HOST = "gateway";

/** One http service's health check as monitoring asks it. */
export interface HealthTarget {
    /** The spec's service name. */
    readonly service: string;
    /** The URL the blackbox exporter fetches. */
    readonly url: string;
}

/** A service's own `/metrics`, scraped from each of its tasks. */
export interface MetricsTarget {
    readonly service: string;
    /** `tasks.<engine name>`: one address per running task. */
    readonly tasksName: string;
    readonly port: number;
}

/**
 * A directory on every node whose filesystem's free space is watched: where the engine keeps the
 * stack's volumes, and the backup location when it is a host directory.
 */
export interface DiskTarget {
    /** What lives there, in words the alert uses (`volumes`, `backups`); also its mount name. */
    readonly name: string;
    /** The directory on the node. */
    readonly hostPath: string;
}

/** One heartbeat key in Redis and the service that writes it. */
export interface HeartbeatTarget {
    readonly service: string;
    readonly key: string;
}

/** The stack's Telegram webhook as monitoring asks Telegram about it (getWebhookInfo). */
export interface TelegramWebhookTarget {
    /** The spec's service Telegram calls: the alerts name it. */
    readonly service: string;
    /** The URL the stack registers; another one registered loses the updates as surely as none. */
    readonly url: string;
    /** The Bot API's base URL (`opsbook:telegram.apiBaseUrl`). */
    readonly apiBaseUrl: string;
    /** The engine's name of the exporter that asks Telegram, for the alerts' advice. */
    readonly exporterService: string;
}

export interface MonitoringPlan {
    /** The stack's name: every alert carries it as `stack`. */
    readonly stack: string;
    /** The engine's name of each spec service (`docker service ps <name>`), for the alerts' advice. */
    readonly engineNames: Record<string, string>;
    readonly health: HealthTarget[];
    readonly heartbeats: HeartbeatTarget[];
    readonly metrics: MetricsTarget[];
    /** Filesystems whose free space is watched, on every node (the node exporter runs on each). */
    readonly disks: DiskTarget[];
    /** `tasks.<engine name>` of the node exporter: one address per node. */
    readonly nodeExporterTasks: string;
    /** The engine's data root on the nodes: its `containers` directory names each task's container. */
    readonly engineDataRoot: string;
    /** `tasks.<engine name>` of the task memory exporter: one address per node. */
    readonly taskMemoryTasks: string;
    /** `host:port` of Postgres, when the stack has it. */
    readonly postgres?: string;
    /** True when the stack has Redis (its exporter is scraped). */
    readonly redis: boolean;
    /** `host:port` of the backup agent's /metrics, when the stack backs up. */
    readonly backupAgent?: string;
    /** The Telegram webhook, when the stack registers one (`opsbook:telegram.webhook`). */
    readonly telegramWebhook?: TelegramWebhookTarget;
    readonly settings: MonitoringSpec;
}

/**
 * The plan for a spec. `gatewayListenPorts` are the gateway's listen ports by published name
 * (gateway.ts `listenPorts`): a published service is checked through the gateway, as users reach
 * it; an http service that is not published is asked directly on the data network.
 */
export function monitoringPlan(
    spec: Pick<Spec, "services" | "postgres" | "redis" | "monitoring" | "backups" | "telegram">,
    identity: StackIdentity,
    gatewayListenPorts: Record<string, number>,
    /** The engine's data root as it reports it; `monitoring.engineDataRoot` overrides it. */
    engineDataRoot = "/var/lib/docker",
): MonitoringPlan {
    const health: HealthTarget[] = [];
    const heartbeats: HeartbeatTarget[] = [];
    const metrics: MetricsTarget[] = [];
    for (const [name, svc] of Object.entries(spec.services).sort(([a], [b]) => a.localeCompare(b))) {
        if (svc.kind === "http") {
            const listen = gatewayListenPorts[name];
            health.push({ service: name, url: listen !== undefined ? `http://${GATEWAY_HOST}:${listen}${svc.healthPath}` : `http://${name}:${svc.port}${svc.healthPath}` });
        }
        if (svc.metricsPort !== undefined) {
            metrics.push({ service: name, tasksName: `tasks.${engineName(identity, name)}`, port: svc.metricsPort });
        }
        for (const key of svc.heartbeats) {
            heartbeats.push({ service: name, key });
        }
    }
    const engineNames = Object.fromEntries(
        [...Object.keys(spec.services), ...(spec.postgres.enabled ? ["postgres"] : []), ...(spec.redis.enabled ? ["redis"] : [])].map((n) => [n, engineName(identity, n)]),
    );
    // The engine keeps named volumes (Postgres's, Redis's, the backups' by default) under its data root.
    const dataRoot = (spec.monitoring.engineDataRoot ?? engineDataRoot).replace(/\/+$/, "");
    const disks: DiskTarget[] = [{ name: "volumes", hostPath: `${dataRoot}/volumes` }];
    if (spec.backups.location.startsWith("/")) {
        disks.push({ name: "backups", hostPath: spec.backups.location });
    }
    const hook = spec.telegram.webhook;
    return {
        stack: identity.stack,
        engineNames,
        health,
        heartbeats,
        metrics,
        disks,
        nodeExporterTasks: `tasks.${engineName(identity, "monitoring-node-exporter")}`,
        engineDataRoot: dataRoot,
        taskMemoryTasks: `tasks.${engineName(identity, "monitoring-task-memory")}`,
        postgres: spec.postgres.enabled ? "postgres:5432" : undefined,
        redis: spec.redis.enabled,
        backupAgent: backupsEnabled(spec) ? `${BACKUP_AGENT_HOST}:${BACKUP_AGENT_METRICS_PORT}` : undefined,
        telegramWebhook: hook ? {
                  service: hook.service,
                  url: webhookUrl(hook.publicUrl, hook.path),
                  apiBaseUrl: spec.telegram.apiBaseUrl,
                  exporterService: engineName(identity, "monitoring-telegram-webhook"),
              } : undefined,
        settings: spec.monitoring,
    };
}
