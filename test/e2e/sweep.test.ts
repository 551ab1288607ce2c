// The clean-up before the e2e files, on the real engine: the objects of a stack whose test process
// is gone are removed, those of a stack whose process runs are kept; a VXLAN device the engine
// leaked, which breaks every overlay network that gets its VXLAN ID, is removed.
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { OWNER_FILE, ROOT, STATE_DIR_PREFIX, StackOwner, docker, ownerOf, pinnedImageTags, removeLeakedVxlanDevices, requireEngines, run, sweepAbandonedStacks, waitFor } from "./harness";

describe("stacks and VXLAN devices left behind", { timeout: 5 * 60 * 1000 }, () => {
    const suffix = crypto.randomBytes(3).toString("hex");
    const stacks = { gone: `e2e-sweep-gone-${suffix}`, running: `e2e-sweep-running-${suffix}` };
    const dirs: string[] = [];

    /** A state directory as TestStack makes it, owned by `process`, and a volume and a swarm config labelled with the stack. */
    const leaveBehind = async (stack: string, owner: string) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), STATE_DIR_PREFIX));
        dirs.push(dir);
        const record: StackOwner = { stack, configFile: path.join(ROOT, `Pulumi.${stack}.yaml`), process: owner };
        fs.writeFileSync(path.join(dir, OWNER_FILE), JSON.stringify(record));
        fs.writeFileSync(record.configFile, "config: {}\n");
        const volume = await docker("volume", "create", "--label", `opsbook.stack=${stack}`, `${stack}-data`);
        assert.equal(volume.code, 0, volume.stderr);
        const config = await run("docker", ["config", "create", "--label", `opsbook.stack=${stack}`, `${stack}-conf`, "-"], { input: "left behind" });
        assert.equal(config.code, 0, config.stderr);
        return { dir, configFile: record.configFile };
    };
    const objects = async (stack: string) => {
        const volumes = await docker("volume", "ls", "-q", "--filter", `label=opsbook.stack=${stack}`);
        const configs = await docker("config", "ls", "-q", "--filter", `label=opsbook.stack=${stack}`);
        return [...volumes.stdout.split("\n"), ...configs.stdout.split("\n")].filter(Boolean).length;
    };

    const probe = { network: `e2e-vx-${suffix}`, service: `e2e-vx-${suffix}` };
    const vni = async (network: string) => Number((await docker("network", "inspect", "--format", '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}', network)).stdout.trim());

    after(async () => {
        await docker("service", "rm", probe.service);
        await waitFor("the probe service's task gone", 60, () => docker("ps", "-aq", "--filter", `label=com.docker.swarm.service.name=${probe.service}`), (r) => r.stdout.trim() === "");
        await docker("network", "rm", probe.network, `${probe.network}-first`);
        for (const stack of Object.values(stacks)) {
            await docker("volume", "rm", "-f", `${stack}-data`);
            await docker("config", "rm", `${stack}-conf`);
            fs.rmSync(path.join(ROOT, `Pulumi.${stack}.yaml`), { force: true });
        }
        dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
    });

    it("removes the objects, state and config file of a stack whose test process is gone, and keeps those of a running one", async () => {
        requireEngines();
        // pid_max is at most 4194304: no process has this pid.
        const boot = ownerOf(process.pid)!.split(" ")[0];
        const gone = await leaveBehind(stacks.gone, `${boot} 9999999 1`);
        const running = await leaveBehind(stacks.running, ownerOf(process.pid)!);
        assert.equal(await objects(stacks.gone), 2);

        const removed = await sweepAbandonedStacks();

        assert.ok(removed.includes(stacks.gone), `the stack of the gone process was not removed: ${removed.join(", ")}`);
        assert.ok(!removed.includes(stacks.running), "the stack of a running process was removed");
        assert.equal(await objects(stacks.gone), 0, "the gone stack's volume or config is still there");
        assert.ok(!fs.existsSync(gone.dir) && !fs.existsSync(gone.configFile), "the gone stack's state or config file is still there");
        assert.equal(await objects(stacks.running), 2, "the running stack's objects were removed");
        assert.ok(fs.existsSync(running.dir) && fs.existsSync(running.configFile), "the running stack's state or config file was removed");
    });

    it("removes a VXLAN device left for a network that is gone, after which the network that got its VXLAN ID works", async () => {
        requireEngines();
        // Swarm gives VXLAN IDs in turn: the network after this one gets the next ID.
        const first = await docker("network", "create", "--driver", "overlay", `${probe.network}-first`);
        assert.equal(first.code, 0, first.stderr);
        const next = (await vni(`${probe.network}-first`)) + 1;
        // What the engine leaves when moving a network's device into its namespace goes wrong:
        // `vx-<VXLAN ID>-<network ID prefix>`, down, in this machine's namespace.
        const device = `vx-${next.toString(16).padStart(6, "0")}-zzzzz`;
        const made = await run("ip", ["link", "add", device, "type", "vxlan", "id", String(next), "dstport", "4789"]);
        assert.equal(made.code, 0, `ip link add: ${made.stderr}`);
        const network = await docker("network", "create", "--driver", "overlay", probe.network);
        assert.equal(network.code, 0, network.stderr);
        assert.equal(await vni(probe.network), next, "the network did not get the leaked device's VXLAN ID; the test cannot show the failure");
        const service = await docker("service", "create", "--detach", "--name", probe.service, "--network", probe.network, "--restart-delay", "1s", "--no-healthcheck", "--entrypoint", "sleep", pinnedImageTags().postgres, "600");
        assert.equal(service.code, 0, service.stderr);
        const failed = await waitFor("a task failing on the leaked device", 60, () => docker("service", "ps", "--no-trunc", "--format", "{{.Error}}", probe.service), (r) => /file exists/.test(r.stdout));
        assert.match(failed.stdout, /error creating vxlan interface: file exists/);

        const removed = await removeLeakedVxlanDevices();

        assert.ok(removed.includes(device), `the planted device was not removed (removed: ${removed.join(", ")})`);
        await waitFor("a running task once the device is gone", 90, () => docker("service", "ps", "--filter", "desired-state=running", "--format", "{{.CurrentState}}", probe.service), (r) => /^Running/m.test(r.stdout));
    });
});
