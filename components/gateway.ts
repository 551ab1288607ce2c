import * as crypto from "crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { LOG_DRIVER, STOP_GRACE_SECONDS } from "./hardening";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { StackIdentity, engineName, stackLabels } from "./naming";

/** A published service as the gateway sees it. */
export interface GatewayBackend {
    /** The spec's name of the service. */
    readonly name: string;
    /** The engine's name of its swarm service: `tasks.<name>` resolves to its healthy tasks. */
    readonly serviceName: pulumi.Input<string>;
    /** The port the service listens on inside its tasks. */
    readonly port: number;
    /** Port on 127.0.0.1 to publish it at; default a port derived from the stack and service names. */
    readonly hostPort?: number;
}

export interface GatewayArgs {
    readonly identity: StackIdentity;
    /** The stack's edge network (attachable overlay), which the published services join too. */
    readonly network: StackNetwork;
    /** The nginx image. */
    readonly image: LocalImage;
    readonly backends: GatewayBackend[];
    /** Address the ports are published on. Default 127.0.0.1: nothing outside the machine reaches the stack unless asked. */
    readonly bindAddress?: string;
    /** Host name in the endpoint URLs; default the bind address (a server's name when it binds 0.0.0.0). */
    readonly endpointHost?: string;
    /** Memory limit in MiB. Default 64. */
    readonly memoryMb?: number;
    /** The node of `opsbook:engine.nodes` it runs on; undefined: the manager (whose gateway keeps the name it always had). */
    readonly node?: string;
}

/** First listen port inside the gateway; services take consecutive ports in name order. */
const FIRST_LISTEN_PORT = 10001;
/** Derived host ports fall in [20000, 30000): above the usual services, below the engine's ephemeral range. */
const HOST_PORT_BASE = 20000;
const HOST_PORT_SPAN = 10000;

/** Listen ports by service, stable for a given set of services. Pure. */
export function listenPorts(names: string[]): Record<string, number> {
    return Object.fromEntries([...names].sort().map((name, i) => [name, FIRST_LISTEN_PORT + i]));
}

/**
 * The host port of a published service when the spec gives none: derived from the project, stack
 * and service names, so it is the same on every deploy and after every engine restart (an
 * endpoint, once given, never moves). Pure.
 */
export function derivedHostPort(identity: StackIdentity, service: string): number {
    const digest = crypto.createHash("sha256").update(`${identity.project}/${identity.stack}/${service}`).digest();
    return HOST_PORT_BASE + (digest.readUInt32BE(0) % HOST_PORT_SPAN);
}

/** `GATEWAY_ROUTES` for the gateway image: `<service>=<listen port>=tasks.<swarm service>:<port>`, space-separated. */
export function gatewayRoutes(routes: { name: string; listenPort: number; serviceName: string; port: number }[]): string {
    return routes.map((r) => `${r.name}=${r.listenPort}=tasks.${r.serviceName}:${r.port}`).join(" ");
}

/**
 * The stack's traffic entry point on one node: one nginx, a standalone container on the stack's
 * edge network, publishing every http service on 127.0.0.1 at a port that never moves. (Each
 * traffic node has its own: a swarm service could publish only on every address of a node, with
 * no 127.0.0.1 binding.) It resolves each
 * service's healthy tasks through the engine's DNS (`tasks.<service>`) at request time, so a
 * release needs no change here: Swarm adds a new task to DNS once it is healthy and removes an
 * old one before stopping it, and a request refused by a stopping task is sent to another.
 * The gateway itself is replaced only when the set of services, their ports or its image change.
 */
export class Gateway extends pulumi.ComponentResource {
    /** Base URL per service, on the bind address. */
    public readonly urls: pulumi.Output<Record<string, string>>;
    public readonly containerName: pulumi.Output<string>;

    constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Gateway", name, {}, opts);
        const bind = args.bindAddress ?? "127.0.0.1";
        const listen = listenPorts(args.backends.map((b) => b.name));
        const hostPorts = Object.fromEntries(args.backends.map((b) => [b.name, b.hostPort ?? derivedHostPort(args.identity, b.name)]));
        const byPort = new Map<number, string>();
        for (const [svc, port] of Object.entries(hostPorts)) {
            const other = byPort.get(port);
            if (other) {
                throw new pulumi.ResourceError(`\`services.${other}\` and \`services.${svc}\` would share host port ${port}; set \`services.${svc}.hostPort\` to another port.`, this);
            }
            byPort.set(port, svc);
        }
        const routes = pulumi
            .all(args.backends.map((b) => pulumi.output(b.serviceName)))
            .apply((names) => gatewayRoutes(args.backends.map((b, i) => ({ name: b.name, listenPort: listen[b.name], serviceName: names[i], port: b.port }))));
        const labels = stackLabels(args.identity, "gateway");
        const container = new docker.Container(
            `${name}-nginx`,
            {
                name: args.node ? engineName(args.identity, "gateway", args.node) : engineName(args.identity, "gateway"),
                image: args.image.id,
                envs: [pulumi.interpolate`GATEWAY_ROUTES=${routes}`],
                labels: Object.entries({ ...labels, "opsbook.image-ref": args.image.reference }).map(([label, value]) => ({ label, value })),
                networksAdvanced: [{ name: args.network.name, aliases: ["gateway"] }],
                ports: args.backends.map((b) => ({ internal: listen[b.name], external: hostPorts[b.name], ip: bind, protocol: "tcp" })),
                healthcheck: {
                    tests: ["CMD", "bash", "-c", 'exec 3<>/dev/tcp/127.0.0.1/9901 && printf "GET /ready HTTP/1.0\\r\\n\\r\\n" >&3 && grep -q " 200 " <&3'],
                    interval: "2s",
                    timeout: "3s",
                    retries: 3,
                    startPeriod: "30s",
                },
                wait: true,
                waitTimeout: 60,
                mustRun: true,
                restart: "unless-stopped",
                readOnly: true,
                // nginx renders its config and keeps its temporary files here.
                tmpfs: { "/tmp": "rw,noexec,nosuid,size=16m" },
                capabilities: { drops: ["ALL"] },
                securityOpts: ["no-new-privileges"],
                memory: args.memoryMb ?? 64,
                // No swap: the same limit the swarm services get.
                memorySwap: args.memoryMb ?? 64,
                logDriver: LOG_DRIVER.name as string,
                logOpts: LOG_DRIVER.options as Record<string, string>,
                stopTimeout: STOP_GRACE_SECONDS,
                stopSignal: "SIGQUIT",
            },
            // Its ports are the stack's URLs: never two gateways at once.
            { parent: this, deleteBeforeReplace: true },
        );
        this.urls = pulumi.output(Object.fromEntries(args.backends.map((b) => [b.name, `http://${args.endpointHost ?? bind}:${hostPorts[b.name]}`])));
        this.containerName = container.name;
        this.registerOutputs({ urls: this.urls, containerName: this.containerName });
    }
}
