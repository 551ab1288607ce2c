// The frame every changing procedure runs in: say what will happen, get a confirmation, then act
// and leave an audit entry whatever the outcome.
import * as readline from "node:readline/promises";
import { AuditEntry, auditArgs, currentUser, recordAudit } from "./audit";
import { CliError, EXIT } from "./errors";
import { Progress } from "./progress";
import { StackContext, firstLine } from "./stack";

export interface ChangeRequest {
    /** The procedure's name as typed (`maintenance on`, `pause`, ...). */
    readonly procedure: string;
    /** Its arguments, for the audit entry (secrets are never arguments; secret-looking keys are left out anyway). */
    readonly args: Record<string, string | boolean | undefined>;
    /** What it will do, one step per line, in the order it will happen. */
    readonly plan: string[];
    /** `--yes`: no question asked. */
    readonly yes: boolean;
    /**
     * A dry run shown before the question (`pulumi preview` of a config change); `undo` reverts
     * what `run` had to set up. Skipped with `--yes`: `pulumi up` prints the same diff as it goes.
     */
    readonly preview?: { run: () => Promise<void>; undo: () => Promise<void> };
}

/** Asks on the terminal; true only for an explicit yes. */
async function confirmed(question: string): Promise<boolean> {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    try {
        const answer = await rl.question(question);
        return /^(y|yes)$/i.test(answer.trim());
    } finally {
        rl.close();
    }
}

/**
 * Prints the plan, confirms (or refuses without a terminal and without `--yes`), runs `act`, and
 * records the audit entry: `ok`, or `failed` with the reason. A refusal changes and records nothing.
 */
export async function runChange<T>(ctx: StackContext, req: ChangeRequest, progress: Progress, act: () => Promise<T>): Promise<T> {
    process.stderr.write(`opsbook ${req.procedure} on stack ${ctx.name} will:\n${req.plan.map((line, i) => `  ${i + 1}. ${line}`).join("\n")}\n`);
    if (!req.yes) {
        if (!process.stdin.isTTY) {
            throw new CliError(EXIT.NOT_CONFIRMED, "no terminal to confirm on and no --yes: refusing; nothing was changed (pass --yes to go ahead)");
        }
        if (req.preview) {
            try {
                await req.preview.run();
            } catch (err) {
                await req.preview.undo();
                throw new CliError(EXIT.FAILED, `the preview failed (see above): ${firstLine(err)}; nothing was changed`);
            }
        }
        if (!(await confirmed(`Go ahead on ${ctx.name}? [y/N] `))) {
            await req.preview?.undo();
            throw new CliError(EXIT.NOT_CONFIRMED, "not confirmed; nothing was changed");
        }
    }
    const engine = await ctx.engine();
    const started = new Date();
    const entry = (result: AuditEntry["result"], error?: string): AuditEntry => ({
        at: started.toISOString(),
        who: currentUser(),
        stack: ctx.name,
        procedure: req.procedure,
        args: auditArgs(req.args),
        result,
        ...(error ? { error } : {}),
        durationMs: Date.now() - started.getTime(),
    });
    let outcome: T;
    try {
        outcome = await act();
    } catch (err) {
        await recordAudit(engine, ctx.identity, entry("failed", firstLine(err))).catch((auditErr: unknown) =>
            progress.step(`could not record the audit entry: ${firstLine(auditErr)}`),
        );
        throw err;
    }
    const name = await recordAudit(engine, ctx.identity, entry("ok")).catch((auditErr: unknown) => {
        throw new CliError(EXIT.FAILED, `${req.procedure} was done, but its audit entry could not be recorded: ${firstLine(auditErr)}`);
    });
    progress.step(`audit entry ${name} recorded`);
    return outcome;
}
