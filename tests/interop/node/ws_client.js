#!/usr/bin/env node
// Node's `ws` client against an echo server (wstool serve), one message at a time.
//
//   node ws_client.js ws://127.0.0.1:PORT/ --deflate|--no-deflate
//
// Sends text, binary, empty, a fragmented message, 1 MiB binary and text, a
// Ping, then Close 4000 "bye", and prints one JSON object on stdout: each
// echo compared with what was sent, the Pong, the negotiated extension and
// the Close the server sent back. Exits 1 on a timeout or an error.
"use strict";

const crypto = require("node:crypto");
const WebSocket = require("ws");

const MIB = 1024 * 1024;
const [url, flag = "--deflate"] = process.argv.slice(2);
if (!url || !["--deflate", "--no-deflate"].includes(flag)) {
  process.stderr.write("usage: node ws_client.js URL [--deflate|--no-deflate]\n");
  process.exit(2);
}

function sha256(buf) {
  return crypto.createHash("sha256").update(buf).digest("hex");
}

// Deterministic incompressible bytes (xorshift32), so a failure reproduces.
function noise(size) {
  const out = Buffer.alloc(size);
  let x = 6455;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

// [name, payload, isBinary, fragments]: fragments > 1 sends the payload as
// that many frames (fin: false on all but the last).
const script = [
  ["text", Buffer.from("héllo from node ✓"), false, 1],
  ["binary", Buffer.from(Array.from({ length: 256 }, (_, i) => i)), true, 1],
  ["empty-text", Buffer.alloc(0), false, 1],
  ["empty-binary", Buffer.alloc(0), true, 1],
  ["fragmented-text", Buffer.from("fragment ".repeat(300)), false, 3],
  ["large-binary", noise(MIB), true, 1],
  ["large-text", Buffer.from("0123456789abcdef".repeat(MIB / 16)), false, 1],
];

const result = { deflate: flag === "--deflate", echoes: {} };
const pending = script.slice();

function finish(code) {
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
}

const timer = setTimeout(() => {
  result.timed_out = true;
  finish(1);
}, 30000);

const ws = new WebSocket(url, { perMessageDeflate: flag === "--deflate", handshakeTimeout: 10000 });

function sendNext() {
  if (pending.length === 0) {
    ws.ping(Buffer.from("node-ping"));
    return;
  }
  const [, payload, binary, fragments] = pending[0];
  if (fragments <= 1) {
    ws.send(binary ? payload : payload.toString("utf8"), { binary });
    return;
  }
  const step = Math.ceil(payload.length / fragments);
  for (let i = 0; i < fragments; i++) {
    const part = payload.subarray(i * step, (i + 1) * step);
    ws.send(part, { binary, fin: i === fragments - 1 });
  }
}

ws.on("upgrade", (res) => {
  result.extensions_header = res.headers["sec-websocket-extensions"] ?? null;
});
ws.on("open", () => {
  result.extensions = ws.extensions;
  sendNext();
});
ws.on("message", (data, isBinary) => {
  const [name, sent, sentBinary] = pending.shift();
  const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
  result.echoes[name] = {
    ok: buf.equals(sent) && isBinary === sentBinary,
    size: buf.length,
    binary: isBinary,
    sha256: sha256(buf),
    sent_sha256: sha256(sent),
  };
  sendNext();
});
ws.on("pong", (data) => {
  result.pong = data.toString("latin1");
  ws.close(4000, "bye");
});
ws.on("close", (code, reason) => {
  clearTimeout(timer);
  result.close = { code, reason: reason.toString("utf8") };
  finish(0);
});
ws.on("error", (err) => {
  clearTimeout(timer);
  result.error = String(err && err.message ? err.message : err);
  finish(1);
});
