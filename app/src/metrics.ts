// Prometheus text exposition (format 0.0.4), written by hand: three metric families do not
// justify a dependency.
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Label values escape backslash, double quote and newline, per the exposition format. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labels(pairs: Record<string, string>): string {
  return Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly startedAt = Date.now();
  private readonly info: { release: string; service: string };

  constructor(from: { release: string; service: string }) {
    this.info = { release: from.release, service: from.service };
  }

  /**
   * Counts one request. 404s are counted under path="other": a scanner probing random URLs must
   * not create a time series per URL.
   */
  countRequest(method: string, path: string, status: number): void {
    const key = labels({
      method: KNOWN_METHODS.has(method) ? method : "OTHER",
      path: status === 404 ? "other" : path,
      status: String(status),
    });
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  render(nowMs = Date.now()): string {
    const lines = [
      "# HELP http_requests_total HTTP requests answered, by method, path and status.",
      "# TYPE http_requests_total counter",
      ...[...this.requests.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `http_requests_total{${k}} ${n}`),
      "# HELP process_uptime_seconds Seconds since the process started.",
      "# TYPE process_uptime_seconds gauge",
      `process_uptime_seconds ${((nowMs - this.startedAt) / 1000).toFixed(3)}`,
      "# HELP app_info The running release and service; always 1.",
      "# TYPE app_info gauge",
      `app_info{${labels(this.info)}} 1`,
    ];
    return lines.join("\n") + "\n";
  }
}
