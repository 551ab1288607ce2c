// Point-in-time recovery figures on a database of known size (issue 13, item 5): a Postgres stack
// with pgBackRest, a pgbench database of `--scale` (68 is about 1 GB), then
//   - a full base backup (time, size in the repository) and its proof (verify + scratch restore + sanity query),
//   - the WAL archive lag while pgbench writes at a steady rate,
//   - a restore of the live database to a time in the middle of that writing.
// One run: on a shared machine read the figures with the load average printed beside them.
//
//   node --import tsx bench/pitr.ts [--scale 68] [--rate 50] [--seconds 60]   (in a shell prepared by the toolchain)
//
// Table on stdout, JSON in bench/results/pitr.json.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TestStack, docker, requireEngines, run, taskContainer, waitFor } from "../test/e2e/harness";

function arg(name: string, fallback: number): number {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const scale = arg("scale", 68);
const rate = arg("rate", 50);
const seconds = arg("seconds", 60);

if (process.argv.includes("--help") || process.argv.includes("-h")) {
    process.stdout.write(fs.readFileSync(__filename, "utf8").split("\n").filter((l) => l.startsWith("//")).map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
    process.exit(0);
}

const CONFIG = `config:
  opsbook:redis:
    enabled: false
  opsbook:monitoring:
    enabled: false
  opsbook:postgres:
    memoryMb: 1024
  opsbook:services:
    api:
      env:
        APP_ROLE: api
      uses: [postgres]
`;

async function main(): Promise<void> {
    requireEngines();
    const stack = new TestStack("bench-pitr");
    const figures: Record<string, unknown> = { scale, rate, seconds, loadavg: os.loadavg().map((l) => l.toFixed(2)).join(" "), cpus: os.cpus().length };
    const timed = async <T>(what: string, f: () => Promise<T>): Promise<[T, number]> => {
        const t0 = Date.now();
        const v = await f();
        const s = (Date.now() - t0) / 1000;
        stack.log(`${what}: ${s.toFixed(1)} s`);
        return [v, s];
    };
    try {
        await stack.init(CONFIG);
        await stack.pinImages();
        const up = await stack.up();
        if (up.code !== 0) {
            throw new Error(`pulumi up failed:\n${up.stdout}\n${up.stderr}`);
        }
        const outputs = await stack.outputs();
        const pg = () => taskContainer(outputs.postgresService);
        const exec = async (...cmd: string[]) => {
            const res = await docker("exec", await pg(), ...cmd);
            if (res.code !== 0) {
                throw new Error(`${cmd.join(" ")} failed: ${res.stderr}`);
            }
            return res.stdout;
        };
        const info = async () => JSON.parse(await exec("pitr", "info"));
        await waitFor("the first proven base backup", 300, info, (i) => i.backups.some((b: { proof: { ok: boolean } | null }) => b.proof?.ok));

        const pgbenchArgs = ["-h", "/var/run/postgresql", "-U", "opsbook_admin"];
        const [, initS] = await timed(`pgbench -i -s ${scale}`, () => exec("pgbench", "-i", "-q", "-s", String(scale), ...pgbenchArgs, "app"));
        const dbBytes = Number((await exec("psql", "-X", "-At", ...pgbenchArgs, "-d", "app", "-c", "select pg_database_size('app')")).trim());
        figures.pgbenchInitSeconds = initS;
        figures.databaseBytes = dbBytes;

        // What `npm run backup -- now --full` runs in the Postgres task after the agent's dump.
        const [backupOut, backupAndProofS] = await timed("full base backup + proof", () => exec("pitr", "backup", "--type", "full", "--trigger", "bench"));
        const backup = JSON.parse(backupOut.trim().split("\n").pop() ?? "{}");
        figures.baseBackup = { label: backup.label, seconds: backup.durationMs / 1000, repoBytes: backup.repoBytes, proofSeconds: backupAndProofS - backup.durationMs / 1000 };

        // A steady writer: pgbench's TPC-B-like transactions at a fixed rate.
        const writer = docker("exec", await pg(), "pgbench", "-n", "-c", "2", "-R", String(rate), "-T", String(seconds), ...pgbenchArgs, "app");
        const lags: number[] = [];
        let target = "";
        const t0 = Date.now();
        while (Date.now() - t0 < seconds * 1000) {
            const i = await info();
            lags.push(i.archive.server.secondsSinceLastArchived);
            if (!target && Date.now() - t0 > (seconds * 1000) / 2) {
                target = new Date().toISOString().replace("T", " ").replace("Z", "");
            }
            await new Promise((r) => setTimeout(r, 2000));
        }
        const written = await writer;
        figures.archiveLagSeconds = { samples: lags, max: Math.max(...lags), mean: Number((lags.reduce((a, b) => a + b, 0) / lags.length).toFixed(1)) };
        figures.writer = (/tps = [\d.]+/.exec(written.stdout) ?? [""])[0];

        const [restore, restoreS] = await timed(`restore --to "${target}"`, () =>
            run("bash", ["scripts/backup.sh", "restore", "--to", target, "--force", "--json", "--stack", stack.name], { env: stack.env }),
        );
        if (restore.code !== 0) {
            throw new Error(`restore failed:\n${restore.stdout}\n${restore.stderr}`);
        }
        figures.restoreToTimeSeconds = restoreS;
        figures.restoreCommand = `npm run backup -- restore --to "${target}" --force`;
        const after = await info();
        figures.restored = after.restored;
    } finally {
        await stack.dispose();
    }
    const dir = path.join(__dirname, "results");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "pitr.json"), `${JSON.stringify(figures, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}

main().catch((err) => {
    process.stderr.write(`[bench] FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
});
