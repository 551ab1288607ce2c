// Deploy time over SSH against local: the same stack (Postgres and one api of the reference app,
// no Redis, no backups) deployed with `pulumi up` to this machine's engine and to a test server's
// engine over ssh:// (test/hosts/server.sh: an engine and sshd in a network namespace at
// 10.213.0.31), cold (the server has none of the images: they are copied) and again after a
// destroy (the images are there), then a no-op `pulumi up` of each. Prints a table and the ratios;
// writes bench/results/remote.json.
//
//   node --import tsx bench/remote.ts [--runs N]    (in a shell prepared by the toolchain; needs root)
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TestStack } from "../test/e2e/harness";
import { TestServer, startTestServer, stopTestServer } from "../test/hosts/server";

const ROOT = path.resolve(__dirname, "..");
const SERVER = { name: "opsbook-bch", address: "10.213.0.31" };

const USAGE = `Usage: node --import tsx bench/remote.ts [--runs N]

Deploys one small stack (Postgres and one api) to this machine's engine and to a test server's
engine over ssh:// (made and removed here), and prints per target: cold pulumi up s (over SSH:
images copied first), pulumi up s again after a destroy (images already there), no-op pulumi up s;
medians of N runs (default 1) and the SSH/local ratios. JSON in bench/results/remote.json.`;

const progress = (step: string, t0: number) => process.stderr.write(`[bench-remote] ${step} (${Math.round((Date.now() - t0) / 1000)}s)\n`);

const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timed(stack: TestStack, args: string[]): Promise<number> {
    const started = Date.now();
    const res = await stack.pulumi(args);
    if (res.code !== 0) {
        throw new Error(`pulumi ${args.join(" ")} failed for ${stack.name}:\n${res.stdout.slice(-3000)}\n${res.stderr.slice(-2000)}`);
    }
    return (Date.now() - started) / 1000;
}

async function measure(engineYaml: string, t0: number, label: string): Promise<{ coldS: number; againS: number; noopS: number }> {
    const stack = new TestStack("e2e-bench-remote");
    try {
        await stack.init(`config:\n${engineYaml}  opsbook:redis:\n    enabled: false\n  opsbook:backups:\n    enabled: false\n  opsbook:services:\n    api:\n      env:\n        APP_ROLE: api\n      uses: [postgres]\n`);
        const up = ["up", "--yes", "--non-interactive", "--skip-preview"];
        progress(`${label}: cold pulumi up`, t0);
        const coldS = await timed(stack, up);
        progress(`${label}: no-op pulumi up`, t0);
        const noopS = await timed(stack, up);
        await timed(stack, ["destroy", "--yes", "--non-interactive", "--skip-preview"]);
        progress(`${label}: pulumi up after destroy`, t0);
        const againS = await timed(stack, up);
        progress(`${label}: cold ${coldS.toFixed(1)} s, again ${againS.toFixed(1)} s, no-op ${noopS.toFixed(1)} s`, t0);
        return { coldS, againS, noopS };
    } finally {
        await stack.dispose();
    }
}

async function main(): Promise<number> {
    const argv = process.argv.slice(2);
    if (argv.includes("--help") || argv.includes("-h")) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    const runsAt = argv.indexOf("--runs");
    const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : 1;
    if (!Number.isInteger(runs) || runs < 1 || argv.some((a, i) => a.startsWith("-") && a !== "--runs" && i !== runsAt + 1)) {
        process.stderr.write(`bench-remote: bad options ${argv.join(" ")}\n\n${USAGE}\n`);
        return 2;
    }
    const t0 = Date.now();
    const results: { local: { coldS: number; againS: number; noopS: number }[]; ssh: { coldS: number; againS: number; noopS: number }[] } = { local: [], ssh: [] };
    for (let i = 1; i <= runs; i++) {
        progress(`run ${i}/${runs}: test server ${SERVER.name} at ${SERVER.address}`, t0);
        let server: TestServer;
        try {
            server = await startTestServer(SERVER.name, SERVER.address);
        } catch (err) {
            process.stderr.write(`bench-remote: ${err instanceof Error ? err.message : String(err)}\n`);
            return 1;
        }
        const remoteYaml = `  opsbook:engine:\n    host: ssh://root@${SERVER.address}\n    knownHosts: "${server.knownHosts}"\n    identityFile: ${server.identityFile}\n    publishAddress: ${SERVER.address}\n`;
        try {
            results.local.push(await measure("", t0, `run ${i}: local`));
            results.ssh.push(await measure(remoteYaml, t0, `run ${i}: ssh`));
        } finally {
            await stopTestServer(SERVER.name);
        }
    }
    const rows: [string, keyof (typeof results.local)[number]][] = [
        ["cold pulumi up s (ssh: images copied)", "coldS"],
        ["pulumi up after destroy s (images there)", "againS"],
        ["no-op pulumi up s", "noopS"],
    ];
    const lines = [
        `${"".padEnd(42)}${"local".padStart(10)}${"ssh://".padStart(10)}${"ssh/local".padStart(12)}`,
        ...rows.map(([label, key]) => {
            const l = median(results.local.map((r) => r[key]));
            const s = median(results.ssh.map((r) => r[key]));
            return `${label.padEnd(42)}${l.toFixed(1).padStart(10)}${s.toFixed(1).padStart(10)}${`${(s / l).toFixed(2)}x`.padStart(12)}`;
        }),
        `runs: ${runs}; load average at end ${os.loadavg().map((x) => x.toFixed(2)).join(" ")} on ${os.cpus().length} cores`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    const out = path.join(ROOT, "bench", "results", "remote.json");
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify({ generatedAt: new Date().toISOString(), runs, results, table: lines }, null, 2)}\n`);
    return 0;
}

main().then(
    (code) => process.exit(code),
    (err) => {
        process.stderr.write(`bench-remote: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
    },
);
