import { execFile } from "child_process";
import * as pulumi from "@pulumi/pulumi";

/** An image present on the engine: the reference a person wrote and the ID it resolved to. */
export interface LocalImage {
    readonly reference: string;
    readonly id: pulumi.Input<string>;
}

/** The image ID `reference` names on the engine DOCKER_HOST points at, or undefined when absent. */
function inspectImageId(reference: string): Promise<{ id?: string; error?: string }> {
    return new Promise((resolve) => {
        execFile("docker", ["image", "inspect", "--format", "{{.Id}}", reference], { timeout: 30_000 }, (err, stdout, stderr) => {
            if (!err) {
                resolve({ id: stdout.trim() });
            } else if (/no such image/i.test(String(stderr))) {
                resolve({});
            } else {
                resolve({ error: String(stderr || err.message).trim().split("\n")[0] });
            }
        });
    });
}

/**
 * Resolves image references (by the config key they came from) to the IDs of images present on
 * the engine, before any resource is registered: a missing image is reported with its key and
 * what to do, not discovered half-way through a deploy. Services run the ID, so rebuilding an
 * image under the same tag rolls them, and the engine never asks a registry. Nothing is pulled:
 * images come from `npm run -s toolchain` or a `docker pull`/`docker load` the user ran.
 */
export async function resolveLocalImages(refs: Record<string, string>): Promise<Record<string, string>> {
    const entries = await Promise.all(Object.entries(refs).map(async ([key, ref]) => [key, ref, await inspectImageId(ref)] as const));
    const unreachable = entries.find(([, , r]) => r.error !== undefined);
    if (unreachable) {
        throw new pulumi.RunError(
            `the Docker engine did not answer 'docker image inspect' (${unreachable[2].error}); start it, or run 'eval "$(npm run -s toolchain)"' first`,
        );
    }
    const missing = entries.filter(([, , r]) => r.id === undefined);
    if (missing.length > 0) {
        throw new pulumi.RunError(
            `images missing on the Docker engine:\n` +
                missing
                    .map(([key, ref]) => `  - \`${key}\`: ${ref}; build it with 'npm run -s toolchain', run 'docker pull ${ref}' (or 'docker load'), or set \`${key}\` to an image that is present`)
                    .join("\n"),
        );
    }
    return Object.fromEntries(entries.map(([key, , r]) => [key, r.id as string]));
}
