// The TLS material of a tcp:// engine (`opsbook:engine.host: tcp://host:2376`): the engine's CA,
// and a client certificate and key it accepts, kept as stack secrets (`pulumi config set --secret
// ENGINE_TLS_CA < ca.pem`, and so on). Both sides are verified: the client checks the engine's
// certificate against the CA, the engine (`dockerd --tlsverify`) the client's.
//
// The docker provider gets the material itself (secret inputs, encrypted in the state). The
// docker CLI calls of the stack, the `opsbook` CLI and `npm run backup` read it from files, as the
// docker CLI does (DOCKER_CERT_PATH): this machine's cache holds them, one private directory per
// engine, written from the stack's secrets by every run of the stack's program and of the CLI.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";
import { ENGINE_TLS_FILES, opsbookCacheDir } from "../providers/engineCli";

export type EngineTlsFile = (typeof ENGINE_TLS_FILES)[number];

/** The stack secrets that hold the material, by the file name the docker CLI looks for. */
export const ENGINE_TLS_KEYS: Readonly<Record<EngineTlsFile, string>> = { "ca.pem": "ENGINE_TLS_CA", "cert.pem": "ENGINE_TLS_CERT", "key.pem": "ENGINE_TLS_KEY" };
export type EngineTlsMaterial = Record<EngineTlsFile, string>;

/** The material as the docker provider takes it: secret Outputs, encrypted in the state. */
export interface EngineTlsSecrets {
    readonly ca: pulumi.Output<string>;
    readonly cert: pulumi.Output<string>;
    readonly key: pulumi.Output<string>;
}

/** What each secret must hold, by the PEM block it starts with. */
const PEM_BLOCKS: Record<EngineTlsFile, { readonly what: string; readonly pattern: RegExp; readonly line: string }> = {
    "ca.pem": { what: "the engine's CA certificate", pattern: /-----BEGIN CERTIFICATE-----/, line: "-----BEGIN CERTIFICATE-----" },
    "cert.pem": { what: "the client certificate the engine accepts", pattern: /-----BEGIN CERTIFICATE-----/, line: "-----BEGIN CERTIFICATE-----" },
    "key.pem": { what: "the client certificate's private key", pattern: /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----/, line: "-----BEGIN PRIVATE KEY-----" },
};

/**
 * What is wrong with the material of a tcp:// engine (empty when fine): each secret set, as a
 * secret, holding a PEM block of the right kind. Messages name the key and never quote a value.
 * Pure.
 */
export function engineTlsProblems(values: Partial<Record<EngineTlsFile, string>>, plain: ReadonlySet<string>): string[] {
    const problems: string[] = [];
    for (const file of ENGINE_TLS_FILES) {
        const key = ENGINE_TLS_KEYS[file];
        const block = PEM_BLOCKS[file];
        const how = `run 'pulumi config set --secret ${key} < ${file}' with the file the engine's administrator made (README, "A server over TLS")`;
        const value = values[file];
        if (value === undefined || value.trim() === "") {
            problems.push(`\`opsbook:${key}\` is required for a tcp:// engine (\`opsbook:engine.host\`): ${block.what}; ${how}`);
        } else if (plain.has(key)) {
            problems.push(`\`opsbook:${key}\` is a secret but is stored in plain text; ${how} (it replaces the plain value)`);
        } else if (!block.pattern.test(value)) {
            problems.push(`\`opsbook:${key}\` is not ${block.what} in PEM form (no \`${block.line}\` line); ${how}`);
        }
    }
    return problems;
}

/** The private directory on this machine that holds the material for `host` (not secret: a path). */
export function engineTlsDir(host: string): string {
    const cache = opsbookCacheDir();
    const digest = crypto.createHash("sha256").update(host).digest("hex").slice(0, 16);
    return path.join(cache, "engine-tls", digest);
}

/**
 * Writes the material for `host` into its directory (0700, files 0600), each file written aside
 * and renamed so a concurrent docker call never reads half of one. Returns the directory.
 */
export function writeEngineTls(host: string, material: EngineTlsMaterial): string {
    const dir = engineTlsDir(host);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    for (const file of ENGINE_TLS_FILES) {
        const target = path.join(dir, file);
        const text = `${material[file].trim()}\n`;
        if (fs.existsSync(target) && fs.readFileSync(target, "utf8") === text) {
            continue;
        }
        const partial = `${target}.${process.pid}.partial`;
        fs.writeFileSync(partial, text, { mode: 0o600 });
        fs.renameSync(partial, target);
    }
    return dir;
}

