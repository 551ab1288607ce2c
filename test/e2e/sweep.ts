// Run by `npm test` before the e2e files: removes from this machine's engine the stacks that test
// runs killed before their clean-up left behind, and the VXLAN devices the engine leaked (see
// sweepAbandonedStacks and removeLeakedVxlanDevices in harness.ts).
import { removeLeakedVxlanDevices, sweepAbandonedStacks } from "./harness";

Promise.all([sweepAbandonedStacks(), removeLeakedVxlanDevices()]).then(
    ([removed, leaked]) => {
        process.stderr.write(
            removed.length > 0
                ? `[sweep] removed ${removed.length} stack(s) that killed test runs left behind: ${removed.join(", ")}\n`
                : "[sweep] no stack left behind by a killed test run\n",
        );
        if (leaked.length > 0) {
            process.stderr.write(`[sweep] removed VXLAN devices the engine leaked (moby/libnetwork#1765): ${leaked.join(", ")}\n`);
        }
    },
    (err: unknown) => {
        process.stderr.write(`[sweep] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
    },
);
