// What the stack promises about Docker Swarm, checked against the real engine while it happens:
//  a. a release whose new image fails its health check fails `pulumi up` with a rollback message,
//     the old release keeps serving under load with 0 failed requests, and the service runs the
//     previous spec;
//  b. never two Postgres servers on one data volume: polled every ~100 ms (and read back from the
//     engine's container events) during a Postgres update and during a replacement;
//  c. endpoints never move: after the gateway container restarts and every service's tasks are
//     replaced out of band (`docker service update --force`), the same ports answer and `pulumi up`
//     finds nothing to change;
//  c3. and across a real engine restart (dockerd stopped with SIGTERM, its containers with it, and
//     started again as the toolchain starts it): the same ports answer, the rows are there, one
//     Postgres server runs on the volume, and `pulumi up` and a refresh find nothing to change;
//  d. no secret value in any container's or service's env, args or labels, nor in `docker events`
//     during the deploy;
//  e. the Postgres data volume is kept across a replacement of its service and across
//     `pulumi destroy`, and a redeploy finds the rows.
// The stack: Postgres, Redis and one http service from an image built here (no Node.js, no curl).
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import { after, before, describe, it } from "node:test";
import { ANY_IMAGE_HEALTH_PATH, ANY_IMAGE_PORT, buildAnyImage, removeImages } from "../fixtures/any-image/image";
import { TestStack, captureEvents, docker, httpGet, printed, requireEngines, restartEngine, waitFor } from "./harness";
import { underLoad } from "./loadProbe";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pulumi's marker of a secret value in `pulumi stack export`. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Every secret string of an exported deployment (`--show-secrets`), at least `minLength` long. */
function exportedSecretValues(deployment: unknown, minLength = 8): Set<string> {
    const values = new Set<string>();
    const walk = (v: unknown, inSecret: boolean): void => {
        if (typeof v === "string") {
            if (inSecret && v.length >= minLength) values.add(v);
        } else if (Array.isArray(v)) {
            v.forEach((x) => walk(x, inSecret));
        } else if (v && typeof v === "object") {
            const o = v as Record<string, unknown>;
            if (SECRET_SIG in o) {
                let inner: unknown = o.plaintext ?? o.value;
                if (typeof inner === "string") {
                    try {
                        inner = JSON.parse(inner);
                    } catch {
                        // a plain string
                    }
                }
                walk(inner, true);
                return;
            }
            Object.values(o).forEach((x) => walk(x, inSecret));
        }
    };
    walk(deployment, false);
    return values;
}

interface VolumeWatch {
    /** Most containers seen running with the volume at once. */
    max: number;
    samples: number;
    /** Longest time between two samples, ms. */
    longestGapMs: number;
    /** Distinct containers seen running with the volume, in order of first sight. */
    containers: string[];
    /** Samples that saw more than one, with the time since the watch started. */
    overlaps: string[];
}

/** Polls every ~100 ms the running containers that mount `volume`, until `stop`. */
function watchVolume(volume: string): { stop(): Promise<VolumeWatch> } {
    const result: VolumeWatch = { max: 0, samples: 0, longestGapMs: 0, containers: [], overlaps: [] };
    const t0 = Date.now();
    let running = true;
    let last = 0;
    const loop = (async () => {
        while (running) {
            const started = Date.now();
            const ps = await docker("ps", "-q", "--filter", `volume=${volume}`, "--filter", "status=running");
            if (ps.code === 0) {
                const now = Date.now();
                if (last) result.longestGapMs = Math.max(result.longestGapMs, now - last);
                last = now;
                result.samples++;
                const ids = ps.stdout.split("\n").filter(Boolean);
                for (const id of ids) if (!result.containers.includes(id)) result.containers.push(id);
                result.max = Math.max(result.max, ids.length);
                if (ids.length > 1) result.overlaps.push(`${now - t0} ms: ${ids.join(",")}`);
            }
            const wait = 100 - (Date.now() - started);
            if (wait > 0) await sleep(wait);
        }
    })();
    return {
        async stop() {
            running = false;
            await loop;
            return result;
        },
    };
}

