// The off-site target is checked before anything changes (`pulumi preview` and `pulumi up` run it
// before the first resource is registered): one SFTP session from this machine with the stack's
// key, accepting only the configured host key. An unreachable host, a refused key or another host
// key stops the program with a message naming the key to fix and what was tried. The agent checks
// again where it runs (at start, naming the same keys), since only it can tell whether the engine's
// host reaches the target and whether the encryption key opens an existing repository.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { OFFSITE_KEYS, OffsiteTarget, knownHostsKeyType, offsiteFailure, sshOptions } from "./offsitePlan";

/** The one known_hosts line written for ssh, with the `[host]:port` form ssh matches off port 22. */
function knownHostsFileText(target: OffsiteTarget, line: string): string {
    const [names, ...rest] = line.trim().split(/\s+/);
    const named = names.split(",").map((n) => (target.port === 22 || n.startsWith("[") || n.startsWith("|1|") ? n : `[${n}]:${target.port}`));
    return `${named.join(",")} ${rest.join(" ")}\n`;
}

function runSftp(args: string[], input: string, timeoutMs: number): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn("sftp", args, { stdio: ["pipe", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: os.tmpdir() } });
        let stderr = "";
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.stderr.on("data", (d) => (stderr += String(d)));
        child.on("error", (err) => {
            clearTimeout(timer);
            resolve({ code: 127, stderr: `cannot run sftp: ${err.message} (install openssh-client)` });
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? 1, stderr: signal ? `${stderr}\nsftp timed out after ${timeoutMs / 1000} s` : stderr });
        });
        child.stdin.on("error", () => undefined);
        child.stdin.end(input);
    });
}

/**
 * Opens an SFTP session to the target (host key, key and SFTP subsystem: what restic needs); throws a RunError naming
 * `opsbook:backups.offsite.*` or `OFFSITE_SSH_KEY` when that fails. The key is written to a file
 * of this process alone (0600, in a 0700 directory) for the session and removed after it.
 */
export async function checkOffsiteTarget(target: OffsiteTarget, knownHosts: string, sshKey: pulumi.Output<string>): Promise<void> {
    // The config value is known during preview and up; nothing is registered from inside this.
    const key = await new Promise<string>((resolve) => sshKey.apply((k) => resolve(k)));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "opsbook-offsite-"));
    try {
        const keyFile = path.join(dir, "key");
        const knownHostsFile = path.join(dir, "known_hosts");
        fs.writeFileSync(keyFile, key, { mode: 0o600 });
        fs.writeFileSync(knownHostsFile, knownHostsFileText(target, knownHosts), { mode: 0o600 });
        const options = sshOptions({ port: target.port, keyFile, knownHostsFile, keyType: knownHostsKeyType(knownHosts) });
        // sftp takes the port as -P; the rest of ssh's options as they are.
        const sftpArgs = options.map((o) => (o === "-p" ? "-P" : o));
        const host = target.hostname.replace(/^\[|\]$/g, "");
        const res = await runSftp(["-b", "-", ...sftpArgs, `${target.user}@${host}`], "pwd\n", 30_000);
        if (res.code !== 0) {
            const said = res.stderr.trim().split("\n").filter(Boolean).slice(-2).join(" / ");
            throw new pulumi.RunError(
                `\`${OFFSITE_KEYS.target}\` (${target.display}) cannot be used: ${offsiteFailure(res.stderr, target)}. ` +
                    `Tried: an SFTP session to ${target.user}@${host}:${target.port} from this machine with the key \`${OFFSITE_KEYS.sshKey}\`, accepting only the host key in \`${OFFSITE_KEYS.knownHosts}\`; it said: ${said || `exit ${res.code}`}`,
            );
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
