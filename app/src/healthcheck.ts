// Container HEALTHCHECK: exit 0 iff GET HEALTH_PATH (default /health) on this container answers
// 200 within 3 s. Reads the same PORT and HEALTH_PATH as the server, so a service with
// HEALTH_PATH=/api/health is probed where it answers.
import * as http from "node:http";

const port = Number(process.env.PORT || "8080");
const path = process.env.HEALTH_PATH?.trim() || "/health";
const req = http.get({ host: "127.0.0.1", port, path, timeout: 3000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", (err) => {
  process.stderr.write(`healthcheck: ${err.message}\n`);
  process.exit(1);
});
