// The end of a swarm service's rolling update, as a resource. Custom because the docker
// provider's converge check returns once the service has its count of running tasks, which
// during a start-first update counts old and new tasks together: `pulumi up` could report a
// release that Swarm is still rolling out, or rolls back a moment later. This waits until the
// engine itself says the update completed (or fails the deploy, saying it was rolled back or
// paused), so the state never records a release that is not what runs. It reaches the engine
// through the docker CLI, wherever DOCKER_HOST points.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { EngineConnection, dockerCli } from "./engineCli";

export interface ServiceSettledInputs {
    /** The swarm service's name. */
    serviceName: string;
    /** A digest of the service's spec: a new one means an update to wait for. */
    specDigest: string;
    /** Seconds to wait for the update to end. */
    timeoutSeconds: number;
    /** The stack's engine, when it is not this machine's default one. */
    engine?: EngineConnection;
}

interface UpdateStatus {
    State?: string;
    Message?: string;
}

async function inspectUpdateStatus(serviceName: string, engine: EngineConnection | undefined): Promise<{ status: UpdateStatus | null; error?: string }> {
    const res = await dockerCli(["service", "inspect", "--format", "{{json .UpdateStatus}}", serviceName], { engine, timeoutMs: 30_000 });
    if (res.code !== 0) {
        return { status: null, error: res.stderr.trim() };
    }
    try {
        return { status: JSON.parse(res.stdout.trim() || "null") as UpdateStatus | null };
    } catch {
        return { status: null };
    }
}

/** What an update status means for the deploy: still going, done, or failed (with why). Pure. */
export function updateVerdict(status: UpdateStatus | null): "settled" | "pending" | { failed: string } {
    switch (status?.State) {
        case undefined:
        case "completed":
            return "settled";
        case "updating":
        case "rollback_started":
            return "pending";
        case "rollback_completed":
            return { failed: `the update was rolled back: ${status?.Message ?? "a new task failed"}` };
        default:
            return { failed: `the update stopped in state ${status?.State}: ${status?.Message ?? ""}`.trim() };
    }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitSettled(inputs: ServiceSettledInputs): Promise<void> {
    const deadline = Date.now() + inputs.timeoutSeconds * 1000;
    for (;;) {
        const { status, error } = await inspectUpdateStatus(inputs.serviceName, inputs.engine);
        if (error) {
            throw new Error(`service ${inputs.serviceName}: ${error}`);
        }
        const verdict = updateVerdict(status);
        if (verdict === "settled") {
            return;
        }
        if (verdict !== "pending") {
            throw new Error(`service ${inputs.serviceName}: ${verdict.failed}; the previous release keeps running ('docker service ps ${inputs.serviceName}' shows the tasks)`);
        }
        if (Date.now() > deadline) {
            throw new Error(`service ${inputs.serviceName}: the update did not end within ${inputs.timeoutSeconds}s (state ${status?.State}); 'docker service ps ${inputs.serviceName}' shows why`);
        }
        await sleep(250);
    }
}

const serviceSettledProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ServiceSettledInputs) {
        await waitSettled(inputs);
        return { id: crypto.randomUUID(), outs: inputs };
    },
    async diff(_id: string, olds: ServiceSettledInputs, news: ServiceSettledInputs) {
        const changes = olds.serviceName !== news.serviceName || olds.specDigest !== news.specDigest || olds.timeoutSeconds !== news.timeoutSeconds;
        return { changes, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: ServiceSettledInputs, news: ServiceSettledInputs) {
        await waitSettled(news);
        return { outs: news };
    },
    // Nothing on the engine belongs to this resource.
    async delete() {},
};

export type ServiceSettledArgs = { [K in Exclude<keyof ServiceSettledInputs, "engine">]: pulumi.Input<ServiceSettledInputs[K]> } & { engine?: EngineConnection };

/** Completes when the service's current update has ended on the engine; fails the deploy if it was rolled back. */
export class ServiceSettled extends pulumi.dynamic.Resource {
    constructor(name: string, args: ServiceSettledArgs, opts?: pulumi.CustomResourceOptions) {
        super(serviceSettledProvider, name, args, opts, "opsbook", "ServiceSettled");
    }
}

/**
 * Waits, after a service's create or update, for Swarm to finish rolling it out. The digest is of
 * the arguments the program gives the service (not of what the engine reports back, which a
 * refresh can change without any update), so the wait runs exactly when the service changed.
 */
export function settledAfter(
    name: string,
    serviceName: pulumi.Output<string>,
    spec: pulumi.Input<object>,
    timeoutSeconds: number,
    engine: EngineConnection | undefined,
    opts: pulumi.CustomResourceOptions,
): ServiceSettled {
    return new ServiceSettled(
        name,
        {
            serviceName,
            specDigest: pulumi.jsonStringify(pulumi.output(spec)).apply((text) => crypto.createHash("sha256").update(text).digest("hex")),
            timeoutSeconds,
            ...(engine ? { engine } : {}),
        },
        opts,
    );
}
