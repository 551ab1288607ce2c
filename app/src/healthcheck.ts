// Container HEALTHCHECK: exit 0 iff GET /health on this container answers 200 within 3 s.
import * as http from "node:http";

const port = Number(process.env.PORT || "8080");
const req = http.get({ host: "127.0.0.1", port, path: "/health", timeout: 3000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", (err) => {
  process.stderr.write(`healthcheck: ${err.message}\n`);
  process.exit(1);
});
