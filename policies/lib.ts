// Shared plumbing for the pack: reading values whatever wrapping the engine put on them, a typed
// view of every workload the program registers (a @pulumi/docker Service, the gateway Container,
// a one-shot job), the join from a service's secret bindings to the docker.Secret that holds the
// value, and the wording every violation message shares.
//
// What the components write (components/naming.ts, swarmService.ts, secretFiles.ts):
// - every engine object carries `opsbook.project`, `opsbook.stack` and `opsbook.component`;
// - a Service carries `opsbook.service` (the spec's name, app services only), `opsbook.image-ref`
//   (the reference a person wrote; the task runs the image ID), `opsbook.env-contract` (JSON
//   EnvContract) and `opsbook.secrets` (JSON `{NAME: key}`);
// - each secret value is a docker.Secret labelled `opsbook.secret-env` = key, with base64 `data`;
//   a service that binds NAME to it mounts it at /run/secrets/NAME and has NAME_FILE in its env.
import * as docker from "@pulumi/docker";
import type {
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    StackValidation,
    StackValidationArgs,
} from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import { EMPTY_ENV_CONTRACT, type EnvContract } from "../components/envContract";
import {
    LABEL_COMPONENT,
    LABEL_ENV_CONTRACT,
    LABEL_IMAGE_REF,
    LABEL_PROJECT,
    LABEL_HEALTHCHECK,
    LABEL_SECRET_BINDINGS,
    LABEL_SECRET_ENV,
    LABEL_SERVICE,
    LABEL_STACK,
} from "../components/naming";
import { SECRETS_DIR, fileEnvName } from "../components/secretFiles";

export { fileEnvName, SECRETS_DIR };

/** Type token of the one-shot jobs (providers/oneShot.ts): migrations, preflight, grants. */
export const ONE_SHOT_TYPE = "pulumi-nodejs:dynamic/opsbook:OneShotRun";

/** A scheduled backup is any resource whose type ends with this, whatever module registers it. */
export const BACKUP_SCHEDULE_TYPE_SUFFIX = ":BackupSchedule";

/**
 * The value of `opsbook.healthcheck` on a service/worker that deliberately keeps its image's own
 * HEALTHCHECK instead of a health check in its task spec (the spec's `healthCheck: image`).
 */
export { LABEL_HEALTHCHECK };
export const HEALTHCHECK_FROM_IMAGE = "image";

/** `opsbook.component` values of the swarm services that run until stopped (one-shot jobs are not services). */
export const LONG_RUNNING_SERVICE_COMPONENTS = ["service", "worker", "database", "cache", "scheduler", "backup", "monitoring"] as const;
/** Every component a long-running workload can have: the services' and the gateway container's. */
export const LONG_RUNNING_COMPONENTS = [...LONG_RUNNING_SERVICE_COMPONENTS, "gateway"] as const;

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

