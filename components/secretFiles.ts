import * as crypto from "crypto";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { LABEL_SECRET_ENV, StackIdentity, engineName, labelList, stackLabels } from "./naming";

/** Where a secret's file appears in a task: Docker's own place for swarm secrets. */
export const SECRETS_DIR = "/run/secrets";

/** The env var that tells an image where the file of secret `name` is (the `_FILE` convention). */
export function fileEnvName(name: string): string {
    return `${name}_FILE`;
}

/** What a service needs to read some secrets as files: the mounts and the `NAME_FILE` env. */
export interface SecretMount {
    readonly files: docker.types.input.ServiceTaskSpecContainerSpecSecret[];
    readonly env: Record<string, string>;
    /** Which stack secret each env name is (see `LABEL_SECRET_ENV`), for the policy pack. */
    readonly bindings: Record<string, string>;
}

export const NO_SECRETS: SecretMount = { files: [], env: {}, bindings: {} };

/** Who may read the files in a task: a numeric uid/gid, readable by it alone; default any user of the task. */
export interface SecretFileOwner {
    readonly uid: string;
    readonly gid: string;
}

export interface SecretFilesArgs {
    /** Which stack the secrets belong to. */
    readonly identity: StackIdentity;
    /**
     * Secret values by key. The key is the env name the secret is usually delivered under; a
     * value delivered under another name (the migration role's URL is the migrations'
     * DATABASE_URL) has a key of its own and is mounted under the name (see `mount`).
     */
    readonly values: Record<string, pulumi.Input<string>>;
}

/**
 * One value as a swarm secret of the stack, labelled with its key. The one place a value becomes
 * a swarm secret: components that make a secret of their own (the database password) call it
 * too. The engine's name is left to Pulumi's auto-naming (prefixed with the stack's engine
 * name), so a changed value is a new secret created before the services move to it and the old
 * one deleted after: a swarm secret cannot be deleted while a service uses it.
 */
export function swarmSecret(identity: StackIdentity, key: string, value: pulumi.Input<string>, opts: pulumi.CustomResourceOptions): docker.Secret {
    return new docker.Secret(
        secretNamePrefix(engineName(identity, key.toLowerCase().replace(/_/g, "-"))),
        {
            data: pulumi.secret(pulumi.output(value).apply((v) => Buffer.from(v, "utf8").toString("base64"))),
            labels: labelList({ ...stackLabels(identity, "secret"), [LABEL_SECRET_ENV]: key }),
        },
        { ...opts, additionalSecretOutputs: ["data"] },
    );
}

/** The engine takes secret names of at most 64 characters; Pulumi's auto-naming adds 8. */
const SECRET_NAME_PREFIX_MAX = 56;

/**
 * The prefix of a secret's auto-generated name: the readable name when it fits, else its start
 * and a digest of the whole, so that long stack names still deploy and names stay distinct. Pure.
 */
export function secretNamePrefix(name: string): string {
    if (name.length <= SECRET_NAME_PREFIX_MAX) {
        return name;
    }
    const digest = crypto.createHash("sha256").update(name).digest("hex").slice(0, 8);
    return `${name.slice(0, SECRET_NAME_PREFIX_MAX - 9).replace(/[-_.]+$/, "")}-${digest}`;
}

/** A swarm secret as a task mounts it. */
export function secretRef(key: string, secret: docker.Secret): { key: string; id: pulumi.Input<string>; name: pulumi.Input<string> } {
    return { key, id: secret.id, name: secret.name };
}

/**
 * The stack's secrets as swarm secrets: one per key, shared by every service that has it,
 * mounted as a file at /run/secrets/<NAME> with `NAME_FILE` in the env. No value reaches a
 * container's env, a command line or a label.
 */
export class SecretFiles extends pulumi.ComponentResource {
    /** The swarm secrets by key. */
    public readonly secrets: Record<string, docker.Secret>;

    constructor(name: string, args: SecretFilesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:SecretFiles", name, {}, opts);
        this.secrets = {};
        for (const key of Object.keys(args.values).sort()) {
            this.secrets[key] = swarmSecret(args.identity, key, args.values[key], { parent: this });
        }
        this.registerOutputs({});
    }

    /**
     * Mounts for secrets by env name: a list of keys delivered under their own names, or a map
     * from env name to key. Every key must be one of this stack's secrets.
     */
    mount(names: string[] | Record<string, string>, owner?: SecretFileOwner): SecretMount {
        const bindings = Array.isArray(names) ? Object.fromEntries(names.map((n) => [n, n])) : names;
        const missing = Object.values(bindings).filter((key) => !(key in this.secrets));
        if (missing.length > 0) {
            throw new pulumi.ResourceError(`no value for secret(s) ${missing.map((n) => `\`${n}\``).join(", ")}`, this);
        }
        return secretMount(
            Object.fromEntries(Object.entries(bindings).map(([env, key]) => [env, secretRef(key, this.secrets[key])])),
            owner,
        );
    }
}

/** The mounts and `NAME_FILE` env for swarm secrets by the env name they are delivered under. Pure. */
export function secretMount(
    secrets: Record<string, { key: string; id: pulumi.Input<string>; name: pulumi.Input<string> }>,
    owner?: SecretFileOwner,
): SecretMount {
    const names = Object.keys(secrets).sort();
    return {
        files: names.map((n) => ({
            secretId: secrets[n].id,
            secretName: secrets[n].name,
            fileName: `${SECRETS_DIR}/${n}`,
            // Readable by the task's user alone when it is known; otherwise by the task's users
            // (the file lives in the task's own tmpfs, nowhere else).
            ...(owner ? { fileUid: owner.uid, fileGid: owner.gid, fileMode: 0o400 } : { fileMode: 0o444 }),
        })),
        env: Object.fromEntries(names.map((n) => [fileEnvName(n), `${SECRETS_DIR}/${n}`])),
        bindings: Object.fromEntries(names.map((n) => [n, secrets[n].key])),
    };
}

/** The same mounts as a one-shot job takes them (secret engine names, the env name each is read under). */
export function jobSecretFiles(mount: SecretMount): { secretName: pulumi.Input<string>; env: string; uid?: string }[] {
    return mount.files.map((f) => {
        const env = String(f.fileName).slice(SECRETS_DIR.length + 1);
        return { secretName: f.secretName as pulumi.Input<string>, env, ...(f.fileUid ? { uid: f.fileUid as string } : {}) };
    });
}
