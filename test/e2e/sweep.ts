// Run by `npm test` before the e2e files: removes from this machine's engine the stacks that test
// runs killed before their clean-up left behind (see sweepAbandonedStacks in harness.ts).
import { sweepAbandonedStacks } from "./harness";

sweepAbandonedStacks().then(
    (removed) => {
        process.stderr.write(
            removed.length > 0
                ? `[sweep] removed ${removed.length} stack(s) that killed test runs left behind: ${removed.join(", ")}\n`
                : "[sweep] no stack left behind by a killed test run\n",
        );
    },
    (err: unknown) => {
        process.stderr.write(`[sweep] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
    },
);
