// SCRAM-SHA-256 password verifiers, as PostgreSQL stores them (RFC 5802/7677).
// The stack sends Postgres the verifier, never the password: the SQL that sets a role's password
// then holds nothing that logs in, even if a server log or an error echoes the statement.
import * as crypto from "crypto";

const ITERATIONS = 4096;

/**
 * The verifier for `password`. The salt is derived from the role and the password, so the same
 * password gives the same verifier (a no-op deploy stays a no-op) while no two passwords share a salt.
 */
export function scramVerifier(role: string, password: string): string {
    const salt = crypto.createHash("sha256").update(`opsbook-scram-salt\0${role}\0${password}`).digest().subarray(0, 16);
    const salted = crypto.pbkdf2Sync(password, salt, ITERATIONS, 32, "sha256");
    const clientKey = crypto.createHmac("sha256", salted).update("Client Key").digest();
    const storedKey = crypto.createHash("sha256").update(clientKey).digest();
    const serverKey = crypto.createHmac("sha256", salted).update("Server Key").digest();
    return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
