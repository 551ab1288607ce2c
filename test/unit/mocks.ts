// The Pulumi mocks the unit tests share: every registration is recorded with its resource
// options, and each resource type gets the outputs its provider would give (engine names of
// auto-named secrets and configs, generated passwords and keys, ...).
// Set them before importing the code under test: components register as they are built.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { FakeEngine, startFakeEngine } from "./fakeDockerEngine";

/** The resource options the engine would receive with a registration. */
export interface RegisteredOptions {
    deleteBeforeReplace: boolean;
    /** Undefined when the option was not given. */
    retainOnDelete?: boolean;
    protect?: boolean;
    ignoreChanges: string[];
    additionalSecretOutputs: string[];
    /** URN of the parent ("" for the stack's own children). */
    parent: string;
    /** URNs of every resource this one depends on (dependsOn and the inputs' dependencies). */
    dependencies: string[];
}

export interface Registered {
    type: string;
    name: string;
    inputs: Record<string, any>;
    options: RegisteredOptions;
}

/** Pulumi's marker for a secret value crossing the resource monitor boundary. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** The value inside a secret, and whether it was one. */
export function reveal(value: any): { secret: boolean; value: any } {
    if (value && typeof value === "object" && SECRET_SIG in value) {
        return { secret: true, value: value.value };
    }
    return { secret: false, value };
}

export function unwrap<T>(o: pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

export function isSecret(o: pulumi.Output<unknown>): Promise<boolean> {
    return (o as unknown as { isSecret: Promise<boolean> }).isSecret;
}

/** Every image the presets run, as the fake engine knows them. */
export const LOCAL_IMAGES: Record<string, string> = {
    "opsbook/postgres:15": "sha256:1111",
    "opsbook/redis:7": "sha256:2222",
    "opsbook/app:reference": "sha256:3333",
    "opsbook/gateway:1": "sha256:4444",
    "opsbook/backup:1": "sha256:5555",
    "opsbook/monitoring:1": "sha256:6666",
};

/** The suffix the mocks give auto-named resources (Pulumi appends a random one in real life). */
export const AUTONAME_SUFFIX = "abc1234";

/** Hex characters that stand for every generated key: `RandomBytes` of n bytes is "ab" x n. */
export const HEX_BYTE = "ab";

/** The identity of the mocked resource types. */
export const TYPES = {
    service: "docker:index/service:Service",
    secret: "docker:index/secret:Secret",
    network: "docker:index/network:Network",
    volume: "docker:index/volume:Volume",
    container: "docker:index/container:Container",
    serviceConfig: "docker:index/serviceConfig:ServiceConfig",
    randomPassword: "random:index/randomPassword:RandomPassword",
    randomBytes: "random:index/randomBytes:RandomBytes",
    oneShotRun: "pulumi-nodejs:dynamic/opsbook:OneShotRun",
    backupSchedule: "pulumi-nodejs:dynamic/opsbook:BackupSchedule",
    telegramWebhook: "pulumi-nodejs:dynamic/opsbook:TelegramWebhook",
} as const;

/** What each provider would add to the inputs. Unknown types echo their inputs. */
function providerOutputs(type: string, name: string, inputs: Record<string, any>, secretChar: string): Record<string, unknown> {
    switch (type) {
        case TYPES.service:
        case TYPES.network:
        case TYPES.volume:
        case TYPES.container:
            return { name: inputs.name };
        case TYPES.secret:
        case TYPES.serviceConfig:
            // Auto-named: the SDK leaves the name to the provider, which adds a random suffix.
            return { name: inputs.name ?? `${name}-${AUTONAME_SUFFIX}` };
        case TYPES.randomPassword:
            return { result: secretChar.repeat(inputs.length), bcryptHash: "$2a$10$mocked" };
        case TYPES.randomBytes:
            return { hex: HEX_BYTE.repeat(inputs.length), base64: Buffer.from(HEX_BYTE.repeat(inputs.length), "hex").toString("base64") };
        case TYPES.oneShotRun:
            return { finishedAt: "2026-01-01T00:00:00.000Z" };
        case TYPES.backupSchedule:
            return { healthy: null, targetStatus: [], observedAt: null };
        case TYPES.telegramWebhook:
            return { pendingUpdateCount: 0, lastErrorMessage: "", lastErrorDate: "" };
        default:
            return {};
    }
}

interface MockMonitorLike {
    registerResource(req: RegisterRequest, callback: (err: unknown, res: unknown) => void): Promise<void>;
}

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getDeletebeforereplace(): boolean;
    hasRetainondelete?(): boolean;
    getRetainondelete(): boolean;
    hasProtect?(): boolean;
    getProtect(): boolean;
    getIgnorechangesList(): string[];
    getAdditionalsecretoutputsList(): string[];
    getParent(): string;
    getDependenciesList(): string[];
}

