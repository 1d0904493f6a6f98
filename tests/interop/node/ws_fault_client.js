#!/usr/bin/env node
// Node's `ws` client against `wstool serve` with a fault injected; prints one JSON object.
//
//   node ws_fault_client.js URL SCENARIO
//
// Scenarios (what the client does; the JSON says what it saw):
//   pings      a Ping every 100 ms, 5 in all: {pings, pongs}
//   messages   "m1".."m5", one after another's echo or 300 ms: {echoes, close: {code, reason}}
//   delay      "a", "b", "c" at once: {echoes, elapsed_ms} (elapsed until the last echo)
//   fragment   "héllo wörld ✓" (multi-byte characters cut by the frames): {echoes}
//   slow       32 MiB in 64 KiB binary messages at once; after 1 s:
//              {buffered_after_1s (ws.bufferedAmount), echoed_bytes}
// Exits 1 on a timeout or an error before the scenario is over.
"use strict";

const WebSocket = require("ws");

const [url, scenario] = process.argv.slice(2);
if (!url || !scenario) {
  process.stderr.write("usage: node ws_fault_client.js URL pings|messages|delay|fragment|slow\n");
  process.exit(2);
}

const result = { scenario, echoes: [] };
let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
}
setTimeout(() => {
  result.timed_out = true;
  finish(1);
}, 15000);

const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5000 });
const started = Date.now();

ws.on("message", (data, isBinary) => {
  if (isBinary) {
    result.echoed_bytes = (result.echoed_bytes ?? 0) + data.length;
    return;
  }
  result.echoes.push(data.toString("utf8"));
  if (scenario === "delay" && result.echoes.length === 3) {
    result.elapsed_ms = Date.now() - started;
    ws.close(1000);
  }
  if (scenario === "fragment") ws.close(1000);
});
ws.on("close", (code, reason) => {
  result.close = { code, reason: reason.toString("utf8") };
  finish(0);
});
ws.on("error", (err) => {
  result.error = String(err && err.message ? err.message : err);
});

ws.on("open", () => {
  if (scenario === "pings") {
    result.pings = 0;
    result.pongs = 0;
    ws.on("pong", () => {
      result.pongs += 1;
    });
    const timer = setInterval(() => {
      if (result.pings === 5) {
        clearInterval(timer);
        setTimeout(() => ws.close(1000), 200);
        return;
      }
      result.pings += 1;
      ws.ping(Buffer.from(`p${result.pings}`));
    }, 100);
  } else if (scenario === "messages") {
    let sent = 0;
    const next = () => {
      if (sent === 5 || ws.readyState !== WebSocket.OPEN) return;
      sent += 1;
      ws.send(`m${sent}`);
      setTimeout(next, 100);
    };
    next();
  } else if (scenario === "delay") {
    for (const text of ["a", "b", "c"]) ws.send(text);
  } else if (scenario === "fragment") {
    ws.send("héllo wörld ✓");
  } else if (scenario === "slow") {
    const chunk = Buffer.alloc(65536, 120);
    for (let i = 0; i < 512; i++) ws.send(chunk, { binary: true });
    result.echoed_bytes = 0;
    setTimeout(() => {
      result.buffered_after_1s = ws.bufferedAmount;
      ws.terminate();
      finish(0);
    }, 1000);
  } else {
    result.error = `unknown scenario ${scenario}`;
    finish(2);
  }
});