/** From container start/die events (JSON lines), the most containers running at once, starting from `initial`. */
function mostRunningAtOnce(lines: string[], initial: number): { max: number; sequence: string[] } {
    const events = lines
        .map((l) => JSON.parse(l) as { Action?: string; status?: string; id: string; timeNano: number })
        .filter((e) => ["start", "die"].includes(e.Action ?? e.status ?? ""))
        .sort((a, b) => a.timeNano - b.timeNano);
    let running = initial;
    let max = initial;
    const sequence: string[] = [];
    for (const e of events) {
        const action = e.Action ?? e.status;
        running += action === "start" ? 1 : -1;
        max = Math.max(max, running);
        sequence.push(`${action} ${e.id.slice(0, 12)}`);
    }
    return { max, sequence };
}

describe("swarm guarantees: rollback, one Postgres per volume, stable endpoints, no secret in sight, kept data", { timeout: 40 * 60 * 1000 }, () => {
    const stack = new TestStack("e2e-swg");
    const repo = `opsbook-e2e-swg-${stack.name}`;
    const good = `${repo}:good`;
    const bad = `${repo}:bad`;
    // A user-supplied secret, set with `pulumi config set --secret`, beside the generated ones.
    const partnerKey = `partner-${crypto.randomBytes(18).toString("hex")}`;
    let outputs: Record<string, any> = {};
    let deployEvents: string[] = [];
    let goodId = "";
    let stateImageAfterRollback: string | undefined;
    let previewAfterRollback: number | undefined;

    const spec = (image: string) => `config:
  opsbook:monitoring:
    enabled: false
  opsbook:services:
    api:
      image: ${image}
      # Two tasks, as a stateless api runs: Swarm's rollback (start-first) replaces even the
      # healthy task of the slot that failed (moby/moby#43081), so one task alone can leave a
      # moment with no task in DNS; the other slot keeps serving.
      replicas: 2
      port: ${ANY_IMAGE_PORT}
      healthPath: ${ANY_IMAGE_HEALTH_PATH}
      uses: [postgres, redis]
      secretEnv:
        API_SIGNING_SECRET: generated
        PARTNER_API_KEY: config
`;

    const runningContainer = async (service: string): Promise<string> => {
        const ps = await docker("ps", "-q", "--filter", `label=com.docker.swarm.service.name=${service}`, "--filter", "status=running");
        const ids = ps.stdout.split("\n").filter(Boolean);
        assert.equal(ids.length, 1, `expected one running task of ${service}, found ${JSON.stringify(ids)}`);
        return ids[0];
    };
    // As the superuser over the server's own socket: the test needs no password.
    const psql = async (sql: string) => {
        const container = await runningContainer(outputs.postgresService);
        return docker("exec", "-u", "postgres", container, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", "opsbook_admin", "-d", "app", "-c", sql);
    };
    const rows = async () => {
        const res = await psql("SELECT v FROM e2e_kept ORDER BY v;");
        assert.equal(res.code, 0, `reading the rows failed: ${res.stderr}`);
        return res.stdout.split("\n").filter(Boolean);
    };
    /** Running and desired tasks of each long-running service of the stack (one-shot jobs left out). */
    const replicaCounts = async (): Promise<{ name: string; running: number; desired: number }[]> => {
        const res = await docker("service", "ls", "--filter", `label=opsbook.stack=${stack.name}`, "--format", "{{.Name}} {{.Mode}} {{.Replicas}}");
        assert.equal(res.code, 0, res.stderr);
        return res.stdout
            .split("\n")
            .filter(Boolean)
            .map((l) => l.split(" "))
            .filter(([, mode]) => mode === "replicated")
            .map(([name, , replicas]) => {
                const [running, desired] = replicas.split("/").map(Number);
                return { name, running, desired };
            });
    };
    const serviceSpec = async (name: string) => {
        const res = await docker("service", "inspect", name);
        assert.equal(res.code, 0, res.stderr);
        return JSON.parse(res.stdout)[0];
    };

    /** Runs `change` while watching the Postgres volume two ways; asserts one server at a time and that the server did change. */
    const oneServerAtATime = async <T>(what: string, change: () => Promise<T>): Promise<T> => {
        const volume: string = outputs.postgresVolume;
        const before = await runningContainer(outputs.postgresService);
        const events = captureEvents(["type=container", `label=com.docker.swarm.service.name=${outputs.postgresService}`]);
        const watch = watchVolume(volume);
        await sleep(500);
        const result = await change();
        await sleep(1000);
        const seen = await watch.stop();
        const fromEvents = mostRunningAtOnce(await events.stop(), 1);
        stack.log(
            `${what}: ${seen.samples} samples of ${volume}, longest gap ${seen.longestGapMs} ms, max ${seen.max} running at once, containers ${seen.containers.map((c) => c.slice(0, 12)).join(" -> ")}; ` +
                `events: ${fromEvents.sequence.join(", ")} (max ${fromEvents.max})`,
        );
        assert.equal(seen.max, 1, `two Postgres servers ran on ${volume} at once: ${seen.overlaps.join("; ")}`);
        assert.ok(fromEvents.max <= 1, `the engine's events show two Postgres containers running at once: ${fromEvents.sequence.join(", ")}`);
        const after = await runningContainer(outputs.postgresService);
        assert.notEqual(after, before, `${what} did not replace the Postgres container`);
        assert.ok(seen.containers.length >= 2, `the watch never saw the new server (saw ${seen.containers.join(", ")}): it did not watch the change`);
        return result;
    };

    before(async () => {
        requireEngines();
        goodId = await buildAnyImage(good, "v1");
        await buildAnyImage(bad, "v2-unhealthy", 500);
        await stack.init(spec(good));
        const set = await stack.pulumi(["config", "set", "--secret", "PARTNER_API_KEY", partnerKey]);
        assert.equal(set.code, 0, set.stderr);

        const events = captureEvents();
        const res = await stack.up();
        deployEvents = await events.stop();
        assert.equal(res.code, 0, `first pulumi up failed:\n${printed(res)}`);
        outputs = await stack.outputs();
        const root = await httpGet(`${outputs.endpoints.api}/`);
        assert.equal(root.body.release, "v1", JSON.stringify(root.body));
        const write = await psql("CREATE TABLE e2e_kept(v text); INSERT INTO e2e_kept VALUES ('row-1'), ('row-2');");
        assert.equal(write.code, 0, write.stderr);
    });

    after(async () => {
        await stack.dispose();
        await removeImages([good, bad]);
    });

    it("d. puts no secret value in any container's or service's env, args or labels, nor in docker events of the deploy", async () => {
        const exported = await stack.pulumi(["stack", "export", "--show-secrets"]);
        assert.equal(exported.code, 0, exported.stderr);
        const secrets = exportedSecretValues(JSON.parse(exported.stdout));
        secrets.add(partnerKey);
        // The generated ones must be among them, or the check below proves nothing.
        assert.ok(secrets.size >= 6, `only ${secrets.size} secret values found in the export`);
        const places: Record<string, string> = {};
        const containers = await docker("ps", "-aq", "--filter", `label=opsbook.stack=${stack.name}`);
        for (const id of containers.stdout.split("\n").filter(Boolean)) {
            const c = JSON.parse((await docker("inspect", id)).stdout)[0];
            places[`container ${c.Name}`] = JSON.stringify({ env: c.Config.Env, path: c.Path, args: c.Args, cmd: c.Config.Cmd, entrypoint: c.Config.Entrypoint, labels: c.Config.Labels });
            // And anything else the engine shows of it.
            places[`container ${c.Name} (whole inspect)`] = JSON.stringify(c);
        }
        const services = await docker("service", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`);
        for (const id of services.stdout.split("\n").filter(Boolean)) {
            const s = await serviceSpec(id);
            places[`service ${s.Spec.Name} (whole inspect)`] = JSON.stringify(s);
        }
        const ours = deployEvents.filter((l) => l.includes(stack.name));
        places["docker events during the deploy"] = deployEvents.join("\n");
        stack.log(`secret check: ${secrets.size} values against ${Object.keys(places).length} places, ${deployEvents.length} events (${ours.length} naming the stack)`);
        assert.ok(Object.keys(places).some((p) => p.startsWith("container")), "no container of the stack to check");
        assert.ok(ours.length > 10, `too few events of the stack captured: ${ours.length}`);
        const leaks: string[] = [];
        for (const [place, text] of Object.entries(places)) {
            for (const value of secrets) {
                if (text.includes(value)) leaks.push(`${place} holds a secret value of ${value.length} characters`);
            }
        }
        assert.deepEqual(leaks, []);
    });

    it("a. a release whose image fails its health check fails pulumi up, rolls back, and the old release serves throughout", async () => {
        const api: string = outputs.services.api;
        const before = await serviceSpec(api);
        assert.equal(before.Spec.TaskTemplate.ContainerSpec.Image, goodId);
        const set = await stack.pulumi(["config", "set", "--path", "opsbook:services.api.image", bad]);
        assert.equal(set.code, 0, set.stderr);

        // Everything is observed first and the good image configured again before any assertion,
        // so that a failure here does not leave the failed release configured for the later tests.
        const since = new Date().toISOString();
        let res: { code: number; stdout: string; stderr: string };
        let load: Awaited<ReturnType<typeof underLoad>>["load"];
        let afterSpec: any;
        let taskImage = "";
        let served: unknown;
        let gatewayErrors: string[] = [];
        let tasks = "";
        try {
            const started = Date.now();
            ({ result: res, load } = await underLoad(`${outputs.endpoints.api}/`, () => stack.up()));
            const message = `${res.stdout}\n${res.stderr}`.split("\n").find((l) => /roll(ed)? ?back/i.test(l)) ?? "(no line mentions a rollback)";
            stack.log(`bad release: exit ${res.code} after ${Math.round((Date.now() - started) / 1000)} s; message: ${message.trim()}`);
            stack.log(`bad release load: ${load.requests} requests, ${load.failed} failed ${JSON.stringify(load.failures)}, longest outage ${load.longestOutageMs} ms, last release ${load.lastRelease}`);
            // The provider reports the rollback once the task count is back, which can be before
            // the engine has finished it: wait for the engine's word.
            const atReturn = (await serviceSpec(api)).UpdateStatus;
            stack.log(`when pulumi up returned: UpdateStatus ${JSON.stringify(atReturn)}`);
            afterSpec = await waitFor("the engine to finish the rollback", 120, () => serviceSpec(api), (s) => s.UpdateStatus?.State === "rollback_completed");
            stack.log(`after the rollback: UpdateStatus ${JSON.stringify(afterSpec.UpdateStatus)}`);
            const running = (await docker("ps", "-q", "--filter", `label=com.docker.swarm.service.name=${api}`, "--filter", "status=running")).stdout.split("\n").filter(Boolean);
            const images = await Promise.all(running.map(async (id) => (await docker("inspect", "-f", "{{.Image}}", id)).stdout.trim()));
            taskImage = [...new Set(images)].join(",");
            served = (await httpGet(`${outputs.endpoints.api}/`)).body;
            const logs = await docker("logs", "--since", since, outputs.gatewayContainer);
            gatewayErrors = `${logs.stdout}\n${logs.stderr}`.split("\n").filter((l) => /\[error\]/.test(l));
            tasks = (await docker("service", "ps", "--no-trunc", "--format", "{{.ID}} {{.Image}} {{.DesiredState}} {{.CurrentState}}", api)).stdout;
            stack.log(`api tasks after the rollback:\n${tasks}`);

            // What the state believes now: checked in a2.
            const state = JSON.parse((await stack.pulumi(["stack", "export"])).stdout);
            const svc = state.deployment.resources.find((r: any) => r.type === "docker:index/service:Service" && r.urn.endsWith("::api-service"));
            stateImageAfterRollback = svc?.outputs?.taskSpec?.containerSpec?.image;
            stack.log(`state after the failed up: api image ${stateImageAfterRollback} (good ${goodId})`);
            const pending = await stack.pulumi(["preview", "--non-interactive", "--expect-no-changes"]);
            previewAfterRollback = pending.code;
            stack.log(`preview with the rolled-back image still configured: exit ${pending.code} (${pending.code === 0 ? "no changes: the state says the failed release is deployed" : "changes pending"})`);
        } finally {
            const back = await stack.pulumi(["config", "set", "--path", "opsbook:services.api.image", good]);
            assert.equal(back.code, 0, back.stderr);
            const again = await stack.up();
            assert.equal(again.code, 0, `pulumi up back to the good image failed:\n${printed(again)}`);
        }
        const output = `${res.stdout}\n${res.stderr}`;
        assert.notEqual(res.code, 0, `pulumi up of an image that never gets healthy succeeded:\n${output}`);
        assert.match(output, /service rollback completed/, `pulumi up failed without saying the update was rolled back:\n${output}`);
        assert.equal(afterSpec.Spec.TaskTemplate.ContainerSpec.Image, goodId, "the service's spec is not the previous one");
        assert.equal(afterSpec.UpdateStatus?.State, "rollback_completed");
        assert.equal(taskImage, goodId, "the running task is not the previous image");
        assert.equal((served as { release?: string }).release, "v1");
        assert.ok(load.requests > 100, `too little load to prove anything: ${load.requests} requests`);
        assert.equal(
            load.failed,
            0,
            `failed requests while the bad release was tried and rolled back: ${JSON.stringify(load.failures)}; the gateway logged:\n${[...new Set(gatewayErrors.map((l) => l.replace(/\*\d+ /, "").replace(/, client.*/, "")))].join("\n")}\napi tasks:\n${tasks}`,
        );
        assert.equal(load.lastRelease, "v1");
        const noop = await stack.up(["--expect-no-changes"]);
        assert.equal(noop.code, 0, `the stack did not settle after the rollback:\n${printed(noop)}`);
        assert.equal((await serviceSpec(api)).Spec.TaskTemplate.ContainerSpec.Image, goodId);
    });

    it("a2. after a rolled-back release the stack does not look deployed: the failed release is still pending", () => {
        assert.ok(previewAfterRollback !== undefined, "test a did not get that far");
        assert.notEqual(
            previewAfterRollback,
            0,
            `after \`pulumi up\` failed with the rollback, \`pulumi preview\` with the failed release still configured finds nothing to change ` +
                `(the state records ${stateImageAfterRollback} as the api's image, the engine runs ${goodId}): running \`pulumi up\` again would report success without deploying it`,
        );
    });

    it("b. never runs two Postgres servers on the data volume during an update of Postgres, and keeps the rows", async () => {
        const set = await stack.pulumi(["config", "set", "--path", "opsbook:postgres.memoryMb", "640"]);
        assert.equal(set.code, 0, set.stderr);
        const res = await oneServerAtATime("postgres.memoryMb 512 -> 640", () => stack.up());
        assert.equal(res.code, 0, `pulumi up failed:\n${printed(res)}`);
        const memory = (await serviceSpec(outputs.postgresService)).Spec.TaskTemplate.Resources.Limits.MemoryBytes;
        assert.equal(memory, 640 * 1024 * 1024);
        assert.deepEqual(await rows(), ["row-1", "row-2"]);
    });

    it("e. keeps the data volume when the Postgres service is replaced, again one server at a time", async () => {
        const state = JSON.parse((await stack.pulumi(["stack", "export"])).stdout);
        const server = state.deployment.resources.find((r: any) => r.type === "docker:index/service:Service" && r.urn.endsWith("::postgres-server"));
        assert.ok(server, "no postgres-server service in the state");
        const serviceIdBefore = (await serviceSpec(outputs.postgresService)).ID;
        const res = await oneServerAtATime("replacement of the Postgres service", () => stack.up(["--replace", server.urn]));
        assert.equal(res.code, 0, `pulumi up --replace failed:\n${printed(res)}`);
        assert.notEqual((await serviceSpec(outputs.postgresService)).ID, serviceIdBefore, "the Postgres service was not replaced");
        assert.equal((await stack.outputs()).postgresVolume, outputs.postgresVolume);
        assert.deepEqual(await rows(), ["row-1", "row-2"]);
        const health = await waitFor("api answering after the database replacement", 30, () => httpGet(`${outputs.endpoints.api}${ANY_IMAGE_HEALTH_PATH}`), (h) => h.status === 200);
        assert.equal(health.status, 200);
    });

    it("c. endpoints answer at the same ports after the gateway restarts and every service's tasks are replaced out of band", async () => {
        const endpoints: Record<string, string> = outputs.endpoints;
        const gateway: string = outputs.gatewayContainer;
        const portsBefore = (await docker("port", gateway)).stdout.trim();
        const restart = await docker("restart", gateway);
        assert.equal(restart.code, 0, restart.stderr);
        const stackServices = (await docker("service", "ls", "--format", "{{.Name}}", "--filter", `label=opsbook.stack=${stack.name}`)).stdout.split("\n").filter(Boolean);
        for (const svc of stackServices) {
            const forced = await docker("service", "update", "--force", "--quiet", svc);
            assert.equal(forced.code, 0, `docker service update --force ${svc}: ${forced.stderr}`);
        }
        const portsAfter = (await docker("port", gateway)).stdout.trim();
        stack.log(`gateway ports before: ${portsBefore.replace(/\n/g, "; ")}; after: ${portsAfter.replace(/\n/g, "; ")}; services forced: ${stackServices.join(", ")}`);
        assert.equal(portsAfter, portsBefore);
        for (const [name, url] of Object.entries(endpoints)) {
            const res = await waitFor(`${name} answering at ${url}`, 60, () => httpGet(`${url}/`), (r) => r.status === 200);
            assert.equal(res.body.release, "v1");
        }
        assert.deepEqual((await stack.outputs()).endpoints, endpoints);
        const noop = await stack.up(["--expect-no-changes"]);
        assert.equal(noop.code, 0, `pulumi up found changes after the out-of-band restarts:\n${printed(noop)}`);
    });

    it("c2. a refresh after the out-of-band restarts finds nothing to change (no rolling restart on `pulumi up --refresh`)", async () => {
        const refreshed = await stack.pulumi(["preview", "--refresh", "--diff", "--non-interactive", "--expect-no-changes"]);
        // The plan's part (after the refresh): which resources it would update, and which keys.
        const plan = refreshed.stdout.slice(refreshed.stdout.lastIndexOf("pulumi:pulumi:Stack: (same)"));
        const updates = [...plan.matchAll(/\((update|replace)\)\s*\n\s*\[id=[^\]]*\]\s*\n\s*\[urn=[^\]]*::([^:\]]+)\]/g)].map((m) => `${m[2]} (${m[1]})`);
        const modes = [...new Set(plan.match(/mode\s*:\s*\d+ => \d+/g) ?? [])];
        stack.log(`preview --refresh after the out-of-band restarts: exit ${refreshed.code}; would change: ${updates.join(", ") || "nothing"}; tmpfs modes: ${modes.join(", ") || "-"}`);
        assert.equal(
            refreshed.code,
            0,
            `\`pulumi preview --refresh\` wants to update ${updates.join(", ")} (${modes.join(", ")}): a \`pulumi up --refresh\` would roll every one of them, Postgres with a stop-first outage.\n${plan}`,
        );
    });

    it("c3. a real engine restart: the same ports answer, the rows are kept, one Postgres server, nothing to change", async () => {
        const endpoints: Record<string, string> = outputs.endpoints;
        const gateway: string = outputs.gatewayContainer;
        const portsBefore = (await docker("port", gateway)).stdout.trim();
        const postgresBefore = await runningContainer(outputs.postgresService);
        let answeredWhileDown: number | undefined;
        const restart = await restartEngine(
            (step) => stack.log(`engine restart: ${step}`),
            async () => {
                // Down means down: the gateway's port no longer answers while the engine is away.
                answeredWhileDown = await httpGet(`${endpoints.api}/`, 2000).then((r) => r.status, () => undefined);
            },
        );
        assert.equal(answeredWhileDown, undefined, `the api answered (${answeredWhileDown}) at ${endpoints.api} while the engine was stopped: it did not really stop`);
        const started = Date.now();
        for (const [name, url] of Object.entries(endpoints)) {
            const res = await waitFor(`${name} answering at ${url} after the engine restart`, 180, () => httpGet(`${url}/`), (r) => r.status === 200).catch(async (err: Error) => {
                // What the gateway and the service look like when it does not come back.
                const service: string = outputs.services[name];
                const seen = await Promise.all([
                    docker("service", "ps", "--no-trunc", "--format", "{{.Name}} {{.CurrentState}} {{.Error}}", service),
                    docker("exec", gateway, "getent", "hosts", `tasks.${service}`),
                    docker("inspect", "--format", "{{.State.Status}} started {{.State.StartedAt}} networks {{json .NetworkSettings.Networks}}", gateway),
                    docker("logs", "--tail", "15", gateway),
                ]);
                throw new Error(`${err.message}\n${seen.map((r) => `${r.stdout}${r.stderr}`.trim()).join("\n---\n")}`);
            });
            assert.equal(res.body.release, "v1");
        }
        const services = await waitFor("every service of the stack back to full strength", 180, () => replicaCounts(), (c) => c.length > 0 && c.every((s) => s.running === s.desired));
        stack.log(
            `engine stopped in ${restart.stopMs} ms, answered again ${restart.startMs} ms after the start; endpoints answered and ${services.map((s) => `${s.name} ${s.running}/${s.desired}`).join(", ")} ${Date.now() - started} ms later`,
        );
        const portsAfter = (await docker("port", gateway)).stdout.trim();
        stack.log(`gateway ports before: ${portsBefore.replace(/\n/g, "; ")}; after the engine restart: ${portsAfter.replace(/\n/g, "; ")}`);
        assert.equal(portsAfter, portsBefore);
        assert.deepEqual((await stack.outputs()).endpoints, endpoints);
        const postgresAfter = await runningContainer(outputs.postgresService);
        assert.notEqual(postgresAfter, postgresBefore, "the Postgres task was not restarted: the engine did not really restart");
        const onVolume = await docker("ps", "-q", "--filter", `volume=${outputs.postgresVolume}`, "--filter", "status=running");
        assert.equal(onVolume.stdout.split("\n").filter(Boolean).length, 1, `not exactly one server on ${outputs.postgresVolume}: ${onVolume.stdout}`);
        assert.deepEqual(await rows(), ["row-1", "row-2"]);
        const noop = await stack.up(["--expect-no-changes"]);
        assert.equal(noop.code, 0, `pulumi up found changes after the engine restart:\n${printed(noop)}`);
        const refreshed = await stack.pulumi(["preview", "--refresh", "--non-interactive", "--expect-no-changes"]);
        assert.equal(refreshed.code, 0, `a refresh after the engine restart wants changes:\n${printed(refreshed)}`);
    });

    it("e. keeps the data volume across pulumi destroy; a redeploy finds the rows", async () => {
        const destroy = await stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        assert.equal(destroy.code, 0, `pulumi destroy failed:\n${printed(destroy)}`);
        const services = await docker("service", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`);
        assert.equal(services.stdout.trim(), "", "services of the stack are left after destroy");
        const volumes = (await docker("volume", "ls", "-q", "--filter", `label=opsbook.stack=${stack.name}`)).stdout.split("\n").filter(Boolean);
        assert.ok(volumes.includes(outputs.postgresVolume), `the Postgres volume is gone after destroy: ${volumes.join(", ")}`);

        const res = await stack.up();
        assert.equal(res.code, 0, `pulumi up after destroy failed:\n${printed(res)}`);
        const redeployed = await stack.outputs();
        assert.equal(redeployed.postgresVolume, outputs.postgresVolume);
        assert.deepEqual(redeployed.endpoints, outputs.endpoints, "the redeploy moved the endpoints");
        outputs = redeployed;
        assert.deepEqual(await rows(), ["row-1", "row-2"]);
    });
});
