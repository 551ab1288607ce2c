// `opsbook:engine`: which hosts are accepted, what a known_hosts line must be, the ssh options
// every connection gets, and the spec's messages (which name the key and say how to fix it).
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { engineConnection, engineFailureHint } from "../../components/engine";
import { engineTlsDir, engineTlsProblems } from "../../components/engineTls";
import { LOCAL_ENGINE_HOST, knownHostsProblems, parseEngineHost, sshOptions } from "../../components/engineHost";
import { parseSpec } from "../../components/spec";
import { specProblems } from "./specProblems";

const KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIEsuReh3C1ajYG0+Xip1Vu82VZoVQ96ubnDhwSZrpqs5";
const SERVICES = { api: { env: { APP_ROLE: "api" } } };

function problems(engine: unknown): string[] {
    return specProblems({ engine, services: SERVICES });
}

describe("opsbook:engine.host", () => {
    it("accepts the local socket (the default) and ssh://user@host[:port]", () => {
        assert.deepEqual(parseEngineHost(LOCAL_ENGINE_HOST), { kind: "unix", host: LOCAL_ENGINE_HOST, socketPath: "/var/run/docker.sock" });
        assert.deepEqual(parseEngineHost("ssh://deploy@203.0.113.7"), { kind: "ssh", host: "ssh://deploy@203.0.113.7", user: "deploy", hostname: "203.0.113.7", port: 22 });
        assert.deepEqual(parseEngineHost("ssh://deploy@srv.example.com:2222/"), {
            kind: "ssh",
            host: "ssh://deploy@srv.example.com:2222",
            user: "deploy",
            hostname: "srv.example.com",
            port: 2222,
        });
        assert.equal(parseSpec({ services: SERVICES }).engine.host, LOCAL_ENGINE_HOST);
        assert.equal(parseSpec({ services: SERVICES }).engine.publishAddress, "127.0.0.1");
    });

    it("accepts tcp://host[:port] (always with TLS), port 2376 by default", () => {
        assert.deepEqual(parseEngineHost("tcp://203.0.113.7"), { kind: "tcp", host: "tcp://203.0.113.7:2376", hostname: "203.0.113.7", port: 2376 });
        assert.deepEqual(parseEngineHost("tcp://docker.example.com:12376/"), { kind: "tcp", host: "tcp://docker.example.com:12376", hostname: "docker.example.com", port: 12376 });
        assert.equal(engineConnection(parseSpec({ engine: { host: "tcp://203.0.113.7" }, services: SERVICES }).engine)?.tlsDir, engineTlsDir("tcp://203.0.113.7:2376"));
    });

    it("refuses the engine API without TLS (port 2375), a host without a user, and anything else, saying what is accepted", () => {
        for (const [host, why] of [
            ["tcp://203.0.113.7:2375", /port for an engine API without TLS, which opsbook never uses/],
            ["tcp://deploy@203.0.113.7", /not of the form tcp:\/\/host\[:port\]/],
            ["ssh://203.0.113.7", /a user is required/],
            ["ssh://deploy@203.0.113.7:70000", /outside 1-65535/],
            ["203.0.113.7", /is not an engine address/],
            ["unix://docker.sock", /no absolute socket path/],
        ] as const) {
            const [problem] = problems({ host });
            assert.match(problem, /^`opsbook:engine\.host` /, host);
            assert.match(problem, why, host);
            assert.match(problem, /ssh:\/\/user@host\[:port\]/, host);
        }
    });
});

