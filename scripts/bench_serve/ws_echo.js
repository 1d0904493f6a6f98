// Node's `ws` echo server for scripts/bench_serve.py.
// Usage: node ws_echo.js [PORT]   (0, the default, picks a free port)
// Binds 127.0.0.1, no permessage-deflate, messages up to 16 MiB, and prints
// "ws: listening on ws://127.0.0.1:PORT/" as its first stdout line.
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.argv[2] || 0),
  perMessageDeflate: false,
  maxPayload: 16 * 1024 * 1024,
  clientTracking: false,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => {
  process.stdout.write(`ws: listening on ws://127.0.0.1:${wss.address().port}/\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