/**
 * Sets the mocks and returns the list they record into. `secretChar` fills generated passwords,
 * so a test can recognise them.
 */
export function setRecordingMocks(opts: { stack?: string; secretChar?: string } = {}): Registered[] {
    const registered: Registered[] = [];
    // The options of the registration in flight: the mock monitor reads the request, then calls
    // newResource before anything else can register.
    const pending = new Map<string, RegisteredOptions>();
    void pulumi.runtime.setMocks(
        {
            newResource(args) {
                const options = pending.get(`${args.type}::${args.name}`) ?? {
                    deleteBeforeReplace: false,
                    ignoreChanges: [],
                    additionalSecretOutputs: [],
                    parent: "",
                    dependencies: [],
                };
                registered.push({ type: args.type, name: args.name, inputs: args.inputs, options });
                const outs: Record<string, unknown> = { ...args.inputs, ...providerOutputs(args.type, args.name, args.inputs, opts.secretChar ?? "x") };
                // The engine marks these outputs secret; the mock monitor does not, so do it here.
                for (const key of options.additionalSecretOutputs) {
                    if (key in outs && outs[key] !== undefined) {
                        outs[key] = pulumi.secret(outs[key]);
                    }
                }
                return { id: `${args.name}-id`, state: outs };
            },
            call(args) {
                throw new Error(`unexpected call to ${args.token}`);
            },
        },
        "opsbook",
        opts.stack ?? "staging",
        false,
    );
    const monitor = (pulumi.runtime as unknown as { getMonitor(): MockMonitorLike }).getMonitor();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
        pending.set(`${req.getType()}::${req.getName()}`, {
            deleteBeforeReplace: req.getDeletebeforereplace(),
            retainOnDelete: req.hasRetainondelete?.() === false ? undefined : req.getRetainondelete(),
            protect: req.hasProtect?.() === false ? undefined : req.getProtect(),
            ignoreChanges: req.getIgnorechangesList(),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            parent: req.getParent(),
            dependencies: req.getDependenciesList(),
        });
        return register(req, callback);
    };
    return registered;
}

/** A small readable file standing in for the probe binary the toolchain builds (`OPSBOOK_PROBE`). */
export function fakeProbe(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-probe-"));
    const file = path.join(dir, "opsbook-probe");
    fs.writeFileSync(file, "\x7fELF fake probe for unit tests\n", { mode: 0o755 });
    return file;
}

/**
 * Runs the whole program (index.ts) under the recording mocks with the given config, against a
 * fake engine that knows LOCAL_IMAGES and with a stand-in probe. Returns what was registered
 * and the stack's outputs. The engine is closed when the program fails, so a failing test file
 * still exits.
 */
export async function runProgramUnderMocks(
    config: Record<string, string>,
    opts: { secretKeys?: string[]; secretChar?: string; stack?: string } = {},
): Promise<{ registered: Registered[]; outputs: Record<string, pulumi.Output<unknown>>; engine: FakeEngine; probePath: string }> {
    const engine = await startFakeEngine(LOCAL_IMAGES);
    try {
        process.env.DOCKER_HOST = `unix://${engine.socketPath}`;
        const probePath = fakeProbe();
        process.env.OPSBOOK_PROBE = probePath;
        const registered = setRecordingMocks({ secretChar: opts.secretChar, stack: opts.stack });
        pulumi.runtime.setAllConfig(config, opts.secretKeys ?? []);
        const mod = (await import("../../index")) as unknown as { default: () => Promise<Record<string, pulumi.Output<unknown>>> };
        const outputs = await mod.default();
        return { registered, outputs, engine, probePath };
    } catch (err) {
        await engine.close();
        throw err;
    }
}
