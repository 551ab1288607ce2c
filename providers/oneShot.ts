// A container that runs to completion once per release: database migrations, preflight checks.
// Its create fails (and so does `pulumi up`) when the command exits non-zero, which stops every
// resource that depends on it from changing: services stay on the release they run.
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import type { ContainerRole, EnvContract } from "../components/envContract";
import { ContainerInputs, DeepInput, containerCreateBody, removeContainer } from "./docker";
import { containerLogs, dockerRequest } from "./dockerApi";

export interface OneShotInputs {
    /** Name prefix of the container. */
    name: string;
    /** Image ID to run. */
    image: string;
    /** The reference the ID came from, for people reading the state. */
    imageName: string;
    command: string[];
    env: Record<string, string>;
    secretEnv: Record<string, string>;
    labels: Record<string, string>;
    networks: { name: string; aliases: string[] }[];
    memoryMb: number;
    user?: string;
    /** Seconds the command may run before it counts as failed. */
    timeoutSeconds: number;
    /**
     * What makes the step run again, besides the image and the command: a release label. Env is
     * deliberately not part of it, so rotating a password does not re-run migrations.
     */
    release: string;
    role: ContainerRole;
    envContract: EnvContract;
}

const RERUN_KEYS = ["image", "command", "release"] as const;

function containerInputsOf(inputs: OneShotInputs, name: string): ContainerInputs {
    return {
        ...inputs,
        name,
        publish: [],
        mounts: [],
        tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
        restartPolicy: "no",
        readOnlyRootFilesystem: true,
        dropAllCapabilities: true,
        addCapabilities: [],
        noNewPrivileges: true,
        logMaxSizeMb: 10,
        logMaxFiles: 1,
        waitHealthySeconds: 0,
        stopGraceSeconds: 10,
    };
}

const oneShotProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: OneShotInputs) {
        const containerName = `${inputs.name}-${crypto.randomBytes(3).toString("hex")}`;
        const created = await dockerRequest<{ Id: string }>(
            "POST",
            `/containers/create?name=${encodeURIComponent(containerName)}`,
            containerCreateBody(containerInputsOf(inputs, containerName)),
        );
        try {
            for (const extra of inputs.networks.slice(1)) {
                await dockerRequest("POST", `/networks/${encodeURIComponent(extra.name)}/connect`, {
                    Container: created.Id,
                    EndpointConfig: { Aliases: extra.aliases },
                });
            }
            await dockerRequest("POST", `/containers/${created.Id}/start`);
            let result: { StatusCode: number };
            try {
                result = await dockerRequest<{ StatusCode: number }>("POST", `/containers/${created.Id}/wait`, undefined, {
                    timeoutMs: inputs.timeoutSeconds * 1000,
                });
            } catch (err) {
                const logs = await containerLogs(created.Id).catch(() => "");
                throw new Error(`${inputs.name} did not finish within ${inputs.timeoutSeconds}s; last output:\n${logs}`);
            }
            if (result.StatusCode !== 0) {
                const logs = await containerLogs(created.Id, 60);
                throw new Error(
                    `${inputs.name} (${inputs.command.join(" ")}) failed with exit code ${result.StatusCode}; ` +
                        `nothing that depends on it was changed. Its output:\n${logs}`,
                );
            }
            return { id: created.Id, outs: { ...inputs, finishedAt: new Date().toISOString() } };
        } finally {
            await removeContainer(created.Id, 0).catch(() => undefined);
        }
    },
    async diff(_id: string, olds: OneShotInputs, news: OneShotInputs) {
        const replaces = RERUN_KEYS.filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        // Other inputs (env, limits) are kept up to date in the state without running again.
        const changed = replaces.length > 0 || JSON.stringify({ ...olds, finishedAt: undefined }) !== JSON.stringify({ ...news, finishedAt: undefined });
        return { changes: changed, replaces: [...replaces], deleteBeforeReplace: false };
    },
    async update(_id: string, olds: OneShotInputs & { finishedAt: string }, news: OneShotInputs) {
        return { outs: { ...news, finishedAt: olds.finishedAt } };
    },
    // The container is removed as soon as it finishes; there is nothing to delete.
    async delete() {},
};

export type OneShotArgs = { [K in keyof OneShotInputs]: DeepInput<OneShotInputs[K]> };

/** A command run to completion once per release; its failure fails the deploy. */
export class OneShotRun extends pulumi.dynamic.Resource {
    declare public readonly finishedAt: pulumi.Output<string>;

    constructor(name: string, args: OneShotArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            oneShotProvider,
            name,
            { finishedAt: undefined, ...args },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["secretEnv"] }),
            "opsbook",
            "OneShotRun",
        );
    }
}
