// Rules on what each service's environment holds, read from the env contract the components put
// in the `opsbook.env-contract` label of every docker.Service (components/envContract.ts). A name
// is delivered either as plain env `NAME`, or as the secret file `NAME_FILE=/run/secrets/NAME`
// bound in the service's `opsbook.secrets` label to a docker.Secret of the stack.
//
// Presence is checked on each Service alone (a resource rule, so it runs before the service is
// created); values that live in a docker.Secret (formats, placeholders) need the secret too, so
// those rules are stack rules that join the binding to the Secret. Messages name the resource,
// the service and the env name, never a value.
import type { PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { looksLikeSecretName, plainEnvSecretReason } from "../components/spec";
import type { EnvFormat } from "../components/envContract";
import {
    UNKNOWN,
    type Workload,
    configOf,
    contractOf,
    describe,
    envSource,
    fileEnvName,
    howToSet,
    isProvided,
    listNames,
    validateContainer,
    validateJob,
    validateService,
    validateStackView,
} from "./lib";
import { placeholderFamily } from "./placeholders";

/** The message for a required name a service does not deliver (shared with env-required-in-production). */
export function missingMessage(workload: Workload, name: string, production = false): string | undefined {
    const source = envSource(workload, name);
    const need = production ? `needs \`${name}\` in production` : `needs \`${name}\``;
    if (source.state === "absent") {
        return (
            `${describe(workload)} ${need}, which is not set (neither plain env \`${name}\` nor a secret file \`${fileEnvName(name)}\` bound in its \`opsbook.secrets\` label); ` +
            `${howToSet(workload, name)}.`
        );
    }
    if (!isProvided(source)) {
        return `${describe(workload)} ${need}, and its plain env \`${name}\` is empty; give it a real value: ${howToSet(workload, name)}.`;
    }
    return undefined;
}

/** Every name in the contract's `required` is delivered. */
export const envRequiredPresent: ResourceValidationPolicy = {
    name: "env-required-present",
    description:
        "Every env name a service's contract lists as required is delivered: as plain env that is not empty, or as a secret file " +
        "(`NAME_FILE` pointing at /run/secrets/NAME, bound in the service's `opsbook.secrets` label and mounted). " +
        "The runbooks' apps refuse to start (or answer 403) without them. An empty secret value is reported by env-no-placeholder-values.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: validateService((service, _props, _args, reportViolation) => {
        const { contract, problem } = contractOf(service);
        if (problem) {
            reportViolation(`${describe(service)} cannot be checked: ${problem}; the component must write it with JSON.stringify of an EnvContract (components/swarmService.ts).`);
            return;
        }
        for (const name of contract.required) {
            const message = missingMessage(service, name);
            if (message) {
                reportViolation(message);
            }
        }
    }),
};

/** For each either/or group of the contract, one alternative is fully delivered. */
export const envEitherOrGroups: ResourceValidationPolicy = {
    name: "env-either-or-groups",
    description:
        "For every either/or group in a service's contract, at least one alternative has all of its names delivered (plain and not empty, or as a bound secret file), " +
        "e.g. `API_KEY` with `CLIENT_CERT_SUBJECT_HEADER` or with both `OIDC_ISSUER` and `OIDC_AUDIENCE`, or `DATABASE_URL` or the `DB_*` trio.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: validateService((service, _props, _args, reportViolation) => {
        for (const group of contractOf(service).contract.anyOf) {
            if (group.length === 0) {
                continue;
            }
            if (group.some((alt) => alt.every((name) => isProvided(envSource(service, name))))) {
                continue;
            }
            const options = group.map((alt) => listNames(alt)).join("; or ");
            reportViolation(
                `${describe(service)} needs one of: ${options}; none of these is fully set. ` +
                    `Set every name of one alternative (secrets with 'pulumi config set --secret NAME <value>').`,
            );
        }
    }),
};

/** How a format is checked and what a message says it must be. */
export interface FormatCheck {
    readonly test: (value: string) => boolean;
    /** Completes "`NAME` of <service> must be ...". */
    readonly expectation: string;
}

