// The one place that reads stack config. Everything downstream receives the typed spec and the
// user-supplied secrets as Outputs marked secret.
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, SPEC_KEYS, Spec, SpecError, configKeyProblems, parseSpec } from "./components/spec";
import { ReceiverSecretState, TELEGRAM_CHAT_ID, receiverProblems, receiverSecrets } from "./components/monitoring/settings";
import { backupsEnabled } from "./components/backupPlan";
import { OFFSITE_KEYS, encryptionKeyProblem, repositoryKeyProblem, sshKeyProblem } from "./components/offsitePlan";
import { applyPreset } from "./presets";
import { parseEngineHost } from "./components/engineHost";
import { ENGINE_TLS_KEYS, EngineTlsMaterial, EngineTlsSecrets, engineTlsProblems, writeEngineTls } from "./components/engineTls";
import { ENGINE_TLS_FILES } from "./providers/engineCli";

export interface StackSettings {
    readonly project: string;
    readonly stack: string;
    readonly spec: Spec;
    /** User-supplied secrets by env name (set with `pulumi config set --secret NAME value`). */
    readonly userSecrets: Record<string, pulumi.Output<string>>;
    /** The static HTTP probe the toolchain built (`OPSBOOK_PROBE`), for health checks of any image. */
    readonly probePath: string;
    /** The alert receivers' secrets by config key (secret Outputs), and which are set (names only). */
    readonly alertReceivers: { readonly values: Record<string, pulumi.Output<string>>; readonly state: ReceiverSecretState };
    /** The off-site copy's private key and encryption key (secret Outputs), when `backups.offsite` is set. */
    readonly offsite?: OffsiteSecrets;
    /**
     * `PITR_REPOSITORY_KEY` (secret Output), when set: the pgBackRest repository key of a stack
     * whose repository this one restores after a host loss, used instead of a generated key.
     */
    readonly pitrRepositoryKey?: pulumi.Output<string>;
    /** A tcp:// engine's TLS material (secret Outputs), for the docker provider. */
    readonly engineTls?: EngineTlsSecrets;
}

/** The stack secrets of `opsbook:backups.offsite`. */
export interface OffsiteSecrets {
    /** `OFFSITE_SSH_KEY`: the private key the agent logs in to the off-site host with (ends with a newline, as ssh wants). */
    readonly sshKey: pulumi.Output<string>;
    /** `OFFSITE_ENCRYPTION_KEY`: restic's repository password; the copy is unreadable without it. */
    readonly encryptionKey: pulumi.Output<string>;
}

// The SDK knows which config keys were set with --secret; it exposes that only internally.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

/** Spec keys whose values are plain strings in YAML (`preset`, `release`); the rest are JSON (objects, booleans). */
function isStringSpecKey(key: string): boolean {
    return key === "preset" || key === "release";
}

/**
 * The spec of a stack from its config as the Automation API lists it (`namespace:key` -> the value
 * as text), for the `opsbook` CLI, which reads a stack from outside a Pulumi program. The same keys
 * and the same parsing as `readStackSettings`; secrets are not read here.
 */
export function specFromConfigValues(values: Record<string, string>): Spec {
    const raw: Record<string, unknown> = {};
    for (const key of SPEC_KEYS) {
        const text = values[`${CONFIG_NAMESPACE}:${key}`];
        if (text === undefined) {
            continue;
        }
        try {
            raw[key] = isStringSpecKey(key) ? text : JSON.parse(text);
        } catch {
            throw new SpecError([`\`${CONFIG_NAMESPACE}:${key}\` is not valid JSON; fix it in Pulumi.<stack>.yaml`]);
        }
    }
    return parseSpec(applyPreset(raw));
}