describe("a tcp:// engine's TLS material", () => {
    const PEM = { "ca.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "cert.pem": "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----", "key.pem": "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----" };

    it("takes the three secrets in PEM form", () => {
        assert.deepEqual(engineTlsProblems(PEM, new Set()), []);
        assert.deepEqual(engineTlsProblems({ ...PEM, "key.pem": "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----" }, new Set()), []);
    });

    it("names each missing, plain or malformed secret and how to set it, never quoting a value", () => {
        const missing = engineTlsProblems({ "ca.pem": PEM["ca.pem"] }, new Set());
        assert.equal(missing.length, 2);
        assert.match(missing[0], /^`opsbook:ENGINE_TLS_CERT` is required for a tcp:\/\/ engine \(`opsbook:engine\.host`\).*pulumi config set --secret ENGINE_TLS_CERT < cert\.pem/);
        assert.match(missing[1], /^`opsbook:ENGINE_TLS_KEY` is required/);
        assert.match(engineTlsProblems(PEM, new Set(["ENGINE_TLS_KEY"]))[0], /^`opsbook:ENGINE_TLS_KEY` is a secret but is stored in plain text/);
        const swapped = engineTlsProblems({ ...PEM, "key.pem": PEM["cert.pem"] }, new Set());
        assert.match(swapped[0], /^`opsbook:ENGINE_TLS_KEY` is not the client certificate's private key in PEM form \(no `-----BEGIN PRIVATE KEY-----` line\)/);
        assert.ok(!swapped[0].includes("MIIC"));
    });

    it("explains a failed TLS connection in the user's terms, naming the key", () => {
        const host = "tcp://203.0.113.7:2376";
        assert.match(engineFailureHint("tls: failed to verify certificate: x509: certificate signed by unknown authority", host), /not signed by the CA in `opsbook:ENGINE_TLS_CA`/);
        assert.match(engineFailureHint("remote error: tls: bad certificate", host), /refused the client certificate: `opsbook:ENGINE_TLS_CERT` and `opsbook:ENGINE_TLS_KEY`/);
        assert.match(engineFailureHint("x509: certificate is valid for 10.0.0.1, not 203.0.113.7", host), /does not name 203\.0\.113\.7/);
        assert.match(engineFailureHint("dial tcp 203.0.113.7:2376: connect: connection refused", host), /no engine answered at 203\.0\.113\.7:2376/);
    });
});

describe("opsbook:engine.knownHosts", () => {
    const ssh = parseEngineHost("ssh://deploy@203.0.113.7") as Extract<ReturnType<typeof parseEngineHost>, { kind: "ssh" }>;
    const onPort = parseEngineHost("ssh://deploy@203.0.113.7:2222") as typeof ssh;

    it("is required for ssh://, one line naming the host (plainly, hashed, or [host]:port)", () => {
        assert.deepEqual(knownHostsProblems(ssh, `203.0.113.7 ssh-ed25519 ${KEY}`), []);
        assert.deepEqual(knownHostsProblems(ssh, `|1|c2FsdA==|aGFzaA== ssh-ed25519 ${KEY}`), []);
        assert.deepEqual(knownHostsProblems(onPort, `[203.0.113.7]:2222 ssh-ed25519 ${KEY}`), []);
        assert.match(knownHostsProblems(ssh, undefined)[0], /is required for an ssh:\/\/ engine.*ssh-keyscan -t ed25519 203\.0\.113\.7/);
        assert.match(knownHostsProblems(onPort, `203.0.113.7 ssh-ed25519 ${KEY}`)[0], /names `203\.0\.113\.7`, not `\[203\.0\.113\.7\]:2222`/);
        assert.match(knownHostsProblems(ssh, `203.0.113.7 ssh-ed25519 ${KEY}\n203.0.113.7 ssh-rsa ${KEY}`)[0], /exactly one known_hosts line/);
        assert.match(knownHostsProblems(ssh, `203.0.113.7 ssh-ed25519 ${KEY} root@server`)[0], /without a comment/);
    });

    it("is refused by the spec, under its key, when missing for ssh:// or given for the local socket", () => {
        assert.match(problems({ host: "ssh://deploy@203.0.113.7" })[0], /^`opsbook:engine\.knownHosts` is required/);
        assert.match(problems({ knownHosts: `203.0.113.7 ssh-ed25519 ${KEY}` })[0], /^`opsbook:engine\.knownHosts` is only for an ssh:\/\/ engine/);
        assert.match(problems({ host: "ssh://deploy@203.0.113.7", knownHosts: `203.0.113.7 ssh-ed25519 ${KEY}`, identityFile: "id_ed25519" })[0], /^`opsbook:engine\.identityFile` must be an absolute path/);
        assert.match(problems({ publishAddress: "example.com" })[0], /^`opsbook:engine\.publishAddress` must be an IPv4 address/);
        assert.match(problems({ hots: "x" })[0], /unknown key\(s\) `hots`/);
    });
});

describe("ssh options of an engine connection", () => {
    it("check the host key against the stack's line only, never prompt, and use the named key", () => {
        const opts = sshOptions(`203.0.113.7 ssh-ed25519 ${KEY}`, "/home/deploy/.ssh/id_ed25519");
        const o = (name: string) => opts.filter((_, i) => opts[i - 1] === "-o" && _.startsWith(`${name}=`)).map((v) => v.slice(name.length + 1));
        assert.deepEqual(o("StrictHostKeyChecking"), ["yes"]);
        assert.deepEqual(o("BatchMode"), ["yes"]);
        assert.deepEqual(o("UserKnownHostsFile"), ["/dev/null"]);
        assert.deepEqual(o("GlobalKnownHostsFile"), ["/dev/null"]);
        assert.deepEqual(o("KnownHostsCommand"), [`/bin/echo 203.0.113.7 ssh-ed25519 ${KEY}`]);
        assert.deepEqual(o("HostKeyAlgorithms"), ["ssh-ed25519"]);
        assert.equal(opts[opts.indexOf("-i") + 1], "/home/deploy/.ssh/id_ed25519");
        assert.ok(!opts.some((v) => /StrictHostKeyChecking=(no|accept-new)/.test(v)), "host key checking is never relaxed");
        assert.deepEqual(sshOptions(`203.0.113.7 ssh-rsa ${KEY}`).filter((v) => v.startsWith("HostKeyAlgorithms=")), ["HostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256"]);
        assert.ok(!sshOptions(`203.0.113.7 ssh-ed25519 ${KEY}`).includes("-i"), "without an identity file, the agent's keys are used");
    });

    it("explain a failed connection in the user's terms", () => {
        assert.match(engineFailureHint("Host key verification failed.", "ssh://a@b"), /not the one in `opsbook:engine\.knownHosts`/);
        assert.match(engineFailureHint("root@10.0.0.1: Permission denied (publickey).", "ssh://a@b"), /refused the key.*opsbook:engine\.identityFile/);
        assert.match(engineFailureHint("ssh: connect to host 10.0.0.1 port 22: Connection timed out", "ssh://root@10.0.0.1:22"), /no SSH server answered at root@10\.0\.0\.1:22/);
        assert.match(engineFailureHint("Cannot connect to the Docker daemon at unix:///var/run/docker.sock", LOCAL_ENGINE_HOST), /start the engine/);
    });
});

describe("opsbook:engine.nodes and dataNode", () => {
    const manager = { host: "ssh://deploy@203.0.113.7", knownHosts: `203.0.113.7 ssh-ed25519 ${KEY}` };
    const node = (address: string) => ({ host: `ssh://deploy@${address}`, knownHosts: `${address} ssh-ed25519 ${KEY}` });

    it("takes servers reached over SSH, each with its own host key line, and a data node among them", () => {
        const spec = parseSpec({ engine: { ...manager, nodes: { w2: node("203.0.113.8"), w3: node("203.0.113.9") }, dataNode: "w2" }, services: SERVICES });
        assert.deepEqual(Object.keys(spec.engine.nodes), ["w2", "w3"]);
        assert.equal(spec.engine.dataNode, "w2");
        assert.equal(parseSpec({ services: SERVICES }).engine.dataNode, "manager");
        assert.deepEqual(parseSpec({ services: SERVICES }).engine.nodes, {});
    });

    it("refuses a node that is not ssh://, one without its host key, a key naming another host, and a data node that is no node, naming each key", () => {
        assert.match(problems({ ...manager, nodes: { w2: { host: "unix:///var/run/docker.sock" } } })[0], /^`opsbook:engine\.nodes\.w2\.host` must be ssh:\/\/user@host\[:port\]: a node is a server reached over SSH/);
        assert.match(problems({ ...manager, nodes: { w2: { host: "ssh://deploy@203.0.113.8" } } })[0], /^`opsbook:engine\.nodes\.w2\.knownHosts` is required for a node.*ssh-keyscan -t ed25519 203\.0\.113\.8/);
        assert.match(
            problems({ ...manager, nodes: { w2: { host: "ssh://deploy@203.0.113.8", knownHosts: `203.0.113.7 ssh-ed25519 ${KEY}` } } })[0],
            /^`opsbook:engine\.nodes\.w2\.knownHosts` names `203\.0\.113\.7`, not `203\.0\.113\.8` \(the host of `opsbook:engine\.nodes\.w2\.host`\)/,
        );
        assert.match(problems({ ...manager, nodes: { w2: node("203.0.113.8") }, dataNode: "w9" })[0], /^`opsbook:engine\.dataNode` names `w9`, which is neither `manager` nor a node of `opsbook:engine\.nodes` \(w2\)/);
        assert.match(problems({ ...manager, nodes: { W2: node("203.0.113.8") } })[0], /^`opsbook:engine\.nodes\.W2` must be a node name/);
    });

    it("takes the traffic nodes among the manager and the nodes, the manager by default, each publishing on its own address", () => {
        const spec = parseSpec({ engine: { ...manager, nodes: { w2: { ...node("203.0.113.8"), publishAddress: "203.0.113.8" }, w3: node("203.0.113.9") }, trafficNodes: ["w2", "manager"] }, services: SERVICES });
        assert.deepEqual(spec.engine.trafficNodes, ["w2", "manager"]);
        assert.equal(spec.engine.nodes.w2.publishAddress, "203.0.113.8");
        assert.equal(spec.engine.nodes.w3.publishAddress, "127.0.0.1");
        assert.deepEqual(parseSpec({ services: SERVICES }).engine.trafficNodes, ["manager"]);
    });

    it("refuses traffic nodes that are no node, named twice, or none, naming the key", () => {
        const nodes = { w2: node("203.0.113.8") };
        assert.match(problems({ ...manager, nodes, trafficNodes: ["manager", "w9"] })[0], /^`opsbook:engine\.trafficNodes\.1` names `w9`, which is neither `manager` nor a node of `opsbook:engine\.nodes` \(w2\)/);
        assert.match(problems({ ...manager, nodes, trafficNodes: ["w2", "w2"] })[0], /^`opsbook:engine\.trafficNodes\.1` names `w2` twice/);
        assert.match(problems({ ...manager, nodes, trafficNodes: [] })[0], /^`opsbook:engine\.trafficNodes` must name at least one node/);
        assert.match(problems({ ...manager, nodes: { w2: { ...node("203.0.113.8"), publishAddress: "w2.example" } } })[0], /^`opsbook:engine\.nodes\.w2\.publishAddress` must be an IPv4 address of the node/);
    });
});
