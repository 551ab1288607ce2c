// The env contract of a container: what its environment must hold for the app to start safely.
// Components attach it to each Container resource; the policy pack reads it from the resource
// graph, so a preset or app spec declares a requirement once and the pack enforces it.

/** A value format the policy pack knows how to check. */
export type EnvFormat =
    /** 64 hexadecimal characters (a 32-byte key), e.g. TRADING_KEY_ENCRYPTION_KEY. */
    | "hex64"
    /** Telegram's webhook secret_token: 1 to 256 of A-Z a-z 0-9 _ -. */
    | "telegram-secret-token"
    /** A URL with a scheme, e.g. DATABASE_URL. */
    | "url";

export interface EnvContract {
    /** Names that must be set to a non-empty, non-placeholder value (in env or secretEnv). */
    readonly required: string[];
    /**
     * Either/or groups: for each group, at least one alternative must be fully set. An alternative
     * is a list of names that must all be set, e.g. [["DATABASE_URL"], ["DB_HOST","DB_USER","DB_PASSWORD"]].
     */
    readonly anyOf: string[][][];
    /** Names whose value, when set, must have a format. */
    readonly formats: Record<string, EnvFormat>;
    /** Names whose value must be the same in every container of the stack that has them. */
    readonly equalAcrossServices: string[];
    /** Names that production requires on top of `required` (the runbooks' "in production, set X"). */
    readonly requiredInProduction: string[];
}

export const EMPTY_ENV_CONTRACT: EnvContract = {
    required: [],
    anyOf: [],
    formats: {},
    equalAcrossServices: [],
    requiredInProduction: [],
};

/** What a container is for; policies apply per role (e.g. only long-running ones need health checks). */
export type ContainerRole = "database" | "cache" | "service" | "worker" | "job" | "gateway";
