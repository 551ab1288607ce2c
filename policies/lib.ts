// Shared plumbing for the pack: type filters for the dynamic-provider resources, reading values
// whatever wrapping the engine put on them, and the wording every violation message shares.
//
// The program's resources come from TypeScript dynamic providers, so there are no resource classes
// to hand to @pulumi/policy's validateResourceOfType; the helpers here filter on the type token
// instead and narrow the props to the provider's input interface.
import type {
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    StackValidation,
    StackValidationArgs,
} from "@pulumi/policy";
import type { ContainerRole } from "../components/envContract";
import type { ContainerInputs, NetworkInputs, VolumeInputs } from "../providers/docker";

/** Type token prefix of every resource the program's dynamic providers register. */
export const DYNAMIC_TYPE_PREFIX = "pulumi-nodejs:dynamic/opsbook:";

/** The props each dynamic resource kind carries, by the kind its provider registers. */
export interface DynamicKinds {
    Container: ContainerInputs;
    Network: NetworkInputs;
    Volume: VolumeInputs;
}

/** The full type token of a dynamic resource kind, e.g. `pulumi-nodejs:dynamic/opsbook:Container`. */
export function dynamicType(kind: keyof DynamicKinds): string {
    return `${DYNAMIC_TYPE_PREFIX}${kind}`;
}

export const CONTAINER_TYPE = dynamicType("Container");

/** A scheduled backup is any resource whose type ends with this, whatever module registers it. */
export const BACKUP_SCHEDULE_TYPE_SUFFIX = ":BackupSchedule";

/** Roles of containers that run until stopped, as opposed to one-off jobs. */
export const LONG_RUNNING_ROLES: readonly ContainerRole[] = ["service", "worker", "database", "cache"];

// ---------------------------------------------------------------------------------------------
// Values as the engine hands them over

/**
 * Sentinels the engine sends for values not known during preview (they depend on a resource not
 * created yet, e.g. a generated password on the first deploy). A check that meets one skips that
 * value: `pulumi up` analyzes again with the real value before anything is created.
 */
const UNKNOWN_SENTINELS = new Set([
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", // boolean
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421", // number
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", // string
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2", // array
    "030794c1-ac77-496b-92df-f27374a8bd58", // asset
    "e48ece36-62e2-4504-bad9-02848725956a", // archive
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff", // object
]);

/** The wire signature of a secret, as the engine marshals it with KeepSecrets. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** The accessor @pulumi/policy's props proxies answer with the object they wrap. */
const PROXY_TARGET = "__getSpecialProxyTarget";

/** True for a value the engine does not know yet (preview only). */
export function isUnknown(value: unknown): boolean {
    return typeof value === "string" && UNKNOWN_SENTINELS.has(value);
}

/**
 * The plain value of a prop, deep. @pulumi/policy 1.21 hands validations secrets already unwrapped
 * (its props proxy is created with proxySecrets=false); a remediation sees them wrapped in its
 * `Secret` class, and a raw gRPC struct has them as `{<sig>: <secret sig>, value}`. All three come
 * out here as the plain value, so a rule never depends on which path delivered the props.
 *
 * The props proxy throws on any read of an unknown value, which would stop a whole rule during
 * preview; reading through the proxy's target instead leaves unknowns as sentinels for the rule to
 * skip one by one.
 */
export function plain(value: unknown): unknown {
    if (value === null || typeof value !== "object") {
        return value;
    }
    const target = (value as Record<string, unknown>)[PROXY_TARGET];
    if (target !== undefined && target !== value && typeof target === "object") {
        return plain(target);
    }
    if (Array.isArray(value)) {
        return value.map(plain);
    }
    const obj = value as Record<string, unknown>;
    if (obj[SIG_KEY] === SECRET_SIG) {
        return plain(obj.value);
    }
    if (isPolicySecret(obj)) {
        return plain(obj.value);
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(obj)) {
        out[key] = plain(obj[key]);
    }
    return out;
}