export function isRecord(value: unknown): value is Record<string, unknown> {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A known string, or undefined (absent, unknown or not a string). */
export function knownString(value: unknown): string | undefined {
    return typeof value === "string" && !isUnknown(value) ? value : undefined;
}

/** A list of known strings; unknown or non-string entries are dropped. */
export function knownStrings(value: unknown): string[] {
    return Array.isArray(value) ? value.filter((v): v is string => knownString(v) !== undefined) : [];
}

// ---------------------------------------------------------------------------------------------
// Props of the resources the rules read

type DeepPartial<T> = T extends readonly (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/**
 * Props of a docker.Service as a rule sees them: the SDK's camelCase shape, every field optional
 * (inputs leave defaults out) and, during preview, any leaf possibly an unknown sentinel.
 */
export type ServiceProps = DeepPartial<{
    name: string;
    labels: docker.types.output.ServiceLabel[];
    taskSpec: docker.types.output.ServiceTaskSpec;
    endpointSpec: docker.types.output.ServiceEndpointSpec;
    updateConfig: docker.types.output.ServiceUpdateConfig;
    rollbackConfig: docker.types.output.ServiceRollbackConfig;
    mode: docker.types.output.ServiceMode;
}>;

/** Props of a docker.Container (the gateway), as above. */
export type ContainerProps = DeepPartial<{
    name: string;
    image: string;
    envs: string[];
    labels: docker.types.output.ContainerLabel[];
    ports: docker.types.output.ContainerPort[];
    healthcheck: docker.types.output.ContainerHealthcheck;
    restart: string;
    memory: number;
    readOnly: boolean;
    capabilities: docker.types.output.ContainerCapabilities;
    command: string[];
    entrypoints: string[];
}>;

/** Props of a docker.Secret, as above. `data` is the base64 value. */
export type SecretProps = DeepPartial<{ name: string; data: string; labels: docker.types.output.SecretLabel[] }>;

/** Props of a one-shot job (providers/oneShot.ts), as above. */
export type OneShotProps = DeepPartial<{
    name: string;
    imageName: string;
    command: string[];
    env: Record<string, string>;
    labels: Record<string, string>;
    secretFiles: { secretName: string; env: string }[];
}>;

/** `[{label, value}]` (the SDK's shape) or a plain map, as a map of the known values. */
export function labelMap(labels: unknown): Record<string, string> {
    const out: Record<string, string> = {};
    if (Array.isArray(labels)) {
        for (const entry of labels) {
            if (isRecord(entry)) {
                const label = knownString(entry.label);
                const value = knownString(entry.value);
                if (label !== undefined && value !== undefined) {
                    out[label] = value;
                }
            }
        }
    } else if (isRecord(labels)) {
        for (const [label, value] of Object.entries(labels)) {
            const known = knownString(value);
            if (known !== undefined) {
                out[label] = known;
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Workloads: one view of a Service, the gateway Container and a one-shot job

/** An env value: a string, or UNKNOWN during preview. */
export const UNKNOWN: unique symbol = Symbol("unknown");
export type EnvValue = string | typeof UNKNOWN;

export interface Workload {
    readonly kind: "service" | "container" | "job";
    /** The Pulumi resource name, e.g. `api-service`. */
    readonly resourceName: string;
    readonly urn?: string;
    readonly labels: Record<string, string>;
    readonly component?: string;
    /** The spec's service name (`opsbook.service`), on the services the spec declares. */
    readonly specService?: string;
    readonly stack?: string;
    readonly project?: string;
    /** Plain env by name; UNKNOWN for a value not known yet. */
    readonly env: Record<string, EnvValue>;
    /** True when the whole env is not known yet (preview). */
    readonly envUnknown: boolean;
    /** Env name -> stack secret key, from `opsbook.secrets`. */
    readonly bindings: Record<string, string>;
    /** Secret files mounted into the task, by path, with the secret's engine name when known. */
    readonly secretFiles: ReadonlyMap<string, string | undefined>;
    /** True when the mounted secrets are not known yet (preview). */
    readonly secretFilesUnknown: boolean;
    /** Command and arguments, for the "no secret in plain sight" rule. */
    readonly commandLine: string[];
}

function envFromMap(env: unknown): { env: Record<string, EnvValue>; unknown: boolean } {
    if (isUnknown(env)) {
        return { env: {}, unknown: true };
    }
    const out: Record<string, EnvValue> = {};
    if (isRecord(env)) {
        for (const [name, value] of Object.entries(env)) {
            if (value === undefined || value === null) {
                continue;
            }
            out[name] = isUnknown(value) ? UNKNOWN : typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { env: out, unknown: false };
}

function envFromList(envs: unknown): { env: Record<string, EnvValue>; unknown: boolean } {
    if (isUnknown(envs)) {
        return { env: {}, unknown: true };
    }
    const out: Record<string, EnvValue> = {};
    for (const entry of Array.isArray(envs) ? envs : []) {
        if (isUnknown(entry)) {
            continue;
        }
        if (typeof entry === "string") {
            const eq = entry.indexOf("=");
            const name = eq >= 0 ? entry.slice(0, eq) : entry;
            out[name] = eq >= 0 ? entry.slice(eq + 1) : "";
        }
    }
    return { env: out, unknown: false };
}

function bindingsOf(labels: Record<string, string>): Record<string, string> {
    const raw = labels[LABEL_SECRET_BINDINGS];
    if (raw === undefined) {
        return {};
    }
    try {
        const parsed = JSON.parse(raw) as unknown;
        if (!isRecord(parsed)) {
            return {};
        }
        return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string"));
    } catch {
        return {};
    }
}

function identity(labels: Record<string, string>) {
    return {
        labels,
        component: labels[LABEL_COMPONENT],
        specService: labels[LABEL_SERVICE],
        stack: labels[LABEL_STACK],
        project: labels[LABEL_PROJECT],
        bindings: bindingsOf(labels),
    };
}

/** A docker.Service as a workload. Resource-level labels win over the task's container labels. */
export function serviceWorkload(resourceName: string, props: ServiceProps, urn?: string): Workload {
    const spec = isRecord(props.taskSpec) ? props.taskSpec.containerSpec : undefined;
    const container = isRecord(spec) ? spec : {};
    const labels = { ...labelMap(container.labels), ...labelMap(props.labels) };
    const { env, unknown } = envFromMap(container.env);
    const secretFiles = new Map<string, string | undefined>();
    const secrets = container.secrets as unknown;
    for (const s of Array.isArray(secrets) ? secrets : []) {
        const fileName = isRecord(s) ? knownString(s.fileName) : undefined;
        if (fileName !== undefined) {
            secretFiles.set(fileName, knownString((s as Record<string, unknown>).secretName));
        }
    }
    return {
        kind: "service",
        resourceName,
        urn,
        ...identity(labels),
        env,
        envUnknown: unknown,
        secretFiles,
        secretFilesUnknown: isUnknown(secrets),
        commandLine: [...knownStrings(container.commands), ...knownStrings(container.args)],
    };
}

/** A docker.Container (the gateway) as a workload. It binds no secrets. */
export function containerWorkload(resourceName: string, props: ContainerProps, urn?: string): Workload {
    const labels = labelMap(props.labels);
    const { env, unknown } = envFromList(props.envs);
    return {
        kind: "container",
        resourceName,
        urn,
        ...identity(labels),
        bindings: {},
        env,
        envUnknown: unknown,
        secretFiles: new Map(),
        secretFilesUnknown: false,
        commandLine: [...knownStrings(props.entrypoints), ...knownStrings(props.command)],
    };
}

/** A one-shot job as a workload: its secret files bind each env name to the secret of that engine name. */
export function jobWorkload(resourceName: string, props: OneShotProps, urn?: string): Workload {
    const labels = labelMap(props.labels);
    const { env, unknown } = envFromMap(props.env);
    const secretFiles = new Map<string, string | undefined>();
    for (const f of Array.isArray(props.secretFiles) ? props.secretFiles : []) {
        const name = isRecord(f) ? knownString(f.env) : undefined;
        if (name !== undefined) {
            secretFiles.set(`${SECRETS_DIR}/${name}`, knownString((f as Record<string, unknown>).secretName));
        }
    }
    return {
        kind: "job",
        resourceName,
        urn,
        ...identity(labels),
        env,
        envUnknown: unknown,
        secretFiles,
        secretFilesUnknown: isUnknown(props.secretFiles),
        commandLine: knownStrings(props.command),
    };
}

/** The env contract a service carries in `opsbook.env-contract`, or a problem with it. */
export function contractOf(workload: Workload): { contract: EnvContract; problem?: string } {
    const raw = workload.labels[LABEL_ENV_CONTRACT];
    if (raw === undefined) {
        return { contract: EMPTY_ENV_CONTRACT };
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(raw);
    } catch {
        return { contract: EMPTY_ENV_CONTRACT, problem: `its label \`${LABEL_ENV_CONTRACT}\` is not valid JSON` };
    }
    if (!isRecord(parsed)) {
        return { contract: EMPTY_ENV_CONTRACT, problem: `its label \`${LABEL_ENV_CONTRACT}\` is not a JSON object` };
    }
    const names = (v: unknown) => (Array.isArray(v) ? v.filter((n): n is string => typeof n === "string") : []);
    const anyOf = Array.isArray(parsed.anyOf)
        ? (parsed.anyOf as unknown[])
              .filter((g): g is unknown[] => Array.isArray(g))
              .map((g) => g.filter((alt): alt is unknown[] => Array.isArray(alt)).map(names).filter((alt) => alt.length > 0))
        : [];
    const formats = isRecord(parsed.formats)
        ? (Object.fromEntries(Object.entries(parsed.formats).filter((e) => typeof e[1] === "string")) as EnvContract["formats"])
        : {};
    return {
        contract: {
            required: names(parsed.required),
            anyOf,
            formats,
            equalAcrossServices: names(parsed.equalAcrossServices),
            requiredInProduction: names(parsed.requiredInProduction),
        },
    };
}

/** The image reference a person wrote (`opsbook.image-ref`), else what the task runs. */
export function imageReferenceOf(workload: Workload, runs: unknown): string | undefined {
    return workload.labels[LABEL_IMAGE_REF] ?? knownString(runs);
}

// ---------------------------------------------------------------------------------------------
// Env as a service sees it

/**
 * Where a workload gets one env name from, without reading secret values (a resource rule sees
 * one resource only): plain env `NAME`, or the secret file `NAME_FILE` bound in `opsbook.secrets`.
 */
export type EnvSource =
    | { readonly state: "absent" }
    | { readonly state: "unknown" }
    | { readonly state: "plain"; readonly value: string }
    | { readonly state: "file"; readonly key: string };

/**
 * The secret file wins over plain env, as images that honour the `_FILE` convention read it. A
 * file counts only when all three agree: `NAME_FILE=/run/secrets/NAME` in the env, the binding
 * `NAME: key` in `opsbook.secrets`, and a secret mounted at that path.
 */
export function envSource(workload: Workload, name: string): EnvSource {
    const path = `${SECRETS_DIR}/${name}`;
    const fileEnv = workload.env[fileEnvName(name)];
    const key = workload.bindings[name];
    const mounted = workload.secretFilesUnknown || workload.secretFiles.has(path);
    if (key !== undefined && (fileEnv === path || fileEnv === UNKNOWN || workload.envUnknown) && mounted) {
        return { state: "file", key };
    }
    if (workload.envUnknown) {
        return { state: "unknown" };
    }
    const value = workload.env[name];
    if (value === UNKNOWN) {
        return { state: "unknown" };
    }
    if (value !== undefined) {
        return { state: "plain", value };
    }
    return { state: "absent" };
}

/** True when a name is delivered and, where the rule can see the value, not blank. */
export function isProvided(source: EnvSource): boolean {
    return source.state === "unknown" || source.state === "file" || (source.state === "plain" && source.value.trim() !== "");
}

// ---------------------------------------------------------------------------------------------
// The stack's secrets, joined to the services that bind them

export interface StackSecret {
    readonly resource: PolicyResource;
    readonly key: string;
    readonly stack?: string;
    readonly project?: string;
    /** The engine's name, to match a service's mount when two secrets share a key. */
    readonly engineName?: string;
    /** The decoded value, or UNKNOWN (preview, or data that is not base64 text). */
    readonly value: EnvValue;
}

/** Decodes a secret's base64 `data`; UNKNOWN when it is not known yet. */
function decodeData(data: unknown): EnvValue {
    const text = knownString(data);
    if (text === undefined) {
        return UNKNOWN;
    }
    return Buffer.from(text, "base64").toString("utf8");
}

/** Every workload and secret of a stack, read once per stack rule. */
export class StackView {
    readonly workloads: Workload[] = [];
    readonly secrets: StackSecret[] = [];
    private readonly byKey = new Map<string, StackSecret[]>();

    constructor(resources: readonly PolicyResource[]) {
        for (const resource of resources) {
            if (resource.isType(docker.Service)) {
                this.workloads.push(serviceWorkload(resource.name, plain(resource.props) as ServiceProps, resource.urn));
            } else if (resource.isType(docker.Container)) {
                this.workloads.push(containerWorkload(resource.name, plain(resource.props) as ContainerProps, resource.urn));
            } else if (resource.type === ONE_SHOT_TYPE) {
                this.workloads.push(jobWorkload(resource.name, plain(resource.props) as OneShotProps, resource.urn));
            } else if (resource.isType(docker.Secret)) {
                const props = plain(resource.props) as SecretProps;
                const labels = labelMap(props.labels);
                const key = labels[LABEL_SECRET_ENV];
                if (key === undefined) {
                    continue;
                }
                const secret: StackSecret = {
                    resource,
                    key,
                    stack: labels[LABEL_STACK],
                    project: labels[LABEL_PROJECT],
                    engineName: knownString(props.name),
                    value: decodeData(props.data),
                };
                this.secrets.push(secret);
                const list = this.byKey.get(key) ?? [];
                list.push(secret);
                this.byKey.set(key, list);
            }
        }
    }

    /** The workloads that are swarm services. */
    get services(): Workload[] {
        return this.workloads.filter((w) => w.kind === "service");
    }

    /**
     * The docker.Secret a workload's env name is bound to: same key, same stack and project; when
     * two share a key, the one whose engine name the workload mounts.
     */
    secretFor(workload: Workload, name: string): StackSecret | undefined {
        const key = workload.bindings[name];
        if (key === undefined) {
            return undefined;
        }
        const candidates = (this.byKey.get(key) ?? []).filter(
            (s) => (s.stack === undefined || workload.stack === undefined || s.stack === workload.stack) && (s.project === undefined || workload.project === undefined || s.project === workload.project),
        );
        if (candidates.length <= 1) {
            return candidates[0];
        }
        const mounted = workload.secretFiles.get(`${SECRETS_DIR}/${name}`);
        return candidates.find((s) => mounted !== undefined && s.engineName === mounted) ?? candidates[0];
    }

    /** What a workload's env holds under one name, secret values included. */
    read(workload: Workload, name: string): EnvReading {
        const source = envSource(workload, name);
        switch (source.state) {
            case "absent":
                return { state: "absent" };
            case "unknown":
                return { state: "unknown", secret: false };
            case "plain":
                return { state: "set", value: source.value, secret: false };
            case "file": {
                const secret = this.secretFor(workload, name);
                if (secret === undefined) {
                    return { state: "unknown", secret: true };
                }
                return secret.value === UNKNOWN ? { state: "unknown", secret: true, from: secret } : { state: "set", value: secret.value, secret: true, from: secret };
            }
        }
    }

    /** Every env name a workload delivers (plain, or as a bound secret file), each once. */
    envNames(workload: Workload): string[] {
        const names = new Set<string>(Object.keys(workload.bindings));
        for (const name of Object.keys(workload.env)) {
            if (!(name.endsWith("_FILE") && workload.bindings[name.slice(0, -"_FILE".length)] !== undefined)) {
                names.add(name);
            }
        }
        return [...names];
    }
}

/** What a workload's environment holds under one name. Never carries a value into a message. */
export type EnvReading =
    | { readonly state: "absent" }
    | { readonly state: "unknown"; readonly secret: boolean; readonly from?: StackSecret }
    | { readonly state: "set"; readonly value: string; readonly secret: boolean; readonly from?: StackSecret };

// ---------------------------------------------------------------------------------------------
// Typed validation helpers

/**
 * @pulumi/policy's validateResourceOfType, with the props read through `plain()` (unknowns stay
 * sentinels for the rule to skip one by one instead of stopping it) and turned into a Workload.
 */
export function validateService(
    validate: (workload: Workload, props: ServiceProps, args: ResourceValidationArgs, reportViolation: ReportViolation) => void,
): ResourceValidation {
    return validateResourceOfType(docker.Service, (props, args, reportViolation) => {
        const p = plain(props) as ServiceProps;
        return validate(serviceWorkload(args.name, p, args.urn), p, args, reportViolation);
    });
}

/** The same for the gateway's docker.Container. */
export function validateContainer(
    validate: (workload: Workload, props: ContainerProps, args: ResourceValidationArgs, reportViolation: ReportViolation) => void,
): ResourceValidation {
    return validateResourceOfType(docker.Container, (props, args, reportViolation) => {
        const p = plain(props) as ContainerProps;
        return validate(containerWorkload(args.name, p, args.urn), p, args, reportViolation);
    });
}

/** The same for a one-shot job (a dynamic resource: no class to filter on, so by type token). */
export function validateJob(
    validate: (workload: Workload, props: OneShotProps, args: ResourceValidationArgs, reportViolation: ReportViolation) => void,
): ResourceValidation {
    const validation: ResourceValidation = (args, reportViolation) => {
        if (args.type !== ONE_SHOT_TYPE) {
            return;
        }
        const p = plain(args.props) as OneShotProps;
        return validate(jobWorkload(args.name, p, args.urn), p, args, reportViolation);
    };
    return Object.assign(validation, { __pulumiType: ONE_SHOT_TYPE });
}

/** A stack validation that reads the stack once into a StackView. */
export function validateStackView(validate: (view: StackView, args: StackValidationArgs, reportViolation: ReportViolation) => void): StackValidation {
    return (args, reportViolation) => validate(new StackView(args.resources), args, reportViolation);
}

/**
 * The policy's config with every default of its schema filled in. The engine fills defaults from
 * the schema itself; doing it here too keeps a rule right when called without the engine (tests,
 * the benchmark) and when the config file names only the enforcement level.
 */
export function configOf<T extends object>(args: ResourceValidationArgs | StackValidationArgs, schema: PolicyConfigSchema): T {
    const defaults: Record<string, unknown> = {};
    for (const [key, prop] of Object.entries(schema.properties)) {
        if (prop.default !== undefined) {
            defaults[key] = prop.default;
        }
    }
    return { ...defaults, ...args.getConfig<Record<string, unknown>>() } as T;
}

/** A config schema with one property: the `opsbook.component` values a rule applies to. */
export function componentsSchema(defaults: readonly string[], what: string, extra: PolicyConfigSchema["properties"] = {}): PolicyConfigSchema {
    return {
        properties: {
            components: {
                type: "array",
                items: { type: "string", enum: [...LONG_RUNNING_COMPONENTS] },
                uniqueItems: true,
                default: [...defaults],
                description: `Values of the \`${LABEL_COMPONENT}\` label ${what}.`,
            },
            ...extra,
        },
    };
}

export interface ComponentsConfig {
    readonly components: string[];
}

/** True when the workload's component is one of `components` (a workload without the label never is). */
export function hasComponent(workload: Workload, components: readonly string[]): boolean {
    return workload.component !== undefined && components.includes(workload.component);
}

// ---------------------------------------------------------------------------------------------
// Wording

/** "swarm service `api-service` (service `api`)": how every message names a workload. */
export function describe(workload: Workload): string {
    const what = workload.kind === "service" ? "swarm service" : workload.kind === "container" ? "container" : "one-shot job";
    const owner = workload.specService ? ` (service \`${workload.specService}\`)` : workload.component ? ` (component \`${workload.component}\`)` : "";
    return `${what} \`${workload.resourceName}\`${owner}`;
}

/** Where a user sets an env name for this workload: the spec key and the CLI command. */
export function howToSet(workload: Workload, name: string): string {
    const command = `'pulumi config set --secret ${name} <value>${workload.stack ? ` --stack ${workload.stack}` : ""}'`;
    if (!workload.specService) {
        return `run ${command}`;
    }
    const service = workload.specService;
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
