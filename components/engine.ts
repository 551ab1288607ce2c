// The stack's Docker engine: checked before anything is registered, and given as one explicit
// docker provider to every docker resource of the stack, and as one connection to every docker
// CLI call the stack makes (providers/engineCli.ts). `opsbook:engine.host` names it; the local
// socket by default, or a server over SSH (components/engineHost.ts says what is accepted).
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { EngineConnection, dockerCli } from "../providers/engineCli";
import { LOCAL_ENGINE_HOST, parseEngineHost, sshOptions } from "./engineHost";
import { EngineTlsSecrets, engineTlsDir } from "./engineTls";
import { Spec } from "./spec";

export interface StackEngine {
    /** The docker provider every docker resource of the stack uses. */
    readonly provider: docker.Provider;
    /**
     * The connection for docker CLI calls; undefined for the local default engine, so that the
     * state of stacks deployed before engines could be named does not change.
     */
    readonly connection: EngineConnection | undefined;
    /** True when the engine is not this machine's: images built here must be delivered to it. */
    readonly remote: boolean;
    /** The manager's data root (`DockerRootDir`): where its named volumes live. */
    readonly dataRoot: string;
}

/** What a failed `docker info` over the connection means, in the user's terms. Pure. */
export function engineFailureHint(stderr: string, host: string): string {
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* has changed/i.test(stderr)) {
        return "the server's host key is not the one in `opsbook:engine.knownHosts`: check that the address is the server's, and fetch its key again as the README says (the connection was refused, nothing was sent)";
    }
    if (/Permission denied \(publickey/i.test(stderr)) {
        return "the server refused the key: add its public key to the user's ~/.ssh/authorized_keys on the server, and load the private key into ssh-agent (`ssh-add`) or name it in `opsbook:engine.identityFile`";
    }
    if (host.startsWith("tcp://")) {
        if (/certificate signed by unknown authority|certificate verify failed/i.test(stderr)) {
            return "the engine's certificate is not signed by the CA in `opsbook:ENGINE_TLS_CA`: set the CA that signed the engine's certificate (the connection was refused, nothing was sent)";
        }
        if (/certificate is valid for|doesn't contain any IP SANs|not valid for any names/i.test(stderr)) {
            return `the engine's certificate does not name ${host.replace(/^tcp:\/\//, "").replace(/:\d+$/, "")}: give \`opsbook:engine.host\` a name or address the certificate holds, or have the engine's certificate made for it`;
        }
        if (/bad certificate|certificate required|unknown certificate authority|tls: .*certificate/i.test(stderr)) {
            return "the engine refused the client certificate: `opsbook:ENGINE_TLS_CERT` and `opsbook:ENGINE_TLS_KEY` must be a pair signed by the CA the engine's --tlscacert names";
        }
        if (/HTTP response to HTTPS client|server gave HTTP response/i.test(stderr)) {
            return "the engine answers without TLS there, which opsbook never uses: start dockerd with --tlsverify, --tlscacert, --tlscert and --tlskey (README, \"A server over TLS\")";
        }
        if (/Connection timed out|i\/o timeout|No route to host|connection refused|no such host|Network is unreachable/i.test(stderr)) {
            return `no engine answered at ${host.replace(/^tcp:\/\//, "")}: check the address and port, and that dockerd listens there (-H tcp://0.0.0.0:2376 --tlsverify)`;
        }
    }
    if (/Connection timed out|Operation timed out|No route to host|Connection refused|Could not resolve hostname|Network is unreachable/i.test(stderr)) {
        return `no SSH server answered at ${host.replace(/^ssh:\/\//, "")}: check the address and port, and that sshd runs there`;
    }
    if (/docker: (command )?not found|dial-stdio/i.test(stderr) && host.startsWith("ssh://")) {
        return "SSH worked, but the server's `docker` did not answer: install Docker there and give the SSH user access to its socket";
    }
    if (/Cannot connect to the Docker daemon|no such file or directory/i.test(stderr)) {
        return host === LOCAL_ENGINE_HOST ? "start the engine, e.g. with 'eval \"$(npm run -s toolchain)\"'" : "start dockerd there";
    }
    return "see the error above";
}