export const FORMAT_CHECKS: Readonly<Record<EnvFormat, FormatCheck>> = {
    hex64: {
        test: (v) => /^[0-9a-fA-F]{64}$/.test(v),
        expectation:
            "exactly 64 hexadecimal characters (a 32-byte key); generate one with 'openssl rand -hex 32', or declare it with source `generated-hex64`",
    },
    "telegram-secret-token": {
        test: (v) => /^[A-Za-z0-9_-]{1,256}$/.test(v),
        expectation: "1 to 256 characters from A-Z, a-z, 0-9, `_` and `-` (the rule Telegram sets for a webhook's secret_token)",
    },
    url: {
        test: (v) => {
            if (!/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(v)) {
                return false;
            }
            try {
                new URL(v);
                return true;
            } catch {
                return false;
            }
        },
        expectation: "a URL with a scheme, such as postgres://USER:PASSWORD@HOST:5432/DB or https://HOST/PATH, with no spaces",
    },
};

/** Values with a declared format have it, secret values read from their docker.Secret. */
export const envValueFormats: StackValidationPolicy = {
    name: "env-value-formats",
    description:
        "Env values whose format a service's contract declares have it, whether plain or in the docker.Secret the service binds (its `data`, base64-decoded): " +
        "`hex64` is 64 hexadecimal characters (TRADING_KEY_ENCRYPTION_KEY), `telegram-secret-token` is 1 to 256 of A-Z, a-z, 0-9, `_` and `-`, " +
        "and `url` is a URL with a scheme. Values not known during preview are checked by the analysis `pulumi up` runs.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateStack: validateStackView((view, _args, reportViolation) => {
        for (const service of view.services) {
            for (const [name, format] of Object.entries(contractOf(service).contract.formats)) {
                const check = FORMAT_CHECKS[format as EnvFormat];
                if (!check) {
                    reportViolation(
                        `${describe(service)} declares format \`${String(format)}\` for \`${name}\`, which this policy pack does not know; ` +
                            `use one of ${listNames(Object.keys(FORMAT_CHECKS), "or")}.`,
                        service.urn,
                    );
                    continue;
                }
                const reading = view.read(service, name);
                // An absent or empty value is the required rules' (and the empty-secret family's) business.
                if (reading.state !== "set" || reading.value.trim() === "") {
                    continue;
                }
                if (!check.test(reading.value)) {
                    const where = reading.from ? ` (secret \`${reading.from.key}\`, docker.Secret \`${reading.from.resource.name}\`)` : "";
                    reportViolation(`\`${name}\`${where} of ${describe(service)} must be ${check.expectation}.`, service.urn);
                }
            }
        }
    }),
};

/** Config of env-no-placeholder-values. */
export interface PlaceholderConfig {
    /** More whole values to refuse (trimmed, case-insensitive). */
    readonly extraPlaceholders: string[];
    /** More regular expressions to refuse (JavaScript syntax, matched case-insensitively). */
    readonly extraPatterns: string[];
    /** Env names never checked (for a plain setting that legitimately looks like a placeholder). */
    readonly ignoreNames: string[];
}

const placeholderConfigSchema: PolicyConfigSchema = {
    properties: {
        extraPlaceholders: {
            type: "array",
            items: { type: "string", minLength: 1 },
            default: [],
            description: "More whole values to refuse, compared trimmed and case-insensitively.",
        },
        extraPatterns: {
            type: "array",
            items: { type: "string", minLength: 1 },
            default: [],
            description: "More regular expressions (JavaScript syntax) to refuse, matched case-insensitively anywhere in the value.",
        },
        ignoreNames: {
            type: "array",
            items: { type: "string", pattern: "^[A-Z_][A-Z0-9_]*$" },
            default: [],
            description: "Env names this rule never checks.",
        },
    },
};

