import * as pulumi from "@pulumi/pulumi";
import { OneShotRun } from "../providers/oneShot";
import { EMPTY_ENV_CONTRACT } from "./envContract";
import { LocalImage } from "./images";
import { StackIdentity, engineName, stackLabels } from "./naming";

export interface MigrationArgs {
    /** Which stack the migration belongs to. */
    readonly identity: StackIdentity;
    /** The stack network, where Postgres answers as `postgres`. */
    readonly networkName: pulumi.Input<string>;
    /** The new release's image: migrations run from the code that needs them. */
    readonly image: LocalImage;
    /** The migrate command. */
    readonly command: string[];
    /** A check run first; if it fails, migrations do not run. Default: none. */
    readonly preflight?: string[];
    /** The release label; a new label runs the steps again with the same image. */
    readonly release: string;
    /** Plain env of the steps (the services' own, so preflight checks what the services get). */
    readonly env?: Record<string, string>;
    /** Secret env of the steps; DATABASE_URL is the migration role's. */
    readonly secretEnv: Record<string, pulumi.Input<string>>;
    /**
     * Env the preflight checks on top of `env`/`secretEnv`: the services' own, so the check
     * sees exactly what the services will get. Default: none.
     */
    readonly preflightEnv?: Record<string, string>;
    readonly preflightSecretEnv?: Record<string, pulumi.Input<string>>;
    /** Seconds each step may run. Default 300. */
    readonly timeoutSeconds?: number;
}

/**
 * The release gate: preflight (when given), then migrations, each a one-shot container of the new
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
            secretEnv: args.secretEnv,
            networks: [{ name: args.networkName, aliases: [] }],
            memoryMb: 256,
            timeoutSeconds: args.timeoutSeconds ?? 300,
            release: args.release,
            role: "job" as const,
            envContract: EMPTY_ENV_CONTRACT,
        };
        const preflight = args.preflight
            ? new OneShotRun(
                  `${name}-preflight`,
                  {
                      ...common,
                      name: engineName(args.identity, "preflight"),
                      command: args.preflight,
                      env: { ...args.preflightEnv, ...args.env },
                      secretEnv: { ...args.preflightSecretEnv, ...args.secretEnv },
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
                labels: stackLabels(args.identity, "migration"),
            },
            { parent: this, dependsOn: preflight ? [preflight] : [] },
        );
        this.finishedAt = migrate.finishedAt;
        this.registerOutputs({ finishedAt: this.finishedAt });
    }
}
