// opsbook-probe in a real swarm service: a FROM scratch image holding only a static test server
// (test/fixtures/probe-target/server.c), running as uid 10001 with a read-only root, gets the
// probe as a swarm config mounted at /opsbook-probe with mode 0555 and an exec-form health check.
// The task must reach `healthy` with the probe's line in the health log. The service is created
// through the Engine API: `docker service create --health-cmd` would make a shell-form check,
// and the image has no shell. Everything made here has a unique name and is removed afterwards.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT, docker, run, waitFor } from "./harness";

const SOCKET = "/var/run/docker.sock";
const PORT = 8080;

/** One Engine API call over the local socket; resolves with the status and parsed JSON body. */
function engine(method: string, apiPath: string, body?: unknown): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? undefined : JSON.stringify(body);
        const req = http.request(
            { socketPath: SOCKET, method, path: apiPath, headers: data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {} },
            (res) => {
                let text = "";
                res.setEncoding("utf8");
                res.on("data", (c: string) => (text += c));
                res.on("end", () => {
                    let parsed: any = text;
                    try {
                        parsed = JSON.parse(text);
                    } catch {
                        // not JSON
                    }
                    resolve({ status: res.statusCode ?? 0, body: parsed });
                });
            },
        );
        req.on("error", reject);
        req.end(data);
    });
}

describe("opsbook-probe as a swarm config in a scratch image", () => {
    const id = crypto.randomBytes(3).toString("hex");
    const name = `opsbook-e2e-probe-${id}`;
    const image = `opsbook-e2e-probe-target:${id}`;
    const configName = `${name}-probe`;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-e2e-probe-"));
    let serviceCreated = false;
    let configCreated = false;
    let imageBuilt = false;

    before(async () => {
        const swarm = await docker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}");
        assert.equal(swarm.code, 0, `the Docker engine does not answer: ${swarm.stderr}`);
        assert.equal(swarm.stdout.trim(), "active true", "this test needs the local engine to be a swarm manager (scripts/lib/swarm.sh)");

        const out = execFileSync("bash", [path.join(ROOT, "scripts/lib/probe.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
        const probe = /^export OPSBOOK_PROBE="([^"]+)"$/m.exec(out)?.[1];
        assert.ok(probe, `probe.sh printed ${JSON.stringify(out)}`);

        // The target image: one static binary, nothing else (no shell, no libc, no curl).
        execFileSync("musl-gcc", ["-static", "-Os", "-s", "-o", path.join(work, "server"), path.join(ROOT, "test/fixtures/probe-target/server.c")], { stdio: "inherit" });
        fs.writeFileSync(path.join(work, "Dockerfile"), `FROM scratch\nCOPY server /server\nUSER 10001:10001\nEXPOSE ${PORT}\nENTRYPOINT ["/server", "${PORT}"]\n`);
        // The classic builder, as scripts/lib/images.sh uses: nothing to pull for FROM scratch.
        const build = await run("docker", ["build", "--quiet", "--label", "opsbook.test=probe-e2e", "-t", image, work], { env: { ...process.env, DOCKER_BUILDKIT: "0" } });
        assert.equal(build.code, 0, build.stderr);
        imageBuilt = true;

        const cfg = await docker("config", "create", "--label", "opsbook.test=probe-e2e", configName, probe);
        assert.equal(cfg.code, 0, cfg.stderr);
        configCreated = true;
    });

    after(async () => {
        if (serviceCreated) {
            await docker("service", "rm", name);
            // The task's container goes away asynchronously; the config and image are in use until then.
            for (let i = 0; i < 60; i++) {
                const left = await docker("ps", "-aq", "--filter", `label=com.docker.swarm.service.name=${name}`);
                if (left.stdout.trim() === "") break;
                await new Promise((r) => setTimeout(r, 500));
            }
        }
        if (configCreated) await docker("config", "rm", configName);
        if (imageBuilt) await docker("image", "rm", "-f", image);
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("reaches healthy with an exec-form check of the mounted probe", { timeout: 120_000 }, async () => {
        const configId = (await docker("config", "inspect", "-f", "{{.ID}}", configName)).stdout.trim();
        const spec = {
            Name: name,
            Labels: { "opsbook.test": "probe-e2e" },
            TaskTemplate: {
                ContainerSpec: {
                    Image: image,
                    User: "10001:10001",
                    ReadOnly: true,
                    StopGracePeriod: 2e9,
                    Configs: [{ File: { Name: "/opsbook-probe", UID: "0", GID: "0", Mode: 0o555 }, ConfigID: configId, ConfigName: configName }],
                    Healthcheck: { Test: ["CMD", "/opsbook-probe", `http://127.0.0.1:${PORT}/health`, "--timeout", "2"], Interval: 1e9, Timeout: 3e9, Retries: 3 },
                },
                RestartPolicy: { Condition: "none" },
            },
            Mode: { Replicated: { Replicas: 1 } },
        };
        const created = await engine("POST", "/services/create", spec);
        assert.equal(created.status, 201, JSON.stringify(created.body));
        serviceCreated = true;

        const health = await waitFor(
            `service ${name}'s task healthy`,
            90,
            async () => {
                const ps = await docker("ps", "-q", "--filter", `label=com.docker.swarm.service.name=${name}`);
                const container = ps.stdout.trim().split("\n")[0];
                if (!container) return { Status: "no container yet", Log: [] as Array<{ ExitCode: number; Output: string }> };
                const h = await docker("inspect", "-f", "{{json .State.Health}}", container);
                return JSON.parse(h.stdout) as { Status: string; Log: Array<{ ExitCode: number; Output: string }> };
            },
            (h) => h.Status === "healthy",
        );
        const last = health.Log[health.Log.length - 1];
        assert.equal(last.ExitCode, 0);
        assert.match(last.Output, /^opsbook-probe: healthy: HTTP 200 OK from 127\.0\.0\.1:8080\/health in \d+ ms\n$/);
    });
});
