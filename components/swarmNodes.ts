// The servers of a stack's swarm beyond its manager (`opsbook:engine.nodes`): each joined with the
// swarm's own join token and labelled, as is the manager, with which node it is and whether it
// holds the stack's data (components/naming.ts stackNodeLabels). Services find their nodes by
// those labels (components/swarmService.ts placement).
import * as pulumi from "@pulumi/pulumi";
import { EngineConnection } from "../providers/engineCli";
import { SwarmNode } from "../providers/swarmNode";
import { parseEngineHost } from "./engineHost";
import { StackIdentity, stackNodeLabels } from "./naming";
import { Spec } from "./spec";

export interface SwarmNodesArgs {
    readonly identity: StackIdentity;
    readonly engine: Spec["engine"];
    /** The manager's connection (undefined: this machine's engine). */
    readonly manager: EngineConnection | undefined;
    /** Every node's connection, by its name in `opsbook:engine.nodes` (components/engine.ts connectNodes). */
    readonly nodes: Record<string, EngineConnection>;
}

export class SwarmNodes extends pulumi.ComponentResource {
    /** The swarm IDs of every node of the stack, the manager first; resolves once all are joined and labelled. */
    public readonly nodeIds: pulumi.Output<string[]>;

    constructor(name: string, args: SwarmNodesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:SwarmNodes", name, {}, opts);
        const labels = stackNodeLabels(args.identity);
        const labelsOf = (node: string) => ({ [labels.node]: node, ...(args.engine.dataNode === node ? { [labels.data]: "true" } : {}) });
        const manager = new SwarmNode(`${name}-manager`, { name: "manager", manager: args.manager, node: undefined, labels: labelsOf("manager") }, { parent: this });
        const members = Object.entries(args.nodes)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([node, connection]) => {
                const parsed = parseEngineHost(args.engine.nodes[node].host);
                const hostname = "kind" in parsed && parsed.kind === "ssh" ? parsed.hostname : undefined;
                return new SwarmNode(
                    `${name}-${node}`,
                    { name: node, manager: args.manager, node: connection, advertiseAddress: args.engine.nodes[node].advertiseAddress ?? hostname, labels: labelsOf(node) },
                    // Joined after the manager is labelled: a data node is never missing while services wait for it.
                    { parent: this, dependsOn: [manager] },
                );
            });
        this.nodeIds = pulumi.all([manager.nodeId, ...members.map((m) => m.nodeId)]);
        this.registerOutputs({ nodeIds: this.nodeIds });
    }
}