export function readStackSettings(): StackSettings {
    const config = new pulumi.Config("opsbook");
    const raw: Record<string, unknown> = {};
    for (const key of SPEC_KEYS) {
        raw[key] = isStringSpecKey(key) ? config.get(key) : config.getObject(key);
    }
    // Every key set for the stack, so a misspelt one (`opsbook:servics`) is refused, not ignored.
    const keys = Object.keys(pulumi.runtime.allConfig());
    let spec: Spec;
    try {
        spec = parseSpec(applyPreset(raw));
    } catch (err) {
        // The spec's own problems often follow from a misspelt key (`services` is required): name both.
        const keyProblems = configKeyProblems(keys);
        throw err instanceof SpecError && keyProblems.length > 0 ? new SpecError([...keyProblems, ...err.problems]) : err;
    }
    const keyProblems = configKeyProblems(keys, spec);
    if (keyProblems.length > 0) {
        throw new SpecError(keyProblems);
    }

    const userSecrets: Record<string, pulumi.Output<string>> = {};
    const plain: string[] = [];
    for (const svc of Object.values(spec.services)) {
        for (const [name, source] of Object.entries(svc.secretEnv)) {
            if (!source.startsWith("config") || name in userSecrets) {
                continue;
            }
            if (config.get(name) !== undefined && !runtimeConfig.isConfigSecret(`opsbook:${name}`)) {
                plain.push(name);
                continue;
            }
            // A missing value is not an error here: the policy pack names every missing required
            // secret at once, before anything changes, and says how to set it.
            const value = config.getSecret(name);
            if (value !== undefined) {
                userSecrets[name] = value;
            }
        }
    }
    // The alert receivers' secrets: every one a configured receiver needs must be set, as a secret.
    const receiverState: ReceiverSecretState = {};
    const receiverValues: Record<string, pulumi.Output<string>> = {};
    const receiverFormat: string[] = [];
    if (spec.monitoring.enabled) {
        for (const [kind, secrets] of Object.entries(receiverSecrets(spec.monitoring)) as [keyof ReceiverSecretState, { name: string }[]][]) {
            const state: Record<string, "set" | "missing"> = {};
            for (const { name } of secrets) {
                const value = config.get(name);
                if (value !== undefined && !runtimeConfig.isConfigSecret(`opsbook:${name}`)) {
                    plain.push(name);
                }
                state[name] = value === undefined || value === "" ? "missing" : "set";
                if (value !== undefined && kind === "telegram" && name === spec.monitoring.receivers.telegram?.chatIdSecret && !TELEGRAM_CHAT_ID.test(value.trim())) {
                    receiverFormat.push(
                        `\`opsbook:${name}\` (the chat of \`opsbook:monitoring.receivers.telegram\`) must be a numeric chat id such as 123456789 or -1001234567890 (not @name); ` +
                            `ask the Bot API's getUpdates after writing to the bot, then \`pulumi config set --secret ${name}\``,
                    );
                }
                const secret = config.getSecret(name);
                if (secret !== undefined) {
                    receiverValues[name] = secret;
                }
            }
            receiverState[kind] = state;
        }
    }
    const receiverIssues = [...receiverProblems(receiverState, false), ...receiverFormat];
    // The off-site copy's secrets: both required as secrets, in a form the agent can use. The
    // values are read here only to check their form; messages never quote them.
    let offsite: OffsiteSecrets | undefined;
    const offsiteIssues: string[] = [];
    if (spec.backups.offsite && backupsEnabled(spec)) {
        for (const name of [OFFSITE_KEYS.sshKey, OFFSITE_KEYS.encryptionKey]) {
            if (config.get(name) !== undefined && !runtimeConfig.isConfigSecret(`opsbook:${name}`)) {
                plain.push(name);
            }
        }
        const sshKeyIssue = sshKeyProblem(config.get(OFFSITE_KEYS.sshKey));
        const encryptionKeyIssue = encryptionKeyProblem(config.get(OFFSITE_KEYS.encryptionKey));
        offsiteIssues.push(...[sshKeyIssue, encryptionKeyIssue].filter((p): p is string => p !== undefined));
        if (offsiteIssues.length === 0) {
            offsite = {
                // `pulumi config set --secret NAME < file` keeps the file's text; ssh needs the final newline.
                sshKey: config.requireSecret(OFFSITE_KEYS.sshKey).apply((k) => `${k.trim()}\n`),
                encryptionKey: config.requireSecret(OFFSITE_KEYS.encryptionKey).apply((k) => k.trim()),
            };
        }
    }
    // The repository key of a lost stack, kept offline by the operator: a secret, of a usable form.
    let pitrRepositoryKey: pulumi.Output<string> | undefined;
    if (config.get(OFFSITE_KEYS.repositoryKey) !== undefined) {
        if (!runtimeConfig.isConfigSecret(`opsbook:${OFFSITE_KEYS.repositoryKey}`)) {
            plain.push(OFFSITE_KEYS.repositoryKey);
        }
        const issue = repositoryKeyProblem(config.get(OFFSITE_KEYS.repositoryKey));
        if (issue) {
            offsiteIssues.push(issue);
        } else {
            pitrRepositoryKey = config.requireSecret(OFFSITE_KEYS.repositoryKey).apply((k) => k.trim());
        }
    }
    // A tcp:// engine's TLS material: all three, as secrets, in PEM form; written to this
    // machine's private directory for the docker CLI calls (components/engineTls.ts).
    let engineTls: EngineTlsSecrets | undefined;
    const engineTlsIssues: string[] = [];
    const engineHost = parseEngineHost(spec.engine.host);
    if ("kind" in engineHost && engineHost.kind === "tcp") {
        const values = Object.fromEntries(ENGINE_TLS_FILES.map((file) => [file, config.get(ENGINE_TLS_KEYS[file])])) as Partial<EngineTlsMaterial>;
        const plainTls = new Set(Object.values(ENGINE_TLS_KEYS).filter((name) => config.get(name) !== undefined && !runtimeConfig.isConfigSecret(`opsbook:${name}`)));
        engineTlsIssues.push(...engineTlsProblems(values, plainTls));
        if (engineTlsIssues.length === 0) {
            writeEngineTls(engineHost.host, values as EngineTlsMaterial);
            engineTls = {
                ca: config.requireSecret(ENGINE_TLS_KEYS["ca.pem"]),
                cert: config.requireSecret(ENGINE_TLS_KEYS["cert.pem"]),
                key: config.requireSecret(ENGINE_TLS_KEYS["key.pem"]),
            };
        }
    }
    if (plain.length > 0 || receiverIssues.length > 0 || offsiteIssues.length > 0 || engineTlsIssues.length > 0) {
        throw new SpecError([
            ...plain.map(
                (name) =>
                    `\`opsbook:${name}\` is a secret but is stored in plain text; run ` +
                    `'pulumi config set --secret ${name} <value>' (it replaces the plain value)`,
            ),
            ...receiverIssues,
            ...offsiteIssues,
            ...engineTlsIssues,
        ]);
    }
    const probePath = process.env.OPSBOOK_PROBE;
    if (!probePath) {
        throw new pulumi.RunError(
            "OPSBOOK_PROBE is not set: it names the HTTP probe that checks the services' health; run 'eval \"$(npm run -s toolchain)\"' in this shell first",
        );
    }
    return {
        project: pulumi.getProject(),
        stack: pulumi.getStack(),
        spec,
        userSecrets,
        probePath,
        alertReceivers: { values: receiverValues, state: receiverState },
        ...(offsite ? { offsite } : {}),
        ...(pitrRepositoryKey ? { pitrRepositoryKey } : {}),
        ...(engineTls ? { engineTls } : {}),
    };
}
