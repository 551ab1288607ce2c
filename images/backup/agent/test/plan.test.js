// The agent's cron schedules, as the image runs them: plain node, no build step.
//   node --test images/backup/agent/test/    (or `npm test` in images/backup/agent)
// croner comes from images/backup/agent/node_modules (npm ci) or, in the repository, from the
// project's own node_modules, which pins the same version (test/unit/cron.test.ts checks that).
"use strict";
const assert = require("node:assert/strict");
const { describe, it } = require("node:test");
const plan = require("../plan");

const next = (/** @type {string} */ expr, /** @type {string} */ after) => plan.nextRun(plan.parseCron(expr), new Date(after))?.toISOString();

describe("backup agent cron (croner)", () => {
    it("agrees with the spec and the app on `0 3 */2 * 1` from 2025-01-02: odd days OR Mondays, so 01-03", () => {
        assert.equal(next("0 3 */2 * 1", "2025-01-02T00:00:00Z"), "2025-01-03T03:00:00.000Z");
    });

    it("finds the next run in UTC, strictly after the given time", () => {
        assert.equal(next("0 3 * * *", "2025-01-01T03:00:00Z"), "2025-01-02T03:00:00.000Z");
        assert.equal(next("0 3 1 * 1", "2025-01-02T00:00:00Z"), "2025-01-06T03:00:00.000Z");
        assert.equal(next("0 0 29 2 *", "2025-03-01T00:00:00Z"), "2028-02-29T00:00:00.000Z");
        assert.equal(next("0 0 30 2 *", "2025-01-01T00:00:00Z"), undefined);
    });

    it("refuses what croner refuses, with croner's reason", () => {
        assert.match(plan.scheduleProblem("99 99 99 99 99") ?? "", /Invalid value for minute: 99/);
        assert.match(plan.scheduleProblem("0 3 * *") ?? "", /must have 5 fields/);
        assert.equal(plan.scheduleProblem("0 3 * * *"), undefined);
    });

    it("gives the period a schedule keeps", () => {
        assert.equal(plan.periodSeconds(plan.parseCron("0 3 * * 1-5")), 3 * 86_400);
        assert.equal(plan.periodSeconds(plan.parseCron("*/15 * * * *")), 15 * 60);
    });
});
