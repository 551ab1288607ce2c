// Rules on what each container's environment holds, read from the env contract the components
// attach to every Container (components/envContract.ts). They run on the resource's inputs, before
// the container is created, so a deploy that would start an app with a missing or unsafe secret
// stops before anything changes. Messages name the container and the env name, never the value.
import type { PolicyConfigSchema, ResourceValidationPolicy } from "@pulumi/policy";
import type { EnvFormat } from "../components/envContract";
import {
    configOf,
    contractList,
    describeContainer,
    envNames,
    envValue,
    howToSet,
    isFilled,
    isUnknown,
    listNames,
    validateResourceOfDynamicType,
} from "./lib";
import { placeholderFamily } from "./placeholders";

/** Every name in `envContract.required` is set to a non-empty value. */
export const envRequiredPresent: ResourceValidationPolicy = {
    name: "env-required-present",
    description:
        "Every env name a container's contract lists as required is set, in env or secretEnv, to a value that is not empty. " +
        "The runbooks' apps refuse to start (or answer 403) without them.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        for (const name of contractList(container, "required")) {
            const reading = envValue(container, name);
            if (reading.state === "absent") {
                reportViolation(
                    `${describeContainer(args.name, container)} needs \`${name}\`, which is not set; ${howToSet(container, name)}.`,
                );
            } else if (!isFilled(reading)) {
                reportViolation(
                    `${describeContainer(args.name, container)} has \`${name}\` set to an empty value; give it a real value: ${howToSet(container, name)}.`,
                );
            }
        }
    }),
};

/** For each either/or group of the contract, one alternative is fully set. */
export const envEitherOrGroups: ResourceValidationPolicy = {
    name: "env-either-or-groups",
    description:
        "For every either/or group in a container's contract, at least one alternative has all of its names set to non-empty values, " +
        "e.g. `API_KEY` with `CLIENT_CERT_SUBJECT_HEADER` or with both `OIDC_ISSUER` and `OIDC_AUDIENCE`, or `DATABASE_URL` or the `DB_*` trio.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        const groups = (container.envContract as { anyOf?: unknown } | undefined)?.anyOf;
        if (!Array.isArray(groups)) {
            return;
        }
        for (const group of groups as unknown[]) {
            if (!Array.isArray(group) || group.length === 0) {
                continue;
            }
            const alternatives = group
                .filter((alt): alt is unknown[] => Array.isArray(alt))
                .map((alt) => alt.filter((n): n is string => typeof n === "string"))
                .filter((alt) => alt.length > 0);
            const satisfied = alternatives.some((alt) => alt.every((name) => isFilled(envValue(container, name))));
            if (satisfied || alternatives.length === 0) {
                continue;
            }
            const options = alternatives.map((alt) => listNames(alt)).join("; or ");
            reportViolation(
                `${describeContainer(args.name, container)} needs one of: ${options}; none of these is fully set. ` +
                    `Set every name of one alternative (secrets with 'pulumi config set --secret NAME <value>').`,
            );
        }
    }),
};

/** How a format is checked and what a message says it must be. */
export interface FormatCheck {
    readonly test: (value: string) => boolean;
    /** Completes "`NAME` of <container> must be ...". */
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

/** Values with a declared format have it. */
export const envValueFormats: ResourceValidationPolicy = {
    name: "env-value-formats",
    description:
        "Env values whose format the contract declares have it: `hex64` is 64 hexadecimal characters (TRADING_KEY_ENCRYPTION_KEY), " +
        "`telegram-secret-token` is 1 to 256 of A-Z, a-z, 0-9, `_` and `-`, and `url` is a URL with a scheme.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        const formats = (container.envContract as { formats?: unknown } | undefined)?.formats;
        if (formats === null || typeof formats !== "object" || isUnknown(formats)) {
            return;
        }
        for (const [name, format] of Object.entries(formats as Record<string, unknown>)) {
            const check = typeof format === "string" ? FORMAT_CHECKS[format as EnvFormat] : undefined;
            if (!check) {
                reportViolation(
                    `${describeContainer(args.name, container)} declares format \`${String(format)}\` for \`${name}\`, which this policy pack does not know; ` +
                        `use one of ${listNames(Object.keys(FORMAT_CHECKS), "or")}.`,
                );
                continue;
            }
            const reading = envValue(container, name);
            // An absent or empty value is the required rules' business; unknown values wait for `up`.
            if (reading.state !== "set" || reading.value.trim() === "") {
                continue;
            }
            if (!check.test(reading.value)) {
                reportViolation(`\`${name}\` of ${describeContainer(args.name, container)} must be ${check.expectation}.`);
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
export const envNoPlaceholderValues: ResourceValidationPolicy = {
    name: "env-no-placeholder-values",
    description:
        "No env value of a container is a placeholder copied from a runbook or template (`changeme`, `sk-...`, `<new-secret>`, `TX_ID_HERE`, " +
        "`xxxx`, `https://your-domain/...`), and no secret is empty or a common default. The families are listed in the pack's README; " +
        "the config can add values and patterns.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: placeholderConfigSchema,
    validateResource: validateResourceOfDynamicType("Container", (container, args, reportViolation) => {
        const config = configOf<PlaceholderConfig>(args, placeholderConfigSchema);
        const extra = { values: config.extraPlaceholders, patterns: config.extraPatterns };
        const required = contractList(container, "required");
        for (const name of envNames(container)) {
            if (config.ignoreNames.includes(name)) {
                continue;
            }
            const reading = envValue(container, name);
            if (reading.state !== "set") {
                continue;
            }
            const family = placeholderFamily(reading.value, reading.secret, extra);
            // An empty required value is env-required-present's to report; one message per mistake.
            if (family === "empty-secret" && required.includes(name)) {
                continue;
            }
            if (family) {
                const kind = reading.secret ? "secret" : "env value";
                reportViolation(
                    `${describeContainer(args.name, container)} has a placeholder as the ${kind} of \`${name}\` (family \`${family}\`); ` +
                        `replace it with the real value: ${howToSet(container, name)}.`,
                );
            }
        }
    }),
};

export const envPolicies = [envRequiredPresent, envEitherOrGroups, envValueFormats, envNoPlaceholderValues];
