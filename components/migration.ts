import * as pulumi from "@pulumi/pulumi";
import { OneShotRun } from "../providers/oneShot";
import { LocalImage } from "./images";
import { StackNetwork } from "./networks";
import { StackIdentity, engineName, stackLabels } from "./naming";
import { SecretMount, jobSecretFiles } from "./secretFiles";

export interface MigrationArgs {
    /** Which stack the migration belongs to. */
    readonly identity: StackIdentity;
    /** The stack's data network, where Postgres answers as `postgres`. */
    readonly network: StackNetwork;
    /** The new release's image: migrations run from the code that needs them. */
    readonly image: LocalImage;
    /** The migrate command. */
    readonly command: string[];
    /** A check run first; if it fails, migrations do not run. Default: none. */
    readonly preflight?: string[];
    /** The release label; a new label runs the steps again with the same image. */
    readonly release: string;
    /** Plain env of the steps. */
    readonly env?: Record<string, string>;
    /** Secret files of the steps; DATABASE_URL is the migration role's. */
    readonly secrets: SecretMount;
    /**
     * What the preflight checks on top of `env`/`secrets`: the services' own env and secrets, so
     * the check sees exactly what the services will get. Default: none.
     */
    readonly preflightEnv?: Record<string, string>;
    readonly preflightSecrets?: SecretMount;
    /** The secret values the steps can read, so that none of them appears in an error. */
    readonly redact: pulumi.Input<string>[];
    /** Seconds each step may run. Default 300. */
    readonly timeoutSeconds?: number;
}

/**
 * The release gate: preflight (when given), then migrations, each a one-shot swarm job of the new
 * image. Services depend on this component, so when a step fails `pulumi up` fails and the
 * services are not touched: they keep serving the release they run.
 */
export class Migration extends pulumi.ComponentResource {
    /** When the migrations of the current release finished. */
    public readonly finishedAt: pulumi.Output<string>;

    constructor(name: string, args: MigrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("opsbook:index:Migration", name, {}, opts);
        const common = {
            image: args.image.id,
            imageName: args.image.reference,
            env: args.env ?? {},
            networks: [args.network.name],
            memoryMb: 256,
            timeoutSeconds: args.timeoutSeconds ?? 300,
            release: args.release,
            redact: pulumi.all(args.redact),
            ...(args.identity.engine ? { engine: args.identity.engine } : {}),
            ...(args.identity.placement ? { constraints: [args.identity.placement.jobConstraint] } : {}),
        };
        const preflight = args.preflight
            ? new OneShotRun(
                  `${name}-preflight`,
                  {
                      ...common,
                      name: engineName(args.identity, "preflight"),
                      command: args.preflight,
                      env: { ...args.preflightEnv, ...args.env },
                      // The migration's DATABASE_URL wins over the services' own, as before.
                      secretFiles: jobSecretFiles(mergeMounts(args.preflightSecrets, args.secrets)),
                      labels: stackLabels(args.identity, "preflight"),
                  },
                  { parent: this },
              )
            : undefined;
        const migrate = new OneShotRun(
            `${name}-migrate`,
            {
                ...common,
                name: engineName(args.identity, "migrate"),
                command: args.command,
                secretFiles: jobSecretFiles(args.secrets),
                labels: stackLabels(args.identity, "migration"),
            },
            { parent: this, dependsOn: preflight ? [preflight] : [] },
        );
        this.finishedAt = migrate.finishedAt;
        this.registerOutputs({ finishedAt: this.finishedAt });
    }
}

/** Two sets of secret files as one; where both deliver a name, `over` wins. Pure. */
export function mergeMounts(base: SecretMount | undefined, over: SecretMount): SecretMount {
    const overNames = new Set(Object.keys(over.bindings));
    const kept = base ? base.files.filter((f) => !overNames.has(String(f.fileName).split("/").pop() as string)) : [];
    return {
        files: [...kept, ...over.files],
        env: { ...base?.env, ...over.env },
        bindings: { ...base?.bindings, ...over.bindings },
    };
}
