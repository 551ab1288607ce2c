import { readFileSync } from "node:fs";

export type Role = "api" | "worker" | "web";
const ROLES: readonly Role[] = ["api", "worker", "web"];

export interface Config {
  role: Role;
  port: number;
  release: string;
  databaseUrl?: string;
  redisUrl?: string;
  workerName: string;
}

/**
 * Reads NAME, or the file named by NAME_FILE (secrets may be mounted as files).
 * Setting both is an error; a trailing newline in the file is ignored.
 */
export function secretEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) throw new Error(`both ${name} and ${name}_FILE are set; set only one`);
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      throw new Error(`cannot read ${name}_FILE (${file}): ${code}`);
    }
    const v = text.replace(/\r?\n$/, "");
    return v === "" ? undefined : v;
  }
  return direct === "" ? undefined : direct;
}

/** host:port/db of a URL, without user or password, for logs. */
export function describeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

function checkUrl(name: string, raw: string | undefined, protocols: string[]): string | undefined {
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    // Never echo the value: it may hold a password.
    throw new Error(`${name} is not a valid URL`);
  }
  if (!protocols.includes(u.protocol)) {
    throw new Error(`${name} must use ${protocols.join(" or ")} (got ${u.protocol})`);
  }
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const role = (env.APP_ROLE || "api") as Role;
  if (!ROLES.includes(role)) throw new Error(`APP_ROLE must be one of ${ROLES.join(", ")} (got "${env.APP_ROLE}")`);
  const port = Number(env.PORT || "8080");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`PORT must be 1-65535 (got "${env.PORT}")`);
  return {
    role,
    port,
    release: env.APP_RELEASE || "dev",
    databaseUrl: checkUrl("DATABASE_URL", secretEnv("DATABASE_URL", env), ["postgres:", "postgresql:"]),
    redisUrl: checkUrl("REDIS_URL", secretEnv("REDIS_URL", env), ["redis:"]),
    workerName: env.WORKER_NAME || "default",
  };
}
