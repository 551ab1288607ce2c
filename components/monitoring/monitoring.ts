import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { settledAfter } from "../../providers/serviceSettled";
import { httpHealthcheck } from "../hardening";
import { LocalImage } from "../images";
import { LABEL_ALERT_RECEIVERS, LABEL_MONITORING_PART, StackIdentity, engineName, labelList, stackLabels } from "../naming";
import { StackNetwork } from "../networks";
import { REDIS_HOST, REDIS_PORT } from "../redis";
import { NO_SECRETS, SecretMount, secretMount, secretRef, swarmSecret } from "../secretFiles";
import { ProbeConfigRef, UpdateOrder, swarmServiceArgs } from "../swarmService";
import { CONFIG_PATHS, ReceiverValues, alertmanagerConfig, blackboxConfig, prometheusConfig } from "./configFiles";
import { DISK_MOUNT_ROOT, MONITORING_HOSTS, MONITORING_PORTS, MonitoringPlan } from "./plan";
import { alertRules } from "./rules";
import { ReceiverSecretState } from "./settings";

/** The `opsbook.component` label of every monitoring service (the policy pack's baseline applies to it). */
export const MONITORING_COMPONENT = "monitoring";

/** The image's user (images/monitoring/Dockerfile): owns the volumes and reads the secret files alone. */
const MONITORING_UID = "10090";

/**
 * A whole config file that holds a secret, mounted as a swarm secret file readable by the
 * monitoring user alone. Unlike a service's secret env it is bound to no env name: the policy
 * pack reads bound secrets as env values (placeholders, formats), and a config file is none.
 */
function secretConfigFile(key: string, secret: docker.Secret): SecretMount {
    return { ...secretMount({ [key]: secretRef(key, secret) }, { uid: MONITORING_UID, gid: MONITORING_UID }), bindings: {} };
}

export interface MonitoringArgs {
    readonly identity: StackIdentity;
    /** What to watch and how (monitoring/plan.ts). */
    readonly plan: MonitoringPlan;
    /** The monitoring image (images/monitoring). */
    readonly image: LocalImage;
    /** The data network (Postgres, Redis, the services) and the edge network (the gateway). */
    readonly networks: { readonly data: StackNetwork; readonly edge: StackNetwork };
    /** The stack's HTTP probe config, for the monitoring services' own health checks. */
    readonly probe: ProbeConfigRef;
    /** The receivers' secret values (secret Outputs); a receiver whose values are absent is left out. */
    readonly receivers: pulumi.Input<ReceiverValues>;
    /** Which receivers are configured and which of their secrets are set (names only), for the policy pack. */
    readonly receiverState: ReceiverSecretState;
    /** The bot token of the stack's Telegram webhook, when it registers one: the webhook exporter asks Telegram with it. */
    readonly telegramBotToken?: pulumi.Input<string>;
    /** Redis's password, when the stack has Redis: its exporter logs in with it. */
    readonly redisPassword?: pulumi.Input<string>;
    /** Base URLs of Prometheus and Alertmanager behind the gateway, for the links in alerts. */
    readonly externalUrls: { readonly prometheus: string; readonly alertmanager: string };
}

/**
 * Prometheus, Alertmanager, the blackbox exporter and (with Redis) the Redis exporter as swarm
 * services of the stack. Prometheus's config, the alert rules and the blackbox config are swarm
 * configs; alertmanager.yml holds the receivers' secrets, so it is a swarm secret as a whole, as is
 * the Redis exporter's password map. Prometheus and Alertmanager keep their data on volumes and are
 * published by the stack's gateway on 127.0.0.1 only.
 */
export class Monitoring extends pulumi.ComponentResource {
    /** Engine names of the services the gateway publishes. */
    public readonly prometheusService: pulumi.Output<string>;
    public readonly alertmanagerService: pulumi.Output<string>;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Monitoring", name, {}, opts);
        const { identity, plan } = args;
        const labels = stackLabels(identity, MONITORING_COMPONENT);
        // Auto-named: a changed file is a new config, created before the service moves to it.
        const configFile = (part: string, content: object) =>
            new docker.ServiceConfig(
                engineName(identity, `monitoring-${part}`),
                { data: Buffer.from(JSON.stringify(content, null, 2)).toString("base64"), labels: labelList(labels) },
                { parent: this },
            );
        const prometheusYml = configFile("prometheus", prometheusConfig(plan));
        const rulesYml = configFile("rules", alertRules(plan));
        const blackboxYml = configFile("blackbox", blackboxConfig(plan));
        const mountConfig = (config: docker.ServiceConfig, fileName: string) => ({ configId: config.id, configName: config.name, fileName });

        const alertmanagerYml = swarmSecret(
            identity,
            "ALERTMANAGER_CONFIG",
            pulumi.output(args.receivers).apply((values) => JSON.stringify(alertmanagerConfig(plan, values), null, 2)),
            { parent: this },
        );

