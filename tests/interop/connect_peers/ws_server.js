// An echo server on Node's `ws`, for `wstool connect` interop tests.
// Usage: node ws_server.js [--deflate]. With --deflate, permessage-deflate is
// accepted and every message is compressed (threshold 0). Binds 127.0.0.1 on
// port 0, prints `PORT <n>`, echoes every message until killed.
'use strict';

const { WebSocketServer } = require('ws');

const deflate = process.argv.includes('--deflate');
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  maxPayload: 16 * 1024 * 1024,
  perMessageDeflate: deflate ? { threshold: 0 } : false,
});

wss.on('listening', () => {
  process.stdout.write(`PORT ${wss.address().port}\n`);
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
