// The restore decisions of `npm run backup` for point-in-time recovery, on what `pitr info`
// (run in the Postgres task) reports, read from stdin. The rules are components/pitrPlan.ts.
//
//   pitr-target.ts plan --to TIME|latest|LABEL [--force]   JSON plan, or exit 2 naming the range
//   pitr-target.ts show                                    the backups and the archiving state, for people
import * as fs from "fs";
import { PitrInfo, archiveSummary, parseRestoreTarget, planRestore, restorableRange, showTime } from "../../components/pitrPlan";

function size(bytes: number | undefined): string {
    if (bytes === undefined) {
        return "-";
    }
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let n = bytes;
    let u = 0;
    while (n >= 1024 && u < units.length - 1) {
        n /= 1024;
        u += 1;
    }
    return `${n.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

function main(): number {
    const [mode, ...args] = process.argv.slice(2);
    let info: PitrInfo;
    try {
        info = JSON.parse(fs.readFileSync(0, "utf8")) as PitrInfo;
    } catch (err) {
        process.stderr.write(`backup: could not read what pgBackRest reports (pitr info): ${(err as Error).message}\n`);
        return 1;
    }
    if (mode === "plan") {
        const at = args.indexOf("--to");
        const text = at >= 0 ? args[at + 1] : undefined;
        if (text === undefined) {
            process.stderr.write("backup: --to needs a time (UTC, \"YYYY-MM-DD HH:MM:SS\"), `latest`, or a pgBackRest backup label\n");
            return 2;
        }
        const target = parseRestoreTarget(text);
        if ("problem" in target) {
            process.stderr.write(`backup: ${target.problem}; nothing was changed\n`);
            return 2;
        }
        const plan = planRestore(info, target, { force: args.includes("--force") });
        if ("problem" in plan) {
            process.stderr.write(`backup: ${plan.problem}\n`);
            return 2;
        }
        process.stdout.write(`${JSON.stringify(plan)}\n`);
        return 0;
    }
    if (mode === "show") {
        const range = restorableRange(info);
        const lines = [
            `Point-in-time recovery (pgBackRest, keep ${(info as { keepFull?: number }).keepFull ?? "?"} full backups): ${archiveSummary(info)}`,
            range ? `  restorable: ${showTime(range.from)} .. now (${showTime(range.to)})` : "  restorable: nothing yet (no proven backup)",
        ];
        for (const b of [...info.backups].reverse()) {
            const proof = b.proof === null ? "not proven yet" : b.proof.ok ? `proven ${b.proof.provenAt}` : `PROOF FAILED: ${b.proof.problem ?? ""}`;
            lines.push(`  ${b.label.padEnd(34)} ${b.type.padEnd(4)} ended ${showTime(b.stoppedAt)}  db ${size(b.databaseBytes).padStart(9)}  repo ${size(b.repoBytes).padStart(9)}  ${proof}`);
        }
        process.stdout.write(`${lines.join("\n")}\n`);
        return 0;
    }
    process.stderr.write("usage: pitr-target.ts plan --to TIME|latest|LABEL [--force] | show   (pitr info JSON on stdin)\n");
    return 2;
}

process.exit(main());
