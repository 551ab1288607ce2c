// The off-site copy's rules on the program's side: the target and host key as the spec checks them,
// and the agent's own rules (images/backup/agent/offsitePlan.js, the same file the agent runs), so
// the spec accepts exactly the targets the agent copies to and a preview explains a failed
// connection in the agent's words. Pure: tests need no engine and no network.
import { knownHostsProblems } from "./engineHost";
import { KEYS, OffsiteTarget, parseOffsiteTarget } from "../images/backup/agent/offsitePlan";

export type { OffsiteStatus, OffsiteTarget } from "../images/backup/agent/offsitePlan";
export {
    KEYS as OFFSITE_KEYS,
    MIN_ENCRYPTION_KEY_LENGTH,
    WAL_EVERY_LIMITS,
    defaultWalEverySeconds,
    pickRepositorySnapshot,
    walForgetArgs,
    walShippingHealth,
    walStaleAfterSeconds,
    encryptionKeyProblem,
    forgetArgs,
    knownHostsKeyType,
    offsiteFailure,
    offsiteHealth,
    onlyVanishedFiles,
    parseOffsiteTarget,
    planFetch,
    sftpCommand,
    sshKeyProblem,
    sshOptions,
} from "../images/backup/agent/offsitePlan";

/**
 * What is wrong with `PITR_REPOSITORY_KEY` (undefined when fine). Never quotes the key. It is the
 * `pitrRepositoryKey` output of the stack whose repository is to be read again: pgBackRest's
 * repository passphrase, 64 characters as the stack generates it.
 */
export function repositoryKeyProblem(text: string | undefined): string | undefined {
    const how = `set it to the \`pitrRepositoryKey\` you kept offline (README, "After losing the host"): \`pulumi config set --secret ${KEYS.repositoryKey}\` and paste it`;
    if (text !== undefined && text.trim().length < 32) {
        return `\`opsbook:${KEYS.repositoryKey}\` is shorter than 32 characters, so it is not a pgBackRest repository key of an opsbook stack; ${how}`;
    }
    return undefined;
}

/** The stack secrets the off-site copy needs (user-supplied, `pulumi config set --secret`). */
export const OFFSITE_SECRETS = [KEYS.sshKey, KEYS.encryptionKey] as const;

/** What is wrong with `backups.offsite.target`, or undefined. */
export function offsiteTargetProblem(value: string): string | undefined {
    const parsed = parseOffsiteTarget(value);
    return "error" in parsed ? parsed.error : undefined;
}

/**
 * Problems with `backups.offsite.knownHosts` for the target (empty when fine): one known_hosts line
 * naming the target's host, as for an SSH engine. Without it the host key could not be checked, and
 * the off-site host is never trusted on first use.
 */
export function offsiteKnownHostsProblems(target: OffsiteTarget, knownHosts: string | undefined): string[] {
    return knownHostsProblems({ hostname: target.hostname, port: target.port }, knownHosts, {
        knownHosts: KEYS.knownHosts,
        host: KEYS.target,
        what: "an off-site target",
    });
}