/** The ssh options for a host of the stack's config: its known_hosts line and key file (`~/` expanded). */
function stackSshOptions(host: { readonly knownHosts?: string; readonly identityFile?: string }): string[] {
    return sshOptions(host.knownHosts ?? "", host.identityFile?.replace(/^~\//, `${process.env.HOME ?? ""}/`));
}

/** The last lines of a failed `docker info`, for the message that names the key (never empty). */
function failureDetail(info: { code: number; stderr: string }): string {
    return info.stderr.trim().split("\n").filter(Boolean).slice(-2).join(" / ") || `exit ${info.code}`;
}

/**
 * The connection docker CLI calls use for a stack's engine: undefined for this machine's default
 * engine. Also what the `opsbook` CLI uses, so it acts on the engine the stack deploys to.
 */
export function engineConnection(spec: Spec["engine"]): EngineConnection | undefined {
    const parsed = parseEngineHost(spec.host);
    if ("kind" in parsed && parsed.kind === "tcp") {
        return { host: parsed.host, sshOptions: [], tlsDir: engineTlsDir(parsed.host) };
    }
    const ssh = "kind" in parsed && parsed.kind === "ssh" ? stackSshOptions(spec) : [];
    return spec.host === LOCAL_ENGINE_HOST ? undefined : { host: spec.host, sshOptions: ssh };
}

/** The connection to a node of `opsbook:engine.nodes` (always over SSH, as the spec requires). */
export function nodeConnection(node: Spec["engine"]["nodes"][string]): EngineConnection {
    return { host: node.host, sshOptions: stackSshOptions(node) };
}

/** Where one traffic node's gateway publishes, and the host name in its URLs. */
export interface TrafficNode {
    /** `manager`, or a name in `opsbook:engine.nodes`. */
    readonly node: string;
    readonly publishAddress: string;
    readonly endpointHost: string;
}

/** The host in a gateway's URLs: its publish address, or the server's name when it publishes on every address. Pure. */
function endpointHostOf(publishAddress: string, host: string): string {
    const parsed = parseEngineHost(host);
    return publishAddress === "0.0.0.0" && "kind" in parsed && parsed.kind !== "unix" ? parsed.hostname : publishAddress;
}

/** The traffic nodes of `opsbook:engine.trafficNodes`, in order (the first one's URLs are the stack's endpoints). Pure. */
export function trafficNodes(spec: Spec["engine"]): TrafficNode[] {
    return spec.trafficNodes.map((node) => {
        const { host, publishAddress } = node === "manager" ? spec : spec.nodes[node];
        return { node, publishAddress, endpointHost: endpointHostOf(publishAddress, host) };
    });
}

/** The docker provider's arguments for a connection: its host, and the ssh options an ssh:// one needs. */
function providerConnectionArgs(connection: EngineConnection): docker.ProviderArgs {
    return { host: connection.host, ...(connection.sshOptions.length > 0 ? { sshOpts: connection.sshOptions } : {}) };
}

/** The docker provider of a node of `opsbook:engine.nodes`, for what runs on that node alone (its gateway). */
export function nodeProvider(name: string, connection: EngineConnection): docker.Provider {
    return new docker.Provider(`engine-${name}`, providerConnectionArgs(connection));
}

/**
 * Checks that every node of `opsbook:engine.nodes` answers over SSH (a RunError naming the node's
 * key and what was tried, before any resource is registered); returns their connections by name.
 */
export async function connectNodes(spec: Spec["engine"]): Promise<Record<string, EngineConnection>> {
    const out: Record<string, EngineConnection> = {};
    await Promise.all(
        Object.entries(spec.nodes).map(async ([name, node]) => {
            const connection = nodeConnection(node);
            const info = await dockerCli(["info", "--format", "{{.Swarm.LocalNodeState}}"], { engine: connection, timeoutMs: 30_000 });
            if (info.code !== 0) {
                throw new pulumi.RunError(
                    `\`opsbook:engine.nodes.${name}.host\` (${node.host}) does not answer: ${engineFailureHint(info.stderr, node.host)}. Tried: ssh there, then \`docker info\`; it said: ${failureDetail(info)}`,
                );
            }
            out[name] = connection;
        }),
    );
    return out;
}

/**
 * Checks that the engine answers and is a swarm manager (a RunError naming `opsbook:engine.host`
 * and what was tried, before any resource is registered), then makes the stack's docker provider.
 */
export async function connectEngine(spec: Spec["engine"], tls?: EngineTlsSecrets): Promise<StackEngine> {
    const parsed = parseEngineHost(spec.host);
    if ("error" in parsed) {
        // The spec refuses it first; kept for callers that skip the spec.
        throw new pulumi.RunError(`\`opsbook:engine.host\` ${parsed.error}`);
    }
    const connection = engineConnection(spec);
    const tried =
        parsed.kind === "ssh"
            ? `ssh to ${parsed.user}@${parsed.hostname}:${parsed.port}, then \`docker info\` there`
            : parsed.kind === "tcp"
              ? `\`docker info\` at ${parsed.hostname}:${parsed.port} over TLS (the CA of ENGINE_TLS_CA, the client certificate of ENGINE_TLS_CERT)`
              : `\`docker info\` on ${parsed.socketPath}`;
    if (parsed.kind === "tcp" && !tls) {
        // config.ts refuses the stack first; kept for callers that skip it.
        throw new pulumi.RunError(`\`opsbook:engine.host\` (${spec.host}) is a tcp:// engine and the stack has no TLS material: set ENGINE_TLS_CA, ENGINE_TLS_CERT and ENGINE_TLS_KEY as secrets`);
    }
    const info = await dockerCli(["info", "--format", "{{json .Swarm}}\n{{.DockerRootDir}}"], { engine: connection, timeoutMs: 30_000 });
    if (info.code !== 0) {
        throw new pulumi.RunError(`\`opsbook:engine.host\` (${spec.host}) does not answer: ${engineFailureHint(info.stderr, spec.host)}. Tried: ${tried}; it said: ${failureDetail(info)}`);
    }
    const [swarmJson, dataRoot] = info.stdout.trim().split("\n");
    let swarm: { LocalNodeState?: string; ControlAvailable?: boolean } = {};
    try {
        swarm = JSON.parse(swarmJson || "{}");
    } catch {
        // reported below as "not a swarm manager"
    }
    if (swarm.ControlAvailable !== true) {
        const where = parsed.kind === "unix" ? "here" : `on ${parsed.hostname}`;
        throw new pulumi.RunError(
            `\`opsbook:engine.host\` (${spec.host}) answers but is not a swarm manager (swarm state: ${swarm.LocalNodeState || "unknown"}): ` +
                `opsbook deploys swarm services; run \`docker swarm init --advertise-addr <its address>\` ${where} (the toolchain does it for the local engine)`,
        );
    }
    const provider = new docker.Provider("engine", {
        // The local default stays implicit (the provider's own default, or DOCKER_HOST), as before.
        ...(connection ? providerConnectionArgs(connection) : {}),
        // The material itself, as secrets: a destroy from the state needs no file on this machine.
        ...(parsed.kind === "tcp" && tls ? { caMaterial: tls.ca, certMaterial: tls.cert, keyMaterial: tls.key } : {}),
    });
    return { provider, connection, remote: parsed.kind !== "unix", dataRoot: dataRoot?.trim() || "/var/lib/docker" };
}
