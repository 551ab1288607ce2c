import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { StackIdentity, engineName, labelList, stackLabels } from "./naming";

/** One of the stack's networks: services join it by ID, one-shot jobs and containers by name. */
export interface StackNetwork {
    readonly name: pulumi.Output<string>;
    readonly id: pulumi.Output<string>;
}

export interface StackNetworksArgs {
    /** Which stack the networks belong to; names and labels derive from it. */
    readonly identity: StackIdentity;
    /** Encrypt the data network between nodes (IPsec). Default true. */
    readonly encryptData?: boolean;
}

/**
 * The stack's two overlay networks. `data`: Postgres, Redis, the services and the backup agent;
 * encrypted between nodes (unless `opsbook:engine.encryptDataNetwork` is false), and not attachable, so only the stack's own services join it. `edge`:
 * the gateway and the http services it routes to; attachable, because the gateway is a standalone
 * container published on 127.0.0.1 (a swarm service cannot publish on one address only).
 */
export class StackNetworks extends pulumi.ComponentResource {
    public readonly data: StackNetwork;
    public readonly edge: StackNetwork;

    constructor(name: string, args: StackNetworksArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:StackNetworks", name, {}, opts);
        const data = new docker.Network(
            `${name}-data`,
            {
                name: engineName(args.identity, "data"),
                driver: "overlay",
                attachable: false,
                // Without the option the overlay is plain VXLAN between nodes (on one node no
                // packet leaves the host either way).
                options: args.encryptData === false ? {} : { encrypted: "true" },
                labels: labelList(stackLabels(args.identity, "network")),
            },
            // The engine adds the VXLAN id it picked to the options, which would read as a change;
            // options are set once, at creation (a network cannot change them in place anyway).
            { parent: this, ignoreChanges: ["options"] },
        );
        const edge = new docker.Network(
            `${name}-edge`,
            {
                name: engineName(args.identity, "edge"),
                driver: "overlay",
                attachable: true,
                labels: labelList(stackLabels(args.identity, "network")),
            },
            { parent: this, ignoreChanges: ["options"] },
        );
        this.data = { name: data.name, id: data.id };
        this.edge = { name: edge.name, id: edge.id };
        this.registerOutputs({ dataNetwork: data.name, edgeNetwork: edge.name });
    }
}
