import assert from "node:assert/strict";
import { test } from "node:test";
import { Metrics, escapeLabel } from "./metrics";

test("exposition: counter per method/path/status, uptime, app_info", () => {
  const m = new Metrics({ release: "r1", service: "flash-green" });
  m.countRequest("GET", "/health", 200);
  m.countRequest("GET", "/health", 200);
  m.countRequest("POST", "/items", 503);
  m.countRequest("GET", "/random/probe", 404);
  m.countRequest("BREW", "/x", 404);
  const text = m.render();
  assert.match(text, /^# TYPE http_requests_total counter$/m);
  assert.match(text, /^http_requests_total\{method="GET",path="\/health",status="200"\} 2$/m);
  assert.match(text, /^http_requests_total\{method="POST",path="\/items",status="503"\} 1$/m);
  assert.match(text, /^http_requests_total\{method="GET",path="other",status="404"\} 1$/m);
  assert.match(text, /^http_requests_total\{method="OTHER",path="other",status="404"\} 1$/m);
  assert.doesNotMatch(text, /random/);
  assert.match(text, /^# TYPE process_uptime_seconds gauge\nprocess_uptime_seconds \d+\.\d{3}$/m);
  assert.match(text, /^app_info\{release="r1",service="flash-green"\} 1$/m);
  assert.ok(text.endsWith("\n"));
});

test("label escaping", () => {
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
});
