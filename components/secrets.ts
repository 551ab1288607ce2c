import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

/** One secret the stack makes, by the env name it is delivered under. */
export interface GeneratedSecretSpec {
    /** `alphanumeric` (48 characters) or `hex64` (a 32-byte key as 64 hex characters). */
    readonly kind: "alphanumeric" | "hex64";
    /** Rotation stamp; a new stamp makes a new value. */
    readonly rotation: string;
}

export interface StackSecretsArgs {
    /**
     * The secrets to make, by env name. Services that share a name share the value. `hex64`
     * secrets are keys to data (e.g. TRADING_KEY_ENCRYPTION_KEY): see `encryptionKeySlots`.
     */
    readonly generated: Record<string, GeneratedSecretSpec>;
}

/** The env name under which a rotated encryption key's previous value stays available. */
export function previousName(name: string): string {
    return `${name}_PREVIOUS`;
}

/**
 * Encryption keys live in two slots that take turns, like the database login roles: rotation
 * count n keeps key n in the active slot and key n-1 in the other, delivered as NAME_PREVIOUS,
 * so data encrypted under the previous key stays readable while the app re-encrypts it. The
 * active slot is protected: `pulumi destroy` refuses to delete it and only a deliberate count
 * bump moves it. Slot A keeps the stamp `initial` for count 0. Pure.
 */
export function encryptionKeySlots(n: number): { active: 0 | 1; stamps: [string, string] } {
    const stamp = (k: number) => (k === 0 ? "initial" : String(k));
    const active = (n % 2) as 0 | 1;
    return { active, stamps: active === 0 ? [stamp(n), stamp(n - 1)] : [stamp(n - 1), stamp(n)] };
}

/**
 * A generated password of letters and digits (URL- and shell-safe, so it can sit in a connection
 * URL unescaped), made once and kept encrypted in the state; a new `rotation` stamp replaces it.
 */
export function generatedPassword(name: string, length: number, rotation: string, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
    return new random.RandomPassword(name, { length, special: false, minLower: 1, minUpper: 1, minNumeric: 1, keepers: { rotation } }, opts).result;
}

/**
 * The stack's generated secrets, from @pulumi/random. One value per env name, so a secret two
 * services must agree on (REALITY_API_SECRET between backend and reality-engine) is the same
 * value by construction.
 */
export class StackSecrets extends pulumi.ComponentResource {
    /** Secret values by env name. */
    public readonly values: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: StackSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:StackSecrets", name, {}, opts);
        this.values = {};
        for (const [envName, spec] of Object.entries(args.generated)) {
            const base = `${name}-${envName.toLowerCase().replace(/_/g, "-")}`;
            if (spec.kind === "alphanumeric") {
                this.values[envName] = generatedPassword(base, 48, spec.rotation, { parent: this });
                continue;
            }
            const n = spec.rotation === "initial" ? 0 : Number(spec.rotation);
            if (!Number.isInteger(n) || n < 0) {
                throw new pulumi.ResourceError(`\`opsbook:rotation.${envName}\` must be a whole number (0, 1, 2, ...); increment it by one to rotate the key.`, this);
            }
            const slots = encryptionKeySlots(n);
            // 32 random bytes from the OS's generator, as 64 hex characters.
            const values = slots.stamps.map(
                (stamp, i) =>
                    new random.RandomBytes(i === 0 ? base : `${base}-slot-b`, { length: 32, keepers: { rotation: stamp } }, { parent: this, protect: i === slots.active })
                        .hex,
            );
            this.values[envName] = values[slots.active];
            this.values[previousName(envName)] = values[1 - slots.active];
        }
        this.registerOutputs({});
    }
}