/** No env value, plain or secret, is a placeholder; no secret is empty. */
export const envNoPlaceholderValues: StackValidationPolicy = {
    name: "env-no-placeholder-values",
    description:
        "No env value of a service is a placeholder copied from a runbook or template (`changeme`, `sk-...`, `<new-secret>`, `TX_ID_HERE`, " +
        "`xxxx`, `https://your-domain/...`), and no secret it binds is empty or a common default. Secret values are read from the bound docker.Secret. " +
        "The families are listed in the pack's README; the config can add values and patterns.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: placeholderConfigSchema,
    validateStack: validateStackView((view, args, reportViolation) => {
        const config = configOf<PlaceholderConfig>(args, placeholderConfigSchema);
        const extra = { values: config.extraPlaceholders, patterns: config.extraPatterns };
        for (const service of view.services) {
            for (const name of view.envNames(service)) {
                if (config.ignoreNames.includes(name)) {
                    continue;
                }
                const reading = view.read(service, name);
                if (reading.state !== "set") {
                    continue;
                }
                const family = placeholderFamily(reading.value, reading.secret, extra);
                if (family) {
                    const kind = reading.secret ? `secret${reading.from ? ` (docker.Secret \`${reading.from.resource.name}\`)` : ""}` : "plain env value";
                    reportViolation(
                        `${describe(service)} has a placeholder as the ${kind} of \`${name}\` (family \`${family}\`); ` +
                            `replace it with the real value: ${howToSet(service, name)}.`,
                        service.urn,
                    );
                }
            }
        }
    }),
};

/** Resources a plain env name is checked on, and what to do instead for each. */
function secretFileAdvice(workload: Workload, name: string): string {
    if (workload.specService) {
        return (
            `move it to \`opsbook:services.${workload.specService}.secretEnv.${name}\` (source \`config\`, or \`generated\`) and run ` +
            `'pulumi config set --secret ${name} <value>${workload.stack ? ` --stack ${workload.stack}` : ""}'; the service then reads it from ` +
            `/run/secrets/${name} (\`${fileEnvName(name)}\` in its env)`
        );
    }
    return `deliver it as a secret file instead (its component mounts a docker.Secret with secretMount and sets \`${fileEnvName(name)}\`)`;
}

function checkPlainEnv(workload: Workload, reportViolation: (message: string) => void): void {
    for (const [name, value] of Object.entries(workload.env)) {
        // `NAME_FILE` is a path, not a secret: looksLikeSecretName agrees (its last word is FILE).
        // A value not known yet can still be judged by its name.
        const reason = value === UNKNOWN ? (looksLikeSecretName(name) ? plainEnvSecretReason(name, "") : undefined) : plainEnvSecretReason(name, value);
        if (reason) {
            reportViolation(
                `${describe(workload)} has \`${name}\` in its plain env, which ${reason}: plain env is shown by 'docker inspect' and kept in clear in the stack's state; ` +
                    `${secretFileAdvice(workload, name)}.`,
            );
        }
    }
}

/** No plain env name looks like a secret's (the spec's own rule, components/spec.ts). */
export const envNoSecretLookingPlainEnv: ResourceValidationPolicy = {
    name: "env-no-secret-looking-plain-env",
    description:
        "No plain env entry of a service, the gateway container or a one-shot job looks like a secret: a name whose last word is SECRET, TOKEN, PASSWORD, KEY, " +
        "CREDENTIALS and the like (`JWT_SECRET`, `API_KEY`; not `PUBLIC_KEY` or `JWT_SECRET_FILE`), or a URL with a password in it. " +
        "The rule is components/spec.ts's `plainEnvSecretReason`, the same one the spec applies to `services.<name>.env`; secrets belong in `secretEnv`.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: [
        validateService((workload, _props, _args, reportViolation) => checkPlainEnv(workload, reportViolation)),
        validateContainer((workload, _props, _args, reportViolation) => checkPlainEnv(workload, reportViolation)),
        validateJob((workload, _props, _args, reportViolation) => checkPlainEnv(workload, reportViolation)),
    ],
};

export const envPolicies = [envRequiredPresent, envEitherOrGroups, envValueFormats, envNoPlaceholderValues, envNoSecretLookingPlainEnv];
