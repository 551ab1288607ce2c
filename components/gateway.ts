import * as pulumi from "@pulumi/pulumi";
import { Container, Volume } from "../providers/docker";
import { GatewayRoutes } from "../providers/gateway";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { HARDENED_DEFAULTS, healthCheck } from "./hardening";
import { LocalImage } from "./images";
import { StackIdentity, engineName, stackLabels } from "./naming";

/** A published service as the gateway sees it. */
export interface GatewayBackend {
    readonly name: string;
    /** The port the service listens on inside its containers. */
    readonly port: number;
    /** The service's current containers (all replicas). */
    readonly containerNames: pulumi.Input<string[]>;
}

export interface GatewayArgs {
    readonly identity: StackIdentity;
    readonly networkName: pulumi.Input<string>;
    /** The nginx image. */
    readonly image: LocalImage;
    readonly backends: GatewayBackend[];
    /** Memory limit in MiB. Default 64. */
    readonly memoryMb?: number;
}

/** First listen port inside the gateway; services take consecutive ports in name order. */
const FIRST_LISTEN_PORT = 10001;

/** Listen ports by service, stable for a given set of services. Pure. */
export function listenPorts(names: string[]): Record<string, number> {
    return Object.fromEntries([...names].sort().map((name, i) => [name, FIRST_LISTEN_PORT + i]));
}

/**
 * The stack's traffic entry point: one nginx that publishes every http service on 127.0.0.1 and
 * balances over its replicas. A release starts new containers beside the old ones; once they are
 * healthy the routes move to them with a graceful reload, and only then are the old containers
 * stopped (they finish their in-flight requests on SIGTERM). No request meets a stopped
 * container, and the URLs stay the same from one release to the next.
 */
export class Gateway extends pulumi.ComponentResource {
    /** Base URL per service, on 127.0.0.1. */
    public readonly urls: pulumi.Output<Record<string, string>>;
    public readonly containerName: pulumi.Output<string>;

    constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Gateway", name, {}, opts);
        const ports = listenPorts(args.backends.map((b) => b.name));
        const routesVolume = new Volume(
            `${name}-routes`,
            { name: engineName(args.identity, "gateway-routes"), labels: stackLabels(args.identity, "gateway") },
            { parent: this },
        );
        const container = new Container(
            `${name}-nginx`,
            {
                ...HARDENED_DEFAULTS,
                name: engineName(args.identity, "gateway"),
                image: args.image.id,
                imageName: args.image.reference,
                env: { GATEWAY_LISTEN: Object.entries(ports).map(([svc, port]) => `${svc}=${port}`).join(" ") },
                secretEnv: {},
                labels: stackLabels(args.identity, "gateway"),
                networks: [{ name: args.networkName, aliases: ["gateway"] }],
                publish: Object.values(ports),
                mounts: [{ volume: routesVolume.name, target: "/etc/opsbook-gateway", readOnly: false }],
                healthCheck: healthCheck([
                    "CMD",
                    "bash",
                    "-c",
                    'exec 3<>/dev/tcp/127.0.0.1/9901 && printf "GET /ready HTTP/1.0\\r\\n\\r\\n" >&3 && grep -q " 200 " <&3',
                ]),
                memoryMb: args.memoryMb ?? 64,
                waitHealthySeconds: 30,
                role: "gateway",
                envContract: EMPTY_ENV_CONTRACT,
            },
            // The URLs are the gateway's published ports: keep one gateway, replaced only when
            // the set of services or the image changes, and never two on one routes volume.
            { parent: this, deleteBeforeReplace: true },
        );
        const routes = new GatewayRoutes(
            `${name}-routes`,
            {
                gateway: container.id,
                routes: args.backends.map((b) => ({
                    service: b.name,
                    listenPort: ports[b.name],
                    hostPort: container.hostPorts.apply((h) => h[String(ports[b.name])]),
                    upstreams: pulumi.output(b.containerNames).apply((names) => names.map((n) => `${n}:${b.port}`)),
                })),
            },
            { parent: this },
        );
        this.urls = pulumi
            .all([container.hostPorts, routes.generation])
            .apply(([hostPorts]) =>
                Object.fromEntries(Object.entries(ports).map(([svc, port]) => [svc, `http://127.0.0.1:${hostPorts[String(port)]}`])),
            );
        this.containerName = container.containerName;
        this.registerOutputs({ urls: this.urls, containerName: this.containerName });
    }
}
