// What monitoring adds to a stack: the bench topology (Postgres, Redis, one api; no backups) deployed
// with `opsbook:monitoring.enabled` false and then true, each as `npm run deploy` deploys it (`pulumi
// up` with its preview and staging's policy pack): cold deploy, no-op deploy, the memory of the
// monitoring services (`docker stats --no-stream`), destroy. One run per variant: on a shared machine
// read the figures with the load average printed beside them.
//
//   node --import tsx bench/monitoring-cost.ts [--on-first]    (in a shell prepared by the toolchain)
//
// The first deploy after a code change also compiles the program; `--on-first` swaps the order
// to see how much of a difference is the order rather than monitoring.
//
// Table on stdout, JSON in bench/results/monitoring-cost.json.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TestStack, docker, requireEngines } from "../test/e2e/harness";

const STAGING_POLICY = ["--policy-pack", "policies", "--policy-pack-config", "policies/config/staging.json"];

function config(monitoring: boolean): string {
    return [
        "config:",
        "  opsbook:backups: {enabled: false}",
        `  opsbook:monitoring: {enabled: ${monitoring}}`,
        "  opsbook:services:",
        "    api: {env: {APP_ROLE: api}, uses: [postgres, redis]}",
        "",
    ].join("\n");
}

interface Variant {
    monitoring: boolean;
    coldS: number;
    noopS: number;
    destroyS: number;
    services: number;
    memoryMiB: Record<string, number>;
    load: number[];
}

/** `docker stats` memory like `15.6MiB / 64MiB` in MiB. */
function mib(usage: string): number {
    const m = /^([\d.]+)\s*([KMG]i?B)/.exec(usage.trim());
    if (!m) {
        return NaN;
    }
    const unit = { KiB: 1 / 1024, KB: 1 / 1024, MiB: 1, MB: 1, GiB: 1024, GB: 1024 }[m[2]] ?? NaN;
    return Math.round(Number(m[1]) * unit * 10) / 10;
}

async function timed<T>(what: () => Promise<T>): Promise<[T, number]> {
    const t0 = Date.now();
    const value = await what();
    return [value, Math.round((Date.now() - t0) / 100) / 10];
}

async function measure(monitoring: boolean): Promise<Variant> {
    const stack = new TestStack(`bench-mon-${monitoring ? "on" : "off"}`);
    try {
        await stack.init(config(monitoring));
        const [cold, coldS] = await timed(() => stack.up(STAGING_POLICY));
        if (cold.code !== 0) {
            throw new Error(`cold pulumi up failed:\n${cold.stdout}\n${cold.stderr}`);
        }
        const [noop, noopS] = await timed(() => stack.up([...STAGING_POLICY, "--expect-no-changes"]));
        if (noop.code !== 0) {
            throw new Error(`no-op pulumi up failed or changed something:\n${noop.stdout}\n${noop.stderr}`);
        }
        // Let the monitoring services scrape for a while before their memory is read.
        await new Promise((r) => setTimeout(r, 30_000));
        const stats = await docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}");
        const memoryMiB: Record<string, number> = {};
        for (const line of stats.stdout.split("\n")) {
            const match = new RegExp(`^opsbook-${stack.name}-(monitoring-[a-z-]+)\\.\\S+ (.*)$`).exec(line);
            if (match) {
                memoryMiB[match[1]] = mib(match[2]);
            }
        }
        const services = (await stack.services()).length;
        const load = os.loadavg().map((l) => Math.round(l * 10) / 10);
        const [, destroyS] = await timed(() => stack.pulumi(["destroy", "--yes", "--non-interactive", "--skip-preview"]));
        return { monitoring, coldS, noopS, destroyS, services, memoryMiB, load };
    } finally {
        await stack.dispose();
    }
}

async function main(): Promise<void> {
    requireEngines();
    const variants: Variant[] = [];
    const order = process.argv.includes("--on-first") ? [true, false] : [false, true];
    for (const monitoring of order) {
        process.stderr.write(`[monitoring-cost] monitoring ${monitoring ? "on" : "off"}\n`);
        variants.push(await measure(monitoring));
    }
    const off = variants.find((v) => !v.monitoring)!;
    const on = variants.find((v) => v.monitoring)!;
    const total = Object.values(on.memoryMiB).reduce((a, b) => a + b, 0);
    const rows = [
        ["", "monitoring off", "monitoring on", "added"],
        ["swarm services", String(off.services), String(on.services), String(on.services - off.services)],
        ["cold deploy s", String(off.coldS), String(on.coldS), (on.coldS - off.coldS).toFixed(1)],
        ["no-op deploy s", String(off.noopS), String(on.noopS), (on.noopS - off.noopS).toFixed(1)],
        ["destroy s", String(off.destroyS), String(on.destroyS), (on.destroyS - off.destroyS).toFixed(1)],
        ["monitoring memory MiB", "0", total.toFixed(1), Object.entries(on.memoryMiB).map(([k, v]) => `${k} ${v}`).join(", ")],
        ["load average after", off.load.join(" "), on.load.join(" "), ""],
    ];
    console.log(rows.map((r) => `| ${r.join(" | ")} |`).join("\n"));
    const out = path.join(__dirname, "results", "monitoring-cost.json");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), order: order.map((m) => (m ? "on" : "off")), variants }, null, 2) + "\n");
}

main().catch((err: unknown) => {
    console.error(`[monitoring-cost] FAILED: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
});
