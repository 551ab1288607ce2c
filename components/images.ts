import * as pulumi from "@pulumi/pulumi";
import { inspectImage } from "../providers/dockerApi";

/**
 * Resolves an image reference to the ID of the image present on the local engine.
 * Containers are keyed on the ID, so rebuilding an image under the same tag rolls its containers.
 * Nothing is pulled: images come from `npm run -s toolchain` (or a registry the user pulled from).
 */
export function localImageId(reference: string, key: string): pulumi.Output<string> {
    return pulumi.output(
        inspectImage(reference).then((image) => {
            if (!image) {
                throw new Error(
                    `\`${key}\`: image ${reference} is not on the local Docker engine; build it with 'npm run -s toolchain' ` +
                        `or 'docker pull ${reference}', or set \`${key}\` to an image that is present.`,
                );
            }
            return image.Id;
        }),
    );
}
