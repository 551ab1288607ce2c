// `restore [<backup>]`: the stack's backup agent restores a verified backup (after a safety backup
// of the live data), inside the safety frame. The agent is the stack's own image, so `docker exec`
// into it assumes nothing of the team's images; `npm run backup -- restore` does the same.
import { CliError, EXIT } from "./errors";
import { Engine } from "./engine";
import { Progress } from "./progress";
import { runChange } from "./safety";
import { StackContext } from "./stack";

interface ListedBackup {
    name: string;
    status: string;
    restoreDefault?: boolean;
    target?: string;
    kind?: string;
    ageSeconds: number;
    reason?: string;
}

function age(seconds: number): string {
    return seconds < 120 ? `${seconds} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;
}

async function agentCommand(engine: Engine, agent: string, args: string[]): Promise<string> {
    const res = await engine.docker(["exec", agent, "backup-agent", ...args]);
    if (res.code !== 0) {
        throw new CliError(EXIT.FAILED, `backup-agent ${args[0]} failed: ${(res.stderr || res.stdout).trim()}`);
    }
    return res.stdout;
}

export async function restore(ctx: StackContext, name: string | undefined, opts: { yes: boolean; force: boolean }, progress: Progress): Promise<Record<string, unknown>> {
    const agentService = (await ctx.outputs()).backups?.agentService;
    if (!agentService) {
        throw new CliError(EXIT.USAGE, `stack ${ctx.name} has no backup agent (no \`backups\` in its outputs): it needs Postgres or a SQLite volume and \`opsbook:backups.enabled\` not false`);
    }
    const found = await ctx.runningTask(agentService);
    if (!found) {
        throw new CliError(EXIT.UNAVAILABLE, `no task of the backup agent ${agentService} is running; 'docker service ps ${agentService}' shows why`);
    }
    const { engine, task: agent } = found;
    const backups = (JSON.parse(await agentCommand(engine, agent, ["list", "--json"])) as { backups: ListedBackup[] }).backups;
    const defaults = backups.filter((b) => b.restoreDefault);
    if (name === undefined && defaults.length !== 1) {
        throw new CliError(
            EXIT.USAGE,
            defaults.length === 0 ? "there is no verified backup to restore; 'npm run backup -- list' shows the backups" : `the stack has several databases; name the backup to restore (newest verified: ${defaults.map((b) => b.name).join(", ")})`,
        );
    }
    const chosen = name === undefined ? defaults[0] : backups.find((b) => b.name === name);
    if (!chosen) {
        throw new CliError(EXIT.USAGE, `no backup named ${name}; the stack's backups: ${backups.map((b) => b.name).join(", ") || "none"}`);
    }
    if (chosen.status !== "verified" && !opts.force) {
        throw new CliError(EXIT.USAGE, `${chosen.name} is ${chosen.status}${chosen.reason ? ` (${chosen.reason})` : ""}; pick a verified backup or pass --force. Nothing was changed`);
    }
    return runChange(
        ctx,
        {
            procedure: "restore",
            args: { backup: chosen.name, force: opts.force },
            yes: opts.yes,
            plan: [
                // The agent takes the safety backup with --force too; --force only lets a failed one pass.
                opts.force ? "a safety backup of the live data (to undo with); with --force the restore goes on if it fails" : "a safety backup of the live data (to undo with)",
                `replace the live data of ${chosen.target ?? chosen.kind} with ${chosen.name} (${chosen.status}, taken ${age(chosen.ageSeconds)} ago)`,
                "then, before trading resumes: 'opsbook read-only on', check the data, 'opsbook read-only off' (seed 004)",
            ],
        },
        progress,
        () => progress.run(`restoring ${chosen.name}`, async () => JSON.parse(await agentCommand(engine, agent, ["restore", chosen.name, "--confirmed", "--json", ...(opts.force ? ["--force"] : [])])) as Record<string, unknown>),
    );
}
