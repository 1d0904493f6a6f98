#!/usr/bin/env node
// An echo server on Node's `ws`, for the forward proxy's interop tests.
//
//   node ws_echo_server.js [--deflate] [--tls CERT KEY]
//
// Binds 127.0.0.1 on port 0 and prints `PORT <n>`; echoes every message
// (same type) until killed. With --deflate, permessage-deflate is accepted
// and every message compressed (threshold 0); with --tls it is a wss://
// server with that PEM certificate and key.
"use strict";

const fs = require("node:fs");
const https = require("node:https");
const { WebSocketServer } = require("ws");

const args = process.argv.slice(2);
const deflate = args.includes("--deflate");
const tlsAt = args.indexOf("--tls");
const perMessageDeflate = deflate ? { threshold: 0 } : false;

function serve(options) {
  const wss = new WebSocketServer({ maxPayload: 16 * 1024 * 1024, perMessageDeflate, ...options });
  wss.on("connection", (ws) => {
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    // ws closes a connection whose peer broke a rule and reports it here; without a
    // listener the 'error' event would end the whole server.
    ws.on("error", () => {});
  });
  return wss;
}

if (tlsAt >= 0) {
  const server = https.createServer({
    cert: fs.readFileSync(args[tlsAt + 1]),
    key: fs.readFileSync(args[tlsAt + 2]),
  });
  serve({ server });
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`PORT ${server.address().port}\n`);
  });
} else {
  const wss = serve({ host: "127.0.0.1", port: 0 });
  wss.on("listening", () => process.stdout.write(`PORT ${wss.address().port}\n`));
}
