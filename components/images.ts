import * as pulumi from "@pulumi/pulumi";
import { inspectImage } from "../providers/dockerApi";

/**
 * Resolves image references (by the config key they came from) to the IDs of images present on
 * the local engine, before any resource is registered. Containers are keyed on the ID, so
 * rebuilding an image under the same tag rolls its containers. Nothing is pulled: images come
 * from `npm run -s toolchain` or a `docker pull` the user ran.
 */
export async function resolveLocalImages(refs: Record<string, string>): Promise<Record<string, string>> {
    const entries = await Promise.all(
        Object.entries(refs).map(async ([key, ref]) => [key, ref, (await inspectImage(ref))?.Id] as const),
    );
    const missing = entries.filter(([, , id]) => id === undefined);
    if (missing.length > 0) {
        throw new pulumi.RunError(
            `images missing on the local Docker engine:\n` +
                missing
                    .map(([key, ref]) => `  - \`${key}\`: ${ref}; build it with 'npm run -s toolchain', run 'docker pull ${ref}', or set \`${key}\` to an image that is present`)
                    .join("\n"),
        );
    }
    return Object.fromEntries(entries.map(([key, , id]) => [key, id as string]));
}

/** An image present on the local engine: the reference a person wrote and the ID it resolved to. */
export interface LocalImage {
    readonly reference: string;
    readonly id: string;
}
