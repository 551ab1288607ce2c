// An image built on this machine, present on the stack's engine. Custom because @pulumi/docker
// reaches images only through a registry (RemoteImage pulls, RegistryImage pushes) and a stack on
// a server over SSH has none in between: this copies the image with `docker save` here and
// `docker load` there, over the stack's engine connection, when the engine does not have that
// image ID yet. Services run the image by ID, so what runs is byte for byte what was built here.
// Deleting it leaves the image on the engine (as `keepLocally` does for pulled images): a
// rollback or a redeploy finds it there.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { EngineConnection, copyImage, dockerCli } from "./engineCli";

export interface ImageDeliveryInputs {
    /** The reference on this machine (what `docker save` is given). */
    reference: string;
    /** The image ID the reference resolved to here, and must have on the engine. */
    imageId: string;
    engine: EngineConnection;
}

export interface ImageDeliveryOutputs extends ImageDeliveryInputs {
    /** `copied` when this deploy sent it, `present` when the engine had it already. */
    delivery: "copied" | "present";
}

async function engineHas(imageId: string, engine: EngineConnection): Promise<boolean> {
    const res = await dockerCli(["image", "inspect", "--format", "{{.Id}}", imageId], { engine });
    if (res.code === 0) {
        return res.stdout.trim() === imageId;
    }
    if (/no such image/i.test(res.stderr)) {
        return false;
    }
    throw new Error(`cannot ask ${engine.host} for image ${imageId}: ${res.stderr.trim().split("\n").pop()}`);
}

async function deliver(inputs: ImageDeliveryInputs): Promise<ImageDeliveryOutputs> {
    if (await engineHas(inputs.imageId, inputs.engine)) {
        return { ...inputs, delivery: "present" };
    }
    const copied = await copyImage(inputs.reference, inputs.engine);
    if (copied.code !== 0) {
        throw new Error(`copying ${inputs.reference} to ${inputs.engine.host} failed: ${copied.stderr}`);
    }
    if (!(await engineHas(inputs.imageId, inputs.engine))) {
        throw new Error(
            `after copying ${inputs.reference} to ${inputs.engine.host}, the engine does not have ${inputs.imageId}: the tag moved here while it was copied; run the deploy again`,
        );
    }
    return { ...inputs, delivery: "copied" };
}

const imageDeliveryProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ImageDeliveryInputs) {
        return { id: crypto.randomUUID(), outs: await deliver(inputs) };
    },
    async diff(_id: string, olds: ImageDeliveryOutputs, news: ImageDeliveryInputs) {
        const changes = olds.imageId !== news.imageId || olds.reference !== news.reference || JSON.stringify(olds.engine) !== JSON.stringify(news.engine);
        return { changes, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: ImageDeliveryOutputs, news: ImageDeliveryInputs) {
        return { outs: await deliver(news) };
    },
    async delete() {},
};

/** `reference` (resolved here to `imageId`) present on the engine; `imageId` resolves once it is. */
export class ImageDelivery extends pulumi.dynamic.Resource {
    declare public readonly imageId: pulumi.Output<string>;
    declare public readonly delivery: pulumi.Output<string>;

    constructor(name: string, args: { [K in keyof ImageDeliveryInputs]: pulumi.Input<ImageDeliveryInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
        super(imageDeliveryProvider, name, { delivery: undefined, ...args }, opts, "opsbook", "ImageDelivery");
    }
}
