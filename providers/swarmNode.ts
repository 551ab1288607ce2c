// A server in the stack's swarm: joined with the swarm's own worker join token and labelled for the
// stack (which node it is, and whether it holds the stack's data). Custom because @pulumi/docker
// has no resource for swarm membership or node labels (its provider manages objects inside a
// swarm, not the swarm's nodes). The join token travels in an Engine API request body over the
// node's SSH connection only: never on a command line, in the state or in a message.
// Deleting it takes the stack's labels off the node and leaves the node in the swarm: taking a
// server out is a runbook step (drain, then `docker swarm leave`), not a side effect of a deploy.
// Only Node built-ins and engineCli: dynamic providers are serialized into the state.
import * as pulumi from "@pulumi/pulumi";
import { EngineConnection, dockerCli, engineApi } from "./engineCli";

export interface SwarmNodeInputs {
    /** The name in `opsbook:engine.nodes`, or `manager`; named in messages and the node label. */
    name: string;
    /** The stack's manager (undefined: this machine's engine). */
    manager: EngineConnection | undefined;
    /** The node's own engine; undefined when the node is the manager itself. */
    node: EngineConnection | undefined;
    /** The address the node advertises to the swarm (joining nodes only). */
    advertiseAddress?: string;
    /** Labels the stack sets on the node (and takes off on delete). */
    labels: Record<string, string>;
}

export interface SwarmNodeOutputs extends SwarmNodeInputs {
    /** The swarm's ID of the node. */
    nodeId: string;
    /** `joined` when this deploy joined it, `member` when it was in the swarm already. */
    membership: "joined" | "member";
}

interface SwarmInfo {
    LocalNodeState?: string;
    NodeID?: string;
    NodeAddr?: string;
    Cluster?: { ID?: string };
    RemoteManagers?: { Addr: string }[] | null;
}

async function swarmInfo(engine: EngineConnection | undefined, what: string): Promise<SwarmInfo> {
    const answer = await engineApi(engine, "GET", "/info");
    if (answer.status !== 200) {
        throw new Error(`${what} (${engine?.host ?? "this machine's engine"}) answered /info with HTTP ${answer.status}: ${answer.text}`);
    }
    return ((answer.json as { Swarm?: SwarmInfo }).Swarm ?? {}) as SwarmInfo;
}

/** Joins the node to the manager's swarm unless it is in it; refuses a node of another swarm. */
async function ensureMember(inputs: SwarmNodeInputs): Promise<{ nodeId: string; membership: "joined" | "member" }> {
    const manager = await swarmInfo(inputs.manager, "the manager");
    const clusterId = manager.Cluster?.ID;
    if (!clusterId || !manager.NodeID) {
        throw new Error(`the manager (${inputs.manager?.host ?? "this machine's engine"}) is not a swarm manager`);
    }
    if (!inputs.node) {
        return { nodeId: manager.NodeID, membership: "member" };
    }
    const where = `node \`${inputs.name}\` (${inputs.node.host}, \`opsbook:engine.nodes.${inputs.name}\`)`;
    const before = await swarmInfo(inputs.node, where);
    if (before.LocalNodeState === "active" && before.Cluster?.ID === clusterId && before.NodeID) {
        return { nodeId: before.NodeID, membership: "member" };
    }
    if (before.LocalNodeState === "active" || before.LocalNodeState === "pending") {
        // A worker does not see its swarm's cluster ID; ask the manager whether it knows the node.
        const known = before.NodeID ? await engineApi(inputs.manager, "GET", `/nodes/${before.NodeID}`) : undefined;
        if (known?.status === 200 && before.NodeID) {
            return { nodeId: before.NodeID, membership: "member" };
        }
        throw new Error(`${where} is in another swarm: make it leave that one first (\`docker swarm leave\` on it, after moving what runs there), then deploy again`);
    }
    const swarm = await engineApi(inputs.manager, "GET", "/swarm");
    const token = (swarm.json as { JoinTokens?: { Worker?: string } } | undefined)?.JoinTokens?.Worker;
    if (swarm.status !== 200 || !token) {
        throw new Error(`the manager gave no worker join token (HTTP ${swarm.status})`);
    }
    const managerAddress = manager.RemoteManagers?.find((m) => m.Addr)?.Addr ?? `${manager.NodeAddr}:2377`;
    const joined = await engineApi(inputs.node, "POST", "/swarm/join", {
        ListenAddr: "0.0.0.0:2377",
        AdvertiseAddr: inputs.advertiseAddress,
        RemoteAddrs: [managerAddress],
        JoinToken: token,
    });
    if (joined.status !== 200) {
        // The engine's message names the manager's address and what failed, never the token.
        throw new Error(`${where} could not join the swarm at ${managerAddress}: HTTP ${joined.status} ${joined.text.split(token).join("<join token>")}`);
    }
    const after = await swarmInfo(inputs.node, where);
    if (!after.NodeID) {
        throw new Error(`${where} joined, but reports no node ID`);
    }
    return { nodeId: after.NodeID, membership: "joined" };
}

