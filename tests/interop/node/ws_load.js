#!/usr/bin/env node
// A closed-loop load generator on Node's `ws` client, for scripts/bench_loadgen.py.
//
//   node ws_load.js URL CONNS INFLIGHT SIZE binary|text DURATION
//
// Each connection keeps INFLIGHT messages of SIZE bytes outstanding and sends
// the next as an echo comes back; every echo is compared with the message
// sent (Buffer.equals). After one second of warm-up, counts for DURATION
// seconds and prints one JSON line: {"msgs_per_s": ..., "messages": ...}.
"use strict";

const WebSocket = require("ws");

const [url, conns, inflight, size, kind, duration] = process.argv.slice(2);
const binary = kind === "binary";
const payload = binary
  ? require("node:crypto").randomBytes(Number(size))
  : Buffer.from("abcdefghijklmnopqrstuvwxyz0123456789".repeat(Math.ceil(size / 36)).slice(0, size));

let received = 0;
let opened = 0;

function fail(why) {
  process.stdout.write(JSON.stringify({ error: why }) + "\n");
  process.exit(1);
}

function start() {
  setTimeout(() => {
    const from = received;
    const t0 = process.hrtime.bigint();
    setTimeout(() => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const messages = received - from;
      process.stdout.write(JSON.stringify({ msgs_per_s: messages / seconds, messages }) + "\n");
      process.exit(0);
    }, Number(duration) * 1000);
  }, 1000);
}

for (let i = 0; i < Number(conns); i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on("open", () => {
    for (let k = 0; k < Number(inflight); k++) ws.send(payload, { binary });
    if (++opened === Number(conns)) start();
  });
  ws.on("message", (data, isBinary) => {
    if (isBinary !== binary || !payload.equals(data)) fail("an echo differs from the message sent");
    received++;
    ws.send(payload, { binary });
  });
  ws.on("error", (err) => fail(String(err)));
}
