// A preset is a spec fragment in the same shape as stack config: the stack's own keys are merged
// over it, so a stack can pick a preset and override any part of it.
export type PresetSpec = Record<string, unknown>;

/** The reference app's migrate command; the real apps' own commands go in `migrations.command`. */
export const MIGRATE = ["node", "/app/dist/main.js", "migrate"];
export const PREFLIGHT = ["node", "/app/dist/main.js", "preflight"];