async function setLabels(manager: EngineConnection | undefined, nodeId: string, add: Record<string, string>, remove: string[]): Promise<void> {
    const args = [...Object.entries(add).flatMap(([k, v]) => ["--label-add", `${k}=${v}`]), ...remove.flatMap((k) => ["--label-rm", k])];
    if (args.length === 0) {
        return;
    }
    const res = await dockerCli(["node", "update", ...args, nodeId], { engine: manager });
    if (res.code !== 0) {
        throw new Error(`labelling node ${nodeId}: ${res.stderr.trim()}`);
    }
}

async function apply(inputs: SwarmNodeInputs, old?: SwarmNodeOutputs): Promise<SwarmNodeOutputs> {
    const { nodeId, membership } = await ensureMember(inputs);
    const stale = old && old.nodeId === nodeId ? Object.keys(old.labels).filter((k) => !(k in inputs.labels)) : [];
    await setLabels(inputs.manager, nodeId, inputs.labels, stale);
    if (old && old.nodeId !== nodeId) {
        // Another server under this name: the one it replaces gives up the stack's labels, after
        // the new one has them (so a service is never left with no node to run on).
        await takeLabelsOff(inputs.manager, old.nodeId, Object.keys(old.labels));
    }
    return { ...inputs, nodeId, membership };
}

/** Takes the stack's labels off a node, unless the node is gone from the swarm already. */
async function takeLabelsOff(manager: EngineConnection | undefined, nodeId: string, keys: string[]): Promise<void> {
    const res = await dockerCli(["node", "inspect", "--format", "{{.ID}}", nodeId], { engine: manager });
    if (res.code === 0) {
        await setLabels(manager, nodeId, {}, keys);
    }
}

const swarmNodeProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: SwarmNodeInputs) {
        const outs = await apply(inputs);
        return { id: outs.nodeId, outs };
    },
    async diff(_id: string, olds: SwarmNodeOutputs, news: SwarmNodeInputs) {
        const changes =
            JSON.stringify([olds.manager, olds.node, olds.advertiseAddress, olds.labels]) !== JSON.stringify([news.manager, news.node, news.advertiseAddress, news.labels]);
        // Never replaced, always updated in place (apply moves the labels when the name now means
        // another server). A replacement would create the new resource and then delete the old,
        // and the delete takes the labels off: off the very node the new one had just labelled
        // when only the way to reach it changed (a new host key line, another key file). Swarm
        // then stops every task whose placement needs those labels, Postgres's among them.
        return { changes, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, olds: SwarmNodeOutputs, news: SwarmNodeInputs) {
        return { outs: await apply(news, olds) };
    },
    async delete(id: string, olds: SwarmNodeOutputs) {
        // The node it labels now (an update may have moved it to another server than the id's).
        await takeLabelsOff(olds.manager, olds.nodeId ?? id, Object.keys(olds.labels));
    },
};

/** A node of the stack's swarm, joined and labelled. */
export class SwarmNode extends pulumi.dynamic.Resource {
    declare public readonly nodeId: pulumi.Output<string>;
    declare public readonly membership: pulumi.Output<string>;

    constructor(name: string, args: { [K in keyof SwarmNodeInputs]: pulumi.Input<SwarmNodeInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
        super(swarmNodeProvider, name, { nodeId: undefined, membership: undefined, ...args }, opts, "opsbook", "SwarmNode");
    }
}
