// Container HEALTHCHECK: exit 0 iff GET HEALTH_PATH (default /health) on this container answers
// 200 within 3 s. Reads the same PORT and HEALTH_PATH as the server, so a service with
// HEALTH_PATH=/api/health is probed where it answers (either may come from PORT_FILE /
// HEALTH_PATH_FILE, as the server reads them).
import * as http from "node:http";
import { envValue, healthPath, parsePort } from "./config";

let port: number;
let path: string;
try {
  port = parsePort("PORT", envValue("PORT"), 8080)!;
  path = healthPath(envValue("HEALTH_PATH"));
} catch (err) {
  process.stderr.write(`healthcheck: ${(err as Error).message}\n`);
  process.exit(1);
}
const req = http.get({ host: "127.0.0.1", port, path, timeout: 3000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", (err) => {
  process.stderr.write(`healthcheck: ${err.message}\n`);
  process.exit(1);
});
