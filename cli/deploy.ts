// Procedures that change configuration go through `pulumi up` (Automation API), with the policy
// pack exactly as `npm run deploy` runs it, so the config file, the state and what runs agree.
import * as path from "node:path";
import { CliError, EXIT } from "./errors";
import { runCommand } from "./engine";
import { Progress } from "./progress";
import { PROJECT_DIR, StackContext, firstLine } from "./stack";

/** One config value to set (`value`) or remove (`value: undefined`); `key` is a `--path` key such as `opsbook:maintenance`. */
export interface ConfigChange {
    readonly key: string;
    readonly value: string | undefined;
}

/** The current value of a `--path` config key, or undefined when it is not set. Never a secret key. */
export async function configValue(ctx: StackContext, key: string): Promise<string | undefined> {
    try {
        return (await ctx.stack.getConfig(key, true)).value;
    } catch {
        return undefined;
    }
}

/** A plan line for a change: `key: before -> after`. */
export function describeChange(change: ConfigChange, before: string | undefined): string {
    const show = (v: string | undefined) => (v === undefined ? "(not set)" : v);
    return `set ${change.key}: ${show(before)} -> ${show(change.value)} in Pulumi.<stack>.yaml`;
}

/** Config changes as the preview step of the safety frame: apply them and run `pulumi preview`; `undo` puts the config back. */
export function configPreview(ctx: StackContext, changes: readonly ConfigChange[], progress: Progress): { run: () => Promise<void>; undo: () => Promise<void> } {
    let before: ConfigChange[] | undefined;
    return {
        run: async () => {
            before = await Promise.all(changes.map(async (c) => ({ key: c.key, value: await configValue(ctx, c.key) })));
            await applyConfig(ctx, changes);
            await progress.run(`pulumi preview (${ctx.name}, policy pack with ${path.relative(PROJECT_DIR, ctx.policyConfig)})`, () =>
                ctx.stack.preview({
                    policyPacks: [path.join(PROJECT_DIR, "policies")],
                    policyPackConfigs: [ctx.policyConfig],
                    onOutput: (text) => process.stderr.write(text),
                }),
            );
        },
        undo: async () => {
            if (before) {
                await applyConfig(ctx, before);
            }
        },
    };
}

async function applyConfig(ctx: StackContext, changes: readonly ConfigChange[]): Promise<void> {
    for (const change of changes) {
        if (change.value === undefined) {
            await ctx.stack.removeConfig(change.key, true).catch(() => undefined);
        } else {
            await ctx.stack.setConfig(change.key, { value: change.value, secret: false }, true);
        }
    }
}

/**
 * Writes the changes, then `pulumi up`. When the deploy fails, the config goes back to what it
 * was, so the file does not claim a state that never ran; Swarm has already rolled back a service
 * whose new tasks failed their health check.
 */
export async function changeConfigAndDeploy(ctx: StackContext, changes: readonly ConfigChange[], progress: Progress): Promise<void> {
    const before = await Promise.all(changes.map(async (c) => ({ key: c.key, value: await configValue(ctx, c.key) })));
    const locks = await runCommand("node", [path.join(PROJECT_DIR, "scripts", "lib", "stale-locks.js"), ctx.name], { cwd: PROJECT_DIR });
    process.stderr.write(locks.stderr);
    if (locks.code !== 0) {
        throw new CliError(EXIT.FAILED, `stack ${ctx.name} is locked by another pulumi run (see above); nothing was changed`);
    }
    await applyConfig(ctx, changes);
    progress.step(`config of ${ctx.name} updated`);
    const policyConfig = ctx.policyConfig;
    try {
        await progress.run(`pulumi up (${ctx.name}, policy pack with ${path.relative(PROJECT_DIR, policyConfig)})`, () =>
            ctx.stack.up({
                policyPacks: [path.join(PROJECT_DIR, "policies")],
                policyPackConfigs: [policyConfig],
                onOutput: (text) => process.stderr.write(text),
            }),
        );
    } catch (err) {
        await applyConfig(ctx, before);
        throw new CliError(
            EXIT.FAILED,
            `pulumi up failed: ${firstLine(err)}\nThe config is back to what it was; 'npm run deploy -- ${ctx.name}' makes what runs match it again if the failed deploy changed anything.`,
        );
    } finally {
        ctx.invalidate();
    }
}
