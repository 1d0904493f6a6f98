#!/usr/bin/env node
// Node's `ws` client against an echo server (wstool serve), one message at a time.
//
//   node ws_client.js ws://127.0.0.1:PORT/ --deflate|--no-deflate [--proxy http://HOST:PORT]
//
// Sends text, binary, empty, a fragmented message, 1 MiB binary and text, a
// Ping, then Close 4000 "bye", and prints one JSON object on stdout: each
// echo compared with what was sent, the Pong, the negotiated extension and
// the Close the server sent back. Exits 1 on a timeout or an error.
//
// --proxy goes through an HTTP proxy with CONNECT (RFC 9110 section 9.3.6),
// for ws:// and wss:// alike; for wss:// TLS runs inside the tunnel, so the
// proxy's CA must be trusted (NODE_EXTRA_CA_CERTS=ca.pem).
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");
const https = require("node:https");
const net = require("node:net");
const tls = require("node:tls");
const WebSocket = require("ws");

const MIB = 1024 * 1024;
const USAGE = "usage: node ws_client.js URL [--deflate|--no-deflate] [--proxy http://HOST:PORT]\n";

function parseArgs(argv) {
  const args = { url: null, flag: "--deflate", proxy: null };
  const rest = argv.slice();
  while (rest.length > 0) {
    const arg = rest.shift();
    if (arg === "--proxy") {
      args.proxy = rest.shift() ?? "";
    } else if (arg === "--deflate" || arg === "--no-deflate") {
      args.flag = arg;
    } else if (args.url === null && !arg.startsWith("--")) {
      args.url = arg;
    } else {
      return null;
    }
  }
  return args.url === null ? null : args;
}

function usage(message) {
  process.stderr.write((message ? `ws_client.js: ${message}\n` : "") + USAGE);
  process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
if (args === null) usage();
const { url, flag } = args;
let proxy = null;
if (args.proxy !== null) {
  try {
    proxy = new URL(args.proxy);
  } catch {
    usage(`--proxy ${JSON.stringify(args.proxy)} is not a URL`);
  }
  if (proxy.protocol !== "http:" || !proxy.hostname || !proxy.port) {
    usage(`--proxy must be http://HOST:PORT, not ${JSON.stringify(args.proxy)}`);
  }
}

// Opens a CONNECT tunnel to host:port through the proxy and calls back with
// the socket once a 2xx answer's head has been read. Bytes after the head
// (the server may speak first inside a tunnel) are put back with unshift().
function connectTunnel(host, port, callback) {
  const authority = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const socket = net.connect(Number(proxy.port), proxy.hostname.replace(/^\[|\]$/g, ""));
  let head = Buffer.alloc(0);
  let done = false;
  const fail = (err) => {
    if (done) return;
    done = true;
    socket.destroy();
    callback(err);
  };
  const onData = (chunk) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end === -1) {
      if (head.length > 65536) fail(new Error(`proxy ${proxy.host}: answer head over 64 KiB`));
      return;
    }
    socket.removeListener("data", onData);
    socket.removeListener("error", onError);
    socket.removeListener("end", onEnd);
    const status = head.subarray(0, end).toString("latin1").split("\r\n")[0];
    const code = Number(/^HTTP\/1\.[01] (\d{3})/.exec(status)?.[1] ?? NaN);
    if (!(code >= 200 && code < 300)) {
      fail(new Error(`proxy ${proxy.host} refused CONNECT ${authority}: ${JSON.stringify(status)}`));
      return;
    }
    // Neither WebSocket nor TLS lets the server speak first: bytes after the
    // head would be lost before the HTTP client listens, so they are an error.
    if (head.length > end + 4) {
      fail(new Error(`proxy ${proxy.host} sent bytes after its CONNECT answer`));
      return;
    }
    done = true;
    callback(null, socket);
  };
  const onEnd = () => fail(new Error(`proxy ${proxy.host} closed before answering CONNECT`));
  const onError = (err) => fail(new Error(`proxy ${proxy.host}: ${err.message}`));
  socket.on("data", onData);
  socket.once("error", onError);
  socket.once("end", onEnd);
  socket.once("connect", () => {
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

// An Agent whose connections are CONNECT tunnels; for wss:// TLS is started
// inside the tunnel with the server's name for SNI and verification.
function proxyAgent(secure) {
  const Base = secure ? https.Agent : http.Agent;
  const agent = new Base({ keepAlive: false });
  agent.createConnection = (options, callback) => {
    const host = options.host ?? options.hostname;
    connectTunnel(host, options.port, (err, socket) => {
      if (err) {
        callback(err);
        return;
      }
      if (!secure) {
        callback(null, socket);
        return;
      }
      const servername = options.servername || (net.isIP(host) ? undefined : host);
      const secured = tls.connect({ ...options, socket, servername, ALPNProtocols: ["http/1.1"] });
      secured.once("secureConnect", () => callback(null, secured));
      secured.once("error", callback);
    });
    return undefined;
  };
  return agent;
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

let finished = false;
function finish(code) {
  if (finished) return; // an error is followed by a close: one report, the first
  finished = true;
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
}

const timer = setTimeout(() => {
  result.timed_out = true;
  finish(1);
}, 30000);

const options = { perMessageDeflate: flag === "--deflate", handshakeTimeout: 10000 };
if (proxy !== null) {
  options.agent = proxyAgent(url.startsWith("wss:"));
  result.proxy = proxy.host;
}
const ws = new WebSocket(url, options);

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
