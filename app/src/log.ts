// One JSON object per line on stdout. Never pass secrets or URLs with credentials here.
export type Fields = Record<string, unknown>;

function write(level: string, msg: string, fields: Fields = {}): void {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields }) + "\n");
}

export const log = {
  info: (msg: string, fields?: Fields): void => write("info", msg, fields),
  warn: (msg: string, fields?: Fields): void => write("warn", msg, fields),
  error: (msg: string, fields?: Fields): void => write("error", msg, fields),
};

/** Error message safe to log: no stack, URLs with credentials masked. */
export function errMsg(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, "$1***@");
}