/** @pulumi/policy's `Secret` (checked by shape, so two copies of the package both count). */
function isPolicySecret(obj: Record<string, unknown>): obj is { value: unknown } {
    return obj.constructor?.name === "Secret" && "value" in obj && Object.keys(obj).length === 1;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Typed validation helpers

/**
 * A ResourceValidation that runs only for one dynamic resource kind and gets its props narrowed to
 * the provider's input interface (plain values; any leaf may still be an unknown sentinel during
 * preview, see `isUnknown`). Like @pulumi/policy's validateResourceOfType, it carries the type token
 * so the policy server skips other resources without calling it.
 */
export function validateResourceOfDynamicType<K extends keyof DynamicKinds>(
    kind: K,
    validate: (props: DynamicKinds[K], args: ResourceValidationArgs, reportViolation: ReportViolation) => void | Promise<void>,
): ResourceValidation {
    const type = dynamicType(kind);
    const validation: ResourceValidation = (args, reportViolation) => {
        if (args.type !== type) {
            return;
        }
        const props = plain(args.props);
        if (!isRecord(props)) {
            return;
        }
        return validate(props as unknown as DynamicKinds[K], args, reportViolation);
    };
    return Object.assign(validation, { __pulumiType: type });
}

/** One resource of a dynamic kind in a stack, with its props narrowed as above. */
export interface StackResourceOf<K extends keyof DynamicKinds> {
    readonly resource: PolicyResource;
    readonly props: DynamicKinds[K];
}

/** The stack's resources of one dynamic kind, in the stack's order. */
export function resourcesOfDynamicType<K extends keyof DynamicKinds>(
    resources: readonly PolicyResource[],
    kind: K,
): StackResourceOf<K>[] {
    const type = dynamicType(kind);
    const found: StackResourceOf<K>[] = [];
    for (const resource of resources) {
        if (resource.type !== type) {
            continue;
        }
        const props = plain(resource.props);
        if (isRecord(props)) {
            found.push({ resource, props: props as unknown as DynamicKinds[K] });
        }
    }
    return found;
}

/** Marks a stack validation as concerning one type, so the server skips stacks without it. */
export function forStacksWith(type: string, validate: StackValidation): StackValidation {
    return Object.assign(validate, { __pulumiType: type });
}

/**
 * The policy's config with every default of its schema filled in. The engine fills defaults from
 * the schema itself; doing it here too keeps a rule right when called without the engine (tests,
 * the benchmark) and when the config file names only the enforcement level.
 */
export function configOf<T extends object>(
    args: ResourceValidationArgs | StackValidationArgs,
    schema: PolicyConfigSchema,
): T {
    const defaults: Record<string, unknown> = {};
    for (const [key, prop] of Object.entries(schema.properties)) {
        if (prop.default !== undefined) {
            defaults[key] = prop.default;
        }
    }
    return { ...defaults, ...args.getConfig<Record<string, unknown>>() } as T;
}

// ---------------------------------------------------------------------------------------------
// Env

/** What a container's environment holds under one name. Never carries a value into a message. */
export type EnvReading =
    | { readonly state: "absent" }
    | { readonly state: "unknown"; readonly secret: boolean }
    | { readonly state: "set"; readonly value: string; readonly secret: boolean };

/**
 * Reads one env name the way the container will see it: secretEnv wins over env, as in the
 * provider's create body. A non-string value (never produced by the components) counts as its
 * JSON text.
 */
export function envValue(container: Pick<ContainerInputs, "env" | "secretEnv">, name: string): EnvReading {
    for (const [map, secret] of [
        [container.secretEnv, true],
        [container.env, false],
    ] as const) {
        if (isUnknown(map)) {
            return { state: "unknown", secret };
        }
        if (!isRecord(map) || !Object.prototype.hasOwnProperty.call(map, name) || map[name] === undefined || map[name] === null) {
            continue;
        }
        const raw = map[name];
        if (isUnknown(raw)) {
            return { state: "unknown", secret };
        }
        return { state: "set", value: typeof raw === "string" ? raw : JSON.stringify(raw), secret };
    }
    return { state: "absent" };
}

/** Every name set in env or secretEnv, each once (secretEnv first, as it wins). */
export function envNames(container: Pick<ContainerInputs, "env" | "secretEnv">): string[] {
    const names = new Set<string>();
    for (const map of [container.secretEnv, container.env]) {
        if (isRecord(map)) {
            for (const name of Object.keys(map)) {
                names.add(name);
            }
        }
    }
    return [...names];
}

/** True when a reading has a value that is not only whitespace (or is unknown, so may have one). */
export function isFilled(reading: EnvReading): boolean {
    return reading.state === "unknown" || (reading.state === "set" && reading.value.trim() !== "");
}

/** The contract list under `key`, tolerating a contract from an older state that lacks it. */
export function contractList(container: Pick<ContainerInputs, "envContract">, key: "required" | "equalAcrossServices" | "requiredInProduction"): string[] {
    const contract = container.envContract as unknown;
    if (!isRecord(contract) || !Array.isArray(contract[key])) {
        return [];
    }
    return (contract[key] as unknown[]).filter((n): n is string => typeof n === "string");
}

// ---------------------------------------------------------------------------------------------
// Wording

function label(container: Pick<ContainerInputs, "labels">, key: string): string | undefined {
    const labels = container.labels as unknown;
    if (!isRecord(labels)) {
        return undefined;
    }
    const value = labels[key];
    return typeof value === "string" && !isUnknown(value) ? value : undefined;
}

/** The service a container runs (label `opsbook.service`), if it is an app service. */
export function serviceOf(container: Pick<ContainerInputs, "labels">): string | undefined {
    return label(container, "opsbook.service");
}

/** The stack a container belongs to (label `opsbook.stack`). */
export function stackOf(container: Pick<ContainerInputs, "labels">): string | undefined {
    return label(container, "opsbook.stack");
}

/** "container `api-container` (service `api`)": how every message names a container. */
export function describeContainer(resourceName: string, container: Pick<ContainerInputs, "labels">): string {
    const service = serviceOf(container);
    const component = label(container, "opsbook.component");
    const owner = service ? ` (service \`${service}\`)` : component ? ` (component \`${component}\`)` : "";
    return `container \`${resourceName}\`${owner}`;
}

/** Where a user sets an env name for this container: the spec key and the CLI command. */
export function howToSet(container: Pick<ContainerInputs, "labels">, name: string): string {
    const service = serviceOf(container);
    const stack = stackOf(container);
    const command = `'pulumi config set --secret ${name} <value>${stack ? ` --stack ${stack}` : ""}'`;
    if (!service) {
        return `run ${command}`;
    }
    return `declare it in \`opsbook:services.${service}.secretEnv\` (source \`config\`) and run ${command}, or set it in \`opsbook:services.${service}.env\` if it is not a secret`;
}

/** `A`, `B` and `C`. */
export function listNames(names: readonly string[], conjunction = "and"): string {
    const quoted = names.map((n) => `\`${n}\``);
    if (quoted.length <= 1) {
        return quoted.join("");
    }
    return `${quoted.slice(0, -1).join(", ")} ${conjunction} ${quoted[quoted.length - 1]}`;
}
