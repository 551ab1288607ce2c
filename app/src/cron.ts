// Cron schedules, read by croner (pinned in package.json): the same library and options as the
// stack's spec check (components/spec.ts, CRON_OPTIONS) and the backup agent
// (images/backup/agent/plan.js), so a job runs when the spec says it does.
//
// Five fields (minute hour day-of-month month day-of-week), evaluated in UTC (`utcOffset: 0`: no
// DST, and no time-zone lookup per step). Day-of-month and day-of-week combine with croner's default
// (`domAndDow: false`), Vixie cron's OR rule: when both are restricted a day matches if either does
// ("0 0 1 * 1" = the 1st of the month and every Monday). croner calls a field unrestricted only when
// it is exactly `*`, so "0 3 */2 * 1" is odd days OR Mondays (next after 2025-01-02: 01-03), where
// Vixie's C code, which looks only at the first character, would AND them (01-13).
import { Cron as CronerJob } from "croner";

const CRON_OPTIONS = { mode: "5-part", utcOffset: 0, paused: true } as const;

export interface Cron {
  readonly source: string;
  /** croner's job, never started: asked only whether a minute matches and when the next run is. */
  readonly job: CronerJob;
}

/** Parses a 5-field cron expression; throws `cron "<expr>": <croner's reason>` when it is not one. */
export function parseCron(expr: string): Cron {
  const fields = expr.trim().split(/\s+/).filter(Boolean).length;
  if (!expr.trim().startsWith("@") && fields !== 5) {
    throw new Error(`cron "${expr}": expected 5 fields (minute hour day-of-month month day-of-week), got ${fields}`);
  }
  try {
    // croner fills in its defaults on the options object it is given: give it a copy.
    return { source: expr, job: new CronerJob(expr, { ...CRON_OPTIONS }) };
  } catch (err) {
    throw new Error(`cron "${expr}": ${(err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, "")}`);
  }
}

/** Does the cron fire in the minute that contains `d` (UTC)? */
export function cronMatches(c: Cron, d: Date): boolean {
  const minute = new Date(d.getTime());
  minute.setUTCSeconds(0, 0);
  return c.job.match(minute);
}

/** The first minute strictly after `after` at which the cron fires, or undefined when it never does (e.g. "0 0 30 2 *"). */
export function nextRun(c: Cron, after: Date): Date | undefined {
  return c.job.nextRun(after) ?? undefined;
}