        const volume = (part: string) =>
            new docker.Volume(`${name}-${part}-data`, { name: engineName(identity, `${part}-data`), labels: labelList(labels) }, { parent: this });

        const service = (
            part: string,
            host: string,
            port: number,
            healthPath: string,
            spec: {
                command: string[];
                networks: StackNetwork[];
                memoryMb: number;
                updateOrder: UpdateOrder;
                configFiles?: ReturnType<typeof mountConfig>[];
                secrets?: SecretMount;
                volume?: { source: pulumi.Input<string>; target: string };
                hostDirectories?: { source: string; target: string }[];
                global?: boolean;
                hostname?: string;
                user?: string;
                extraLabels?: Record<string, string>;
            },
        ) => {
            const serviceArgs = swarmServiceArgs({
                identity,
                engineName: engineName(identity, `monitoring-${part}`),
                component: MONITORING_COMPONENT,
                image: args.image,
                command: spec.command,
                env: {},
                secrets: spec.secrets ?? NO_SECRETS,
                networks: spec.networks.map((n) => ({ id: n.id, aliases: [host] })),
                volumes: spec.volume ? [spec.volume] : [],
                hostDirectories: spec.hostDirectories,
                hostname: spec.hostname,
                healthcheck: httpHealthcheck(port, healthPath, { startPeriodSeconds: 120 }),
                probe: args.probe,
                configFiles: spec.configFiles,
                replicas: spec.global ? "global" : 1,
                updateOrder: spec.updateOrder,
                memoryMb: spec.memoryMb,
                user: spec.user ?? `${MONITORING_UID}:${MONITORING_UID}`,
                // The part (and, on Alertmanager, its receivers) beside the stack's own labels.
                extraLabels: { [LABEL_MONITORING_PART]: part, ...spec.extraLabels },
            });
            const svc = new docker.Service(`${name}-${part}`, serviceArgs, { parent: this, deleteBeforeReplace: spec.updateOrder === "stop-first" });
            settledAfter(`${name}-${part}-settled`, svc.name, serviceArgs, 240, identity.engine, { parent: this });
            return svc;
        };

