// Generated secrets. A dynamic provider rather than @pulumi/random because that plugin cannot be
// built from this project's package sources; the behaviour users rely on is the same: the value
// is made once, kept (encrypted) in the state, and made again only when `rotation` changes.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";

export interface GeneratedSecretInputs {
    /** Length in characters. */
    length: number;
    /** `alphanumeric` (URL- and shell-safe) or `hex` (for keys that must be hex, e.g. 32 bytes = 64 hex). */
    alphabet: "alphanumeric" | "hex";
    /** Any string; changing it makes a new value. The stack's rotation stamp goes here. */
    rotation: string;
}

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Uniform choice without modulo bias: bytes at or above the largest multiple are drawn again. */
export function generateSecretValue(length: number, alphabet: GeneratedSecretInputs["alphabet"]): string {
    const chars = alphabet === "hex" ? "0123456789abcdef" : ALPHANUMERIC;
    const limit = 256 - (256 % chars.length);
    let out = "";
    while (out.length < length) {
        for (const byte of crypto.randomBytes(length * 2)) {
            if (byte < limit && out.length < length) {
                out += chars[byte % chars.length];
            }
        }
    }
    return out;
}

const generatedSecretProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: GeneratedSecretInputs, news: GeneratedSecretInputs) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!Number.isInteger(news.length) || news.length < 16 || news.length > 1024) {
            failures.push({ property: "length", reason: "length must be a whole number from 16 to 1024" });
        }
        return { inputs: news, failures };
    },
    async create(inputs: GeneratedSecretInputs) {
        const value = generateSecretValue(inputs.length, inputs.alphabet);
        return { id: crypto.randomUUID(), outs: { ...inputs, value } };
    },
    async diff(_id: string, olds: GeneratedSecretInputs, news: GeneratedSecretInputs) {
        const replaces = (["length", "alphabet", "rotation"] as const).filter((k) => olds[k] !== news[k]);
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    },
};

export interface GeneratedSecretArgs {
    length: pulumi.Input<number>;
    alphabet: pulumi.Input<GeneratedSecretInputs["alphabet"]>;
    rotation: pulumi.Input<string>;
}

/** A random secret value, secret in the state and in every output that derives from it. */
export class GeneratedSecretValue extends pulumi.dynamic.Resource {
    declare public readonly value: pulumi.Output<string>;

    constructor(name: string, args: GeneratedSecretArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            generatedSecretProvider,
            name,
            { value: undefined, ...args },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["value"] }),
            "opsbook",
            "GeneratedSecretValue",
        );
    }
}
