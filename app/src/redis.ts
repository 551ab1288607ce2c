// A tiny RESP2 client: one socket, pipelined FIFO replies, lazy (re)connect,
// per-command timeout. Enough for AUTH/SELECT/PING/SET/GET/EXPIRE/KEYS.
import * as net from "node:net";

export type Reply = string | number | null | Reply[];

export class RedisError extends Error {}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class RedisClient {
  private socket?: net.Socket;
  private ready?: Promise<void>;
  private buf: Buffer = Buffer.alloc(0);
  private queue: Pending[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly user?: string;
  private readonly password?: string;
  private readonly db: number;

  constructor(url: string, private readonly timeoutMs = 1000) {
    const u = new URL(url);
    this.host = u.hostname || "127.0.0.1";
    this.port = Number(u.port || "6379");
    this.user = u.username ? decodeURIComponent(u.username) : undefined;
    this.password = u.password ? decodeURIComponent(u.password) : undefined;
    this.db = Number(u.pathname.replace(/^\//, "") || "0");
  }

  ping(): Promise<Reply> { return this.command("PING"); }
  get(key: string): Promise<Reply> { return this.command("GET", key); }
  keys(pattern: string): Promise<Reply> { return this.command("KEYS", pattern); }
  expire(key: string, seconds: number): Promise<Reply> { return this.command("EXPIRE", key, String(seconds)); }
  set(key: string, value: string, exSeconds?: number): Promise<Reply> {
    return exSeconds === undefined ? this.command("SET", key, value) : this.command("SET", key, value, "EX", String(exSeconds));
  }

  async command(...args: string[]): Promise<Reply> {
    if (!this.ready) this.ready = this.connect();
    await this.ready;
    return this.send(args);
  }

  close(): void {
    if (this.socket) this.fail(this.socket, new RedisError("client closed"));
  }

  private connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sock = net.createConnection({ host: this.host, port: this.port });
      this.socket = sock;
      this.buf = Buffer.alloc(0);
      sock.setNoDelay(true);
      const timer = setTimeout(() => sock.destroy(new RedisError(`connect timeout after ${this.timeoutMs} ms`)), this.timeoutMs);
      sock.on("data", (d: Buffer) => this.onData(sock, d));
      sock.on("error", (e) => { clearTimeout(timer); this.fail(sock, e); reject(e); });
      sock.on("close", () => { clearTimeout(timer); this.fail(sock, new RedisError("connection closed")); reject(new RedisError("connection closed")); });
      sock.on("connect", () => {
        clearTimeout(timer);
        const hello: Promise<Reply>[] = [];
        if (this.password !== undefined) {
          hello.push(this.send(this.user ? ["AUTH", this.user, this.password] : ["AUTH", this.password]));
        }
        if (this.db) hello.push(this.send(["SELECT", String(this.db)]));
        Promise.all(hello).then(() => resolve(), (e: Error) => { sock.destroy(); reject(e); });
      });
    });
  }

  private send(args: string[]): Promise<Reply> {
    const sock = this.socket;
    if (!sock || sock.destroyed) return Promise.reject(new RedisError("not connected"));
    return new Promise<Reply>((resolve, reject) => {
      // A timed-out reply would desynchronise the FIFO: drop the connection instead.
      const timer = setTimeout(() => sock.destroy(new RedisError(`${args[0]} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      this.queue.push({ resolve, reject, timer });
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      sock.write(out);
    });
  }

  /** Reject everything in flight and forget the socket; the next command reconnects. */
  private fail(sock: net.Socket, err: Error): void {
    if (sock !== this.socket) { sock.destroy(); return; }
    const q = this.queue;
    this.queue = [];
    for (const p of q) { clearTimeout(p.timer); p.reject(err); }
    if (this.socket && !this.socket.destroyed) this.socket.destroy();
    this.socket = undefined;
    this.ready = undefined;
  }

  private onData(sock: net.Socket, d: Buffer): void {
    if (sock !== this.socket) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      let parsed: ReturnType<typeof parse>;
      try {
        parsed = parse(this.buf, 0);
      } catch (e) {
        sock.destroy(e as Error);
        return;
      }
      if (!parsed) return;
      this.buf = this.buf.subarray(parsed.end);
      const p = this.queue.shift();
      if (!p) continue;
      clearTimeout(p.timer);
      if (parsed.value instanceof RedisError) p.reject(parsed.value);
      else p.resolve(parsed.value);
    }
  }
}

/** Parse one RESP value at pos; undefined if the buffer holds only part of it. */
function parse(buf: Buffer, pos: number): { value: Reply | RedisError; end: number } | undefined {
  const eol = buf.indexOf("\r\n", pos);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString("utf8", pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case "+": return { value: line, end: next };
    case "-": return { value: new RedisError(line), end: next };
    case ":": return { value: Number(line), end: next };
    case "$": {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString("utf8", next, next + len), end: next + len + 2 };
    }
    case "*": {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items: Reply[] = [];
      let firstError: RedisError | undefined;
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, at);
        if (!item) return undefined;
        if (item.value instanceof RedisError) { firstError ??= item.value; items.push(null); }
        else items.push(item.value);
        at = item.end;
      }
      return { value: firstError ?? items, end: at };
    }
    default:
      throw new RedisError(`protocol error: unexpected byte ${JSON.stringify(type)}`);
  }
}
