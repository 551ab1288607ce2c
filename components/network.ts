import * as pulumi from "@pulumi/pulumi";
import { Network } from "../providers/docker";
import { StackIdentity, engineName, stackLabels } from "./naming";

export interface PrivateNetworkArgs {
    /** Which stack the network belongs to; names and labels derive from it. */
    readonly identity: StackIdentity;
}

/**
 * The stack's own bridge network. Postgres and Redis are reachable only on it (by their aliases
 * `postgres` and `redis`); nothing outside the machine addresses them.
 */
export class PrivateNetwork extends pulumi.ComponentResource {
    /** The engine's name of the network, for containers to join. */
    public readonly networkName: pulumi.Output<string>;

    constructor(name: string, args: PrivateNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:PrivateNetwork", name, {}, opts);
        const network = new Network(
            `${name}-bridge`,
            { name: engineName(args.identity, "net"), labels: stackLabels(args.identity, "network") },
            { parent: this },
        );
        this.networkName = network.networkName;
        this.registerOutputs({ networkName: this.networkName });
    }
}