        // Stop-first where a volume holds one writer's data (Prometheus's TSDB lock, Alertmanager's silences).
        const prometheus = service("prometheus", MONITORING_HOSTS.prometheus, MONITORING_PORTS.prometheus, "/-/ready", {
            command: [
                "prometheus",
                `--config.file=${CONFIG_PATHS.prometheus}`,
                "--storage.tsdb.path=/prometheus",
                `--storage.tsdb.retention.time=${plan.settings.retentionDays}d`,
                `--web.listen-address=:${MONITORING_PORTS.prometheus}`,
                `--web.external-url=${args.externalUrls.prometheus}`,
                "--web.console.templates=/etc/prometheus/consoles",
                "--web.console.libraries=/etc/prometheus/console_libraries",
            ],
            // Data: it scrapes the services and the databases; edge: the gateway publishes it.
            networks: [args.networks.data, args.networks.edge],
            memoryMb: plan.settings.prometheusMemoryMb,
            updateOrder: "stop-first",
            configFiles: [mountConfig(prometheusYml, CONFIG_PATHS.prometheus), mountConfig(rulesYml, CONFIG_PATHS.rules)],
            volume: { source: volume("prometheus").name, target: "/prometheus" },
        });
        const alertmanager = service("alertmanager", MONITORING_HOSTS.alertmanager, MONITORING_PORTS.alertmanager, "/-/ready", {
            command: [
                "prometheus-alertmanager",
                "--config.file=/run/secrets/ALERTMANAGER_CONFIG",
                "--storage.path=/alertmanager",
                `--web.listen-address=:${MONITORING_PORTS.alertmanager}`,
                `--web.external-url=${args.externalUrls.alertmanager}`,
                // One instance: no gossip port to open.
                "--cluster.listen-address=",
            ],
            networks: [args.networks.data, args.networks.edge],
            memoryMb: 64,
            updateOrder: "stop-first",
            secrets: secretConfigFile("ALERTMANAGER_CONFIG", alertmanagerYml),
            volume: { source: volume("alertmanager").name, target: "/alertmanager" },
            extraLabels: { [LABEL_ALERT_RECEIVERS]: JSON.stringify(args.receiverState) },
        });
        // Health checks go through the gateway (edge); Postgres is probed on the data network.
        service("blackbox-exporter", MONITORING_HOSTS.blackbox, MONITORING_PORTS.blackbox, "/-/healthy", {
            command: ["prometheus-blackbox-exporter", `--config.file=${CONFIG_PATHS.blackbox}`, `--web.listen-address=:${MONITORING_PORTS.blackbox}`],
            networks: [args.networks.data, args.networks.edge],
            memoryMb: 48,
            updateOrder: "start-first",
            configFiles: [mountConfig(blackboxYml, CONFIG_PATHS.blackbox)],
        });
        // Free space where the data lives, on every node: the watched directories mounted read-only
        // (statfs needs no read access to their content), nothing else of the host.
        service("node-exporter", MONITORING_HOSTS.nodeExporter, MONITORING_PORTS.nodeExporter, "/metrics", {
            command: [
                "prometheus-node-exporter",
                `--web.listen-address=:${MONITORING_PORTS.nodeExporter}`,
                "--collector.disable-defaults",
                "--collector.filesystem",
                "--collector.uname",
                // Only the watched directories: not the task's own root, /etc/hosts and the like (RE2 has no
                // negative lookahead, so the task's mounts are named).
                "--collector.filesystem.mount-points-exclude=^/($|dev|proc|sys|etc|run|tmp|opsbook[^/]*)($|/)",
            ],
            networks: [args.networks.data],
            memoryMb: 32,
            updateOrder: "start-first",
            hostDirectories: plan.disks.map((d) => ({ source: d.hostPath, target: `${DISK_MOUNT_ROOT}/${d.name}` })),
            global: true,
            // node_uname_info's nodename: the alert names the node whose disk fills up.
            hostname: "{{.Node.Hostname}}",
        });
        // Each task's memory against its limit, on every node: the node's cgroups and the engine's
        // container records (for the tasks' labels) read-only. Root, with every capability
        // dropped: the records are root's own files, and nothing else is reachable.
        service("task-memory", MONITORING_HOSTS.taskMemory, MONITORING_PORTS.taskMemory, "/metrics", {
            command: ["opsbook-task-memory-exporter", `--listen=:${MONITORING_PORTS.taskMemory}`, `--stack=${identity.stack}`, "--cgroup-root=/host/cgroup", "--containers=/host/containers"],
            networks: [args.networks.data],
            memoryMb: 32,
            updateOrder: "start-first",
            hostDirectories: [
                { source: "/sys/fs/cgroup", target: "/host/cgroup" },
                { source: `${plan.engineDataRoot}/containers`, target: "/host/containers" },
            ],
            global: true,
            user: "0:0",
        });
        const hook = plan.telegramWebhook;
        if (hook && args.telegramBotToken !== undefined) {
            // Telegram tells the webhook's last error only to the token's holder: the token as a
            // file, read by the exporter alone, never in its command, env or a scrape URL.
            const token = swarmSecret(identity, "TELEGRAM_BOT_TOKEN", args.telegramBotToken, { parent: this });
            service("telegram-webhook", MONITORING_HOSTS.telegramWebhook, MONITORING_PORTS.telegramWebhook, "/healthz", {
                command: [
                    "opsbook-telegram-webhook-exporter",
                    `--listen=:${MONITORING_PORTS.telegramWebhook}`,
                    "--token-file=/run/secrets/TELEGRAM_BOT_TOKEN",
                    `--api-base=${hook.apiBaseUrl}`,
                    `--expect-url=${hook.url}`,
                ],
                // Data: Prometheus scrapes it there; its way out to the Bot API is the node's.
                networks: [args.networks.data],
                memoryMb: 24,
                updateOrder: "start-first",
                secrets: secretConfigFile("TELEGRAM_BOT_TOKEN", token),
            });
        }
        if (plan.redis && args.redisPassword !== undefined) {
            // The exporter reads the password from a JSON map of Redis URL to password (its -redis.password-file).
            const redisAddress = `redis://${REDIS_HOST}:${REDIS_PORT}`;
            const passwordMap = swarmSecret(
                identity,
                "REDIS_EXPORTER_PASSWORDS",
                pulumi.output(args.redisPassword).apply((password) => JSON.stringify({ [redisAddress]: password })),
                { parent: this },
            );
            const keys = plan.heartbeats.map((h) => h.key);
            service("redis-exporter", MONITORING_HOSTS.redisExporter, MONITORING_PORTS.redisExporter, "/health", {
                command: [
                    "prometheus-redis-exporter",
                    `-redis.addr=${redisAddress}`,
                    "-redis.password-file=/run/secrets/REDIS_EXPORTER_PASSWORDS",
                    `-web.listen-address=:${MONITORING_PORTS.redisExporter}`,
                    ...(keys.length > 0 ? [`-check-single-keys=${keys.join(",")}`] : []),
                ],
                networks: [args.networks.data],
                memoryMb: 48,
                updateOrder: "start-first",
                secrets: secretConfigFile("REDIS_EXPORTER_PASSWORDS", passwordMap),
            });
        }
        this.prometheusService = prometheus.name;
        this.alertmanagerService = alertmanager.name;
        this.registerOutputs({ prometheusService: this.prometheusService, alertmanagerService: this.alertmanagerService });
    }
}
