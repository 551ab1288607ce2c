// A stand-in for the Docker engine's image lookup, on a unix socket, for tests that run the
// program under Pulumi mocks: the program asks the docker CLI (`docker info` to check it is a
// swarm manager, `docker image inspect`), which pings the engine and then asks GET /v<api>/info
// and GET /v<api>/images/<name>/json. Only those are answered;
// anything else is a test bug and answers 500 with the path so the failure says what was asked.
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";

export interface FakeEngine {
    socketPath: string;
    requests: string[];
    close(): Promise<void>;
}

export async function startFakeEngine(images: Record<string, string>): Promise<FakeEngine> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-fake-engine-"));
    const socketPath = path.join(dir, "docker.sock");
    const requests: string[] = [];
    const server = http.createServer((req, res) => {
        const url = (req.url ?? "").replace(/^\/v\d+\.\d+/, "");
        requests.push(`${req.method} ${url}`);
        if (process.env.FAKE_ENGINE_DEBUG) console.error("fake engine:", req.method, req.url);
        if (url === "/_ping") {
            res.writeHead(200, { "Api-Version": "1.41", "Content-Type": "text/plain", "Docker-Experimental": "false", "Ostype": "linux" });
            res.end(req.method === "HEAD" ? undefined : "OK");
            return;
        }
        if (req.method === "GET" && url === "/info") {
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ ServerVersion: "20.10.24", Swarm: { LocalNodeState: "active", ControlAvailable: true } }));
            return;
        }
        const match = /^\/images\/(.+)\/json$/.exec(url);
        if (req.method === "GET" && match) {
            const name = decodeURIComponent(match[1]);
            const id = images[name];
            res.writeHead(id ? 200 : 404, { "Content-Type": "application/json" });
            res.end(JSON.stringify(id ? { Id: id, RepoTags: [name] } : { message: `No such image: ${name}` }));
            return;
        }
        res.writeHead(500);
        res.end(JSON.stringify({ message: `fake engine: unexpected ${req.method} ${req.url}` }));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    return {
        socketPath,
        requests,
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
}
