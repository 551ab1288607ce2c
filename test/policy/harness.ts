// Runs one policy's validateResource / validateStack the way the policy server does, without an
// engine, and collects what it reports.
//
// `delivery` chooses how the props reach the policy:
// - "plain":   the object as written (what a unit test would naively pass);
// - "engine":  marshalled as the engine does (secrets as the wire's secret signature, unknowns as the
//              engine's sentinels), then through @pulumi/policy's own deserializeProperties and
//              unknownCheckingProxy: exactly what a validation receives from `pulumi preview/up`;
// - "wrapped": the same, but with secrets kept as @pulumi/policy `Secret` objects behind its
//              secrets-preserving proxy (what a remediation receives);
// - "wire":    the marshalled object itself, secret signatures and all.
import type {
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";

// Internal modules of @pulumi/policy (no public types): the exact code the policy server runs.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { deserializeProperties } = require("@pulumi/policy/deserialize") as {
    deserializeProperties(struct: Struct, proxySecrets: boolean): Record<string, unknown>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { unknownCheckingProxy } = require("@pulumi/policy/proxy") as {
    unknownCheckingProxy<T>(props: T): T;
};

export type Delivery = "plain" | "engine" | "wrapped" | "wire";
export const DELIVERIES: readonly Delivery[] = ["plain", "engine", "wrapped", "wire"];

/** The engine's sentinel for a string not known during preview. */
export const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Type tokens of the resources the program registers. */
export const SERVICE = "docker:index/service:Service";
export const CONTAINER = "docker:index/container:Container";
export const SECRET = "docker:index/secret:Secret";
export const ONE_SHOT = "pulumi-nodejs:dynamic/opsbook:OneShotRun";

/** Paths (dot-separated; `*` for every key of a map) whose values are secrets on the wire. */
export type SecretPaths = readonly string[];

/** A docker.Secret's `data` is secret (pulumi.secret and additionalSecretOutputs), as is a job's `redact` list. */
export const INPUT_SECRETS: SecretPaths = ["data", "redact"];
export const OUTPUT_SECRETS: SecretPaths = ["data", "redact"];

/** `args.isType` as the policy server answers it: by the class's type token. */
function isTypeOf(type: string): (cls: unknown) => boolean {
    return (cls) => (cls as { __pulumiType?: string } | undefined)?.__pulumiType === type;
}

function markSecrets(value: unknown, paths: SecretPaths, at: string[] = []): unknown {
    const here = at.join(".");
    const secret = paths.some((p) => {
        const parts = p.split(".");
        return parts.length === at.length && parts.every((part, i) => part === "*" || part === at[i]);
    });
    let inner: unknown = value;
    if (Array.isArray(value)) {
        inner = value.map((v, i) => markSecrets(v, paths, [...at, String(i)]));
    } else if (value !== null && typeof value === "object") {
        inner = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, markSecrets(v, paths, [...at, k])]));
    }
    return secret && here !== "" ? { [SIG_KEY]: SECRET_SIG, value: inner } : inner;
}

/** Props as the given delivery hands them to a policy. */
export function deliver(props: object, delivery: Delivery, secrets: SecretPaths): Record<string, unknown> {
    // JSON drops undefined fields, as the engine's marshalling does.
    const json = JSON.parse(JSON.stringify(props)) as Record<string, unknown>;
    if (delivery === "plain") {
        return json;
    }
    const wire = markSecrets(json, secrets) as Record<string, unknown>;
    if (delivery === "wire") {
        return wire;
    }
    const struct = Struct.fromJavaScript(wire as never);
    return unknownCheckingProxy(deserializeProperties(struct, delivery === "wrapped"));
}

/** The defaults the engine fills in from a policy's schema before the config file's values. */
export function schemaDefaults(schema: PolicyConfigSchema | undefined): Record<string, unknown> {
    const defaults: Record<string, unknown> = {};
    for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
        if (prop.default !== undefined) {
            defaults[key] = prop.default;
        }
    }
    return defaults;
}

class NotApplicable extends Error {}

export interface Violation {
    readonly message: string;
    readonly urn?: string;
}

export interface ResourceCase {
    readonly props: object;
    readonly type?: string;
    readonly name?: string;
    /** Policy config properties (the engine adds the schema defaults; so does this harness). */
    readonly config?: Record<string, unknown>;
    readonly delivery?: Delivery;
    readonly secrets?: SecretPaths;
}

/** Runs a resource policy on one resource; returns the messages it reported. */
export async function runResourcePolicy(policy: ResourceValidationPolicy, c: ResourceCase): Promise<string[]> {
    const type = c.type ?? SERVICE;
    const name = c.name ?? "api-service";
    const delivery = c.delivery ?? "engine";
    const props = deliver(c.props, delivery, c.secrets ?? INPUT_SECRETS);
    const messages: string[] = [];
    const args: ResourceValidationArgs = {
        type,
        name,
        urn: urnOf(type, name),
        props,
        opts: emptyOpts(),
        stackTags: new Map(),
        isType: isTypeOf(type),
        asType: () => undefined,
        getConfig: <T extends object>() => ({ ...schemaDefaults(policy.configSchema), ...c.config }) as T,
        notApplicable: (reason?: string): never => {
            throw new NotApplicable(reason);
        },
    };
    const validations = Array.isArray(policy.validateResource) ? policy.validateResource : policy.validateResource ? [policy.validateResource] : [];
    for (const validate of validations) {
        try {
            await validate(args, (message) => messages.push(message));
        } catch (err) {
            if (!(err instanceof NotApplicable)) {
                throw err;
            }
        }
    }
    return messages;
}

/** One resource of a fake stack. */
export interface StackEntry {
    readonly name: string;
    readonly props: object;
    readonly type?: string;
}

export interface StackCase {
    readonly resources: readonly StackEntry[];
    readonly config?: Record<string, unknown>;
    readonly delivery?: Delivery;
    readonly secrets?: SecretPaths;
}

/** Runs a stack policy over a fake stack; returns the violations (message and URN) it reported. */
export async function runStackPolicy(policy: StackValidationPolicy, c: StackCase): Promise<Violation[]> {
    const delivery = c.delivery ?? "engine";
    const resources: PolicyResource[] = c.resources.map((r) => {
        const type = r.type ?? SERVICE;
        return {
            type,
            name: r.name,
            urn: urnOf(type, r.name),
            props: deliver(r.props, delivery, c.secrets ?? OUTPUT_SECRETS),
            opts: emptyOpts(),
            dependencies: [],
            propertyDependencies: {},
            isType: isTypeOf(type),
            asType: () => undefined,
        };
    });
    const violations: Violation[] = [];
    const args: StackValidationArgs = {
        resources,
        stackTags: new Map(),
        getConfig: <T extends object>() => ({ ...schemaDefaults(policy.configSchema), ...c.config }) as T,
        notApplicable: (reason?: string): never => {
            throw new NotApplicable(reason);
        },
    };
    try {
        await policy.validateStack(args, (message, urn) => violations.push({ message, urn }));
    } catch (err) {
        if (!(err instanceof NotApplicable)) {
            throw err;
        }
    }
    return violations;
}

export function urnOf(type: string, name: string): string {
    return `urn:pulumi:test::opsbook::${type}::${name}`;
}

function emptyOpts(): ResourceValidationArgs["opts"] {
    return {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
    };
}

/** The policy's name, for test titles. */
export function titleOf(policy: Policy): string {
    return policy.name;
}
