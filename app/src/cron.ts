// A 5-field cron matcher (minute hour day-of-month month day-of-week), evaluated in UTC.
// Supports `*`, numbers, lists (1,15), ranges (1-5), steps (*/10, 0-30/5, 5/15); day-of-week
// 0-7 with both 0 and 7 meaning Sunday. No names (MON, JAN) and no @daily: the stack writes
// plain expressions. As in Vixie cron, when both day fields are restricted a day matches if
// either one does ("0 0 1 * 1" = the 1st of the month and every Monday).

export interface Cron {
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
  readonly domRestricted: boolean;
  readonly dowRestricted: boolean;
}

interface FieldSpec { name: string; min: number; max: number }
const FIELDS: FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12 },
  { name: "day-of-week", min: 0, max: 7 },
];

function int(text: string, f: FieldSpec, expr: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`cron "${expr}": ${f.name} "${text}" is not a number`);
  const n = Number(text);
  if (n < f.min || n > f.max) throw new Error(`cron "${expr}": ${f.name} ${n} is outside ${f.min}-${f.max}`);
  return n;
}

function parseField(text: string, f: FieldSpec, expr: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const [range, stepText, extra] = part.split("/");
    if (extra !== undefined || range === "") throw new Error(`cron "${expr}": bad ${f.name} "${part}"`);
    const step = stepText === undefined ? 1 : int(stepText, { ...f, min: 1, max: f.max - f.min + 1 }, expr);
    let lo: number;
    let hi: number;
    if (range === "*") {
      [lo, hi] = [f.min, f.max];
    } else if (range.includes("-")) {
      const bounds = range.split("-");
      if (bounds.length !== 2) throw new Error(`cron "${expr}": bad ${f.name} range "${range}"`);
      [lo, hi] = [int(bounds[0], f, expr), int(bounds[1], f, expr)];
      if (lo > hi) throw new Error(`cron "${expr}": ${f.name} range ${range} runs backwards`);
    } else {
      lo = int(range, f, expr);
      // "5/15" means from 5 to the end in steps of 15.
      hi = stepText === undefined ? lo : f.max;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

export function parseCron(expr: string): Cron {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron "${expr}": expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  const [minutes, hours, daysOfMonth, months, dow] = parts.map((p, i) => parseField(p, FIELDS[i], expr));
  if (dow.delete(7)) dow.add(0);
  return {
    source: expr,
    minutes, hours, daysOfMonth, months, daysOfWeek: dow,
    domRestricted: parts[2] !== "*",
    dowRestricted: parts[4] !== "*",
  };
}

function dayMatches(c: Cron, d: Date): boolean {
  const dom = c.daysOfMonth.has(d.getUTCDate());
  const dow = c.daysOfWeek.has(d.getUTCDay());
  if (c.domRestricted && c.dowRestricted) return dom || dow;
  return dom && dow;
}

/** Does the cron fire in the minute that contains `d` (UTC)? */
export function cronMatches(c: Cron, d: Date): boolean {
  return c.minutes.has(d.getUTCMinutes()) && c.hours.has(d.getUTCHours()) && c.months.has(d.getUTCMonth() + 1) && dayMatches(c, d);
}

/**
 * The first minute strictly after `after` at which the cron fires, or undefined when none comes
 * within 5 years (e.g. "0 0 30 2 *"). Skips whole months, days and hours that cannot match,
 * so it is cheap enough to call on every health request.
 */
export function nextRun(c: Cron, after: Date): Date | undefined {
  const t = new Date(after.getTime());
  t.setUTCSeconds(0, 0);
  t.setUTCMinutes(t.getUTCMinutes() + 1);
  const limit = after.getTime() + 5 * 366 * 24 * 3600 * 1000;
  while (t.getTime() <= limit) {
    if (!c.months.has(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
    } else if (!dayMatches(c, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
    } else if (!c.hours.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
    } else if (!c.minutes.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
    } else {
      return t;
    }
  }
  return undefined;
}
