import * as pulumi from "@pulumi/pulumi";
import { GeneratedSecretValue } from "../providers/random";

/** One secret the stack makes, by the env name it is delivered under. */
export interface GeneratedSecretSpec {
    /** `alphanumeric` (48 characters) or `hex64` (a 32-byte key as 64 hex characters). */
    readonly kind: "alphanumeric" | "hex64";
    /** Rotation stamp; a new stamp makes a new value. */
    readonly rotation: string;
}

export interface StackSecretsArgs {
    /** The secrets to make, by env name. Services that share a name share the value. */
    readonly generated: Record<string, GeneratedSecretSpec>;
    /** Env names whose values are keys to data (e.g. TRADING_KEY_ENCRYPTION_KEY): never deleted or replaced by accident. */
    readonly protectedNames?: string[];
}

/**
 * The stack's generated secrets. One value per env name, so a secret two services must agree on
 * (REALITY_API_SECRET between backend and reality-engine) is the same value by construction.
 */
export class StackSecrets extends pulumi.ComponentResource {
    /** Secret values by env name. */
    public readonly values: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: StackSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:StackSecrets", name, {}, opts);
        this.values = {};
        for (const [envName, spec] of Object.entries(args.generated)) {
            const secret = new GeneratedSecretValue(
                `${name}-${envName.toLowerCase().replace(/_/g, "-")}`,
                {
                    length: spec.kind === "hex64" ? 64 : 48,
                    alphabet: spec.kind === "hex64" ? "hex" : "alphanumeric",
                    rotation: spec.rotation,
                },
                { parent: this, protect: args.protectedNames?.includes(envName) ?? false },
            );
            this.values[envName] = secret.value;
        }
        this.registerOutputs({});
    }
}
