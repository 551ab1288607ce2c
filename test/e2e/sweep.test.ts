// The clean-up of stacks that killed test runs left behind: the objects of a stack whose test
// process is gone are removed from the real engine; those of a stack whose process runs are kept.
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { OWNER_FILE, ROOT, STATE_DIR_PREFIX, StackOwner, docker, ownerOf, requireEngines, run, sweepAbandonedStacks } from "./harness";

describe("stacks left behind by killed test runs", { timeout: 5 * 60 * 1000 }, () => {
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

    after(async () => {
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
});
