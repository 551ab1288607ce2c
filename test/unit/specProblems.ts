// The problems `parseSpec` reports for a raw config, for tests of the spec's messages.
import { strict as assert } from "node:assert";
import { SpecError, parseSpec } from "../../components/spec";

/** Every problem of `raw` (empty when it parses); anything but a SpecError fails the test. */
export function specProblems(raw: Record<string, unknown>): string[] {
    try {
        parseSpec(raw);
        return [];
    } catch (err) {
        assert.ok(err instanceof SpecError, String(err));
        return err.problems;
    }
}
