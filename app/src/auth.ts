// Secret comparison for webhook tokens, cron secrets and admin bearer tokens.
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

/**
 * Constant-time string equality. Both sides are hashed first: timingSafeEqual needs equal
 * lengths, and comparing digests keeps the secret's length from leaking through timing too.
 * A missing or empty candidate never matches.
 */
export function safeEqual(candidate: string | undefined, secret: string): boolean {
  if (!candidate || !secret) return false;
  return timingSafeEqual(digest(candidate), digest(secret));
}

/** True when the candidate equals any of the secrets; every secret is compared, always. */
export function safeEqualAny(candidate: string | undefined, secrets: readonly string[]): boolean {
  let ok = false;
  for (const s of secrets) ok = safeEqual(candidate, s) || ok;
  return ok;
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1] : undefined;
}
