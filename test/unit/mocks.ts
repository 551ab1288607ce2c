// The Pulumi mocks the unit tests share: every registration is recorded, and dynamic resources
// get the outputs their providers would give (container names, host ports, secret values, ...).
// Set them before importing the code under test: components register as they are built.
import * as pulumi from "@pulumi/pulumi";
import { FakeEngine, startFakeEngine } from "./fakeDockerEngine";

export interface Registered {
    type: string;
    name: string;
    inputs: Record<string, any>;
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

/** Every image the presets run, as the fake engine knows them. */
export const LOCAL_IMAGES: Record<string, string> = {
    "opsbook/postgres:15": "sha256:1111",
    "opsbook/redis:7": "sha256:2222",
    "opsbook/app:reference": "sha256:3333",
    "opsbook/gateway:1": "sha256:4444",
    "opsbook/backup:1": "sha256:5555",
};

/**
 * Sets the mocks and returns the list they record into. `secretChar` fills generated secret
 * values, so a test can recognise them; host ports are 40000 + the container port.
 */
export function setRecordingMocks(opts: { stack?: string; secretChar?: string } = {}): Registered[] {
    const registered: Registered[] = [];
    pulumi.runtime.setMocks(
        {
            newResource(args) {
                registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                const outs: Record<string, unknown> = { ...args.inputs };
                if (args.type.endsWith(":Container")) {
                    outs.containerName = `${args.inputs.name}-abc123`;
                    outs.hostPorts = Object.fromEntries(((args.inputs.publish as number[]) ?? []).map((p) => [String(p), 40000 + p]));
                }
                if (args.type.endsWith(":GeneratedSecretValue")) {
                    outs.value = (opts.secretChar ?? "x").repeat(args.inputs.length);
                }
                if (args.type.endsWith(":Network")) {
                    outs.networkName = `${args.inputs.name}-abc123`;
                }
                if (args.type.endsWith(":TelegramWebhook")) {
                    Object.assign(outs, { pendingUpdateCount: 0, lastErrorMessage: "", lastErrorDate: "" });
                }
                if (args.type.endsWith(":BackupSchedule")) {
                    outs.targetStatus = [];
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
    return registered;
}

/**
 * Runs the whole program (index.ts) under the recording mocks with the given config, against a
 * fake engine that knows LOCAL_IMAGES. Returns what was registered and the stack's outputs.
 */
export async function runProgramUnderMocks(
    config: Record<string, string>,
    opts: { secretKeys?: string[]; secretChar?: string } = {},
): Promise<{ registered: Registered[]; outputs: Record<string, pulumi.Output<unknown>>; engine: FakeEngine }> {
    const engine = await startFakeEngine(LOCAL_IMAGES);
    process.env.DOCKER_HOST = `unix://${engine.socketPath}`;
    const registered = setRecordingMocks({ secretChar: opts.secretChar });
    pulumi.runtime.setAllConfig(config, opts.secretKeys ?? []);
    const mod = (await import("../../index")) as unknown as { default: () => Promise<Record<string, pulumi.Output<unknown>>> };
    const outputs = await mod.default();
    return { registered, outputs, engine };
}
