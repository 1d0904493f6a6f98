// The Node load generator of scripts/bench_serve.py, for the pipelined echo
// scenarios only (msg32, bin64k, bin1m): the same method as loadgen.py, kept
// so that the two can be compared (bench_serve.py --loadgen node).
//
// Usage: node loadgen.js SPEC_JSON   (the spec loadgen.py takes, scenario
// "pipeline"); prints one JSON object with the result.
//
// Frames are built once; the echo stream of a connection is known byte for
// byte, so each chunk read is checked with one Buffer.equals against a view of
// the expected stream. A chunk that does not match sends that connection to a
// general parser that checks each message's type and payload (slow_conns).
'use strict';
const net = require('net');
const crypto = require('crypto');
const fs = require('fs');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MASK_KEY = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const CLK_TCK = 100;

function header(opcode, length, masked) {
  const bit = masked ? 0x80 : 0;
  if (length < 126) return Buffer.from([0x80 | opcode, bit | length]);
  if (length < 65536) {
    const h = Buffer.alloc(4);
    h[0] = 0x80 | opcode; h[1] = bit | 126; h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = 0x80 | opcode; h[1] = bit | 127; h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

function clientFrame(opcode, payload) {
  const masked = Buffer.allocUnsafe(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ MASK_KEY[i & 3];
  return Buffer.concat([header(opcode, payload.length, true), MASK_KEY, masked]);
}

function serverCpu(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch (e) {
    return 0;
  }
}

function cpusBusy(cpus) {
  const wanted = new Set(cpus.map((n) => `cpu${n}`));
  let busy = 0;
  let irq = 0;
  for (const line of fs.readFileSync('/proc/stat', 'latin1').split('\n')) {
    const f = line.split(/\s+/);
    if (!wanted.has(f[0])) continue;
    const t = f.slice(1, 9).map(Number);
    busy += t[0] + t[1] + t[2] + t[7];
    irq += t[5] + t[6];
  }
  return [busy / CLK_TCK, irq / CLK_TCK];
}

function ownCpu() {
  const u = process.cpuUsage();
  return [u.user / 1e6, u.system / 1e6];
}

class Window {
  constructor(spec) {
    this.pid = spec.server_pid;
    this.cpus = spec.cpus || [];
    this.t0 = process.hrtime.bigint();
    this.gen0 = ownCpu();
    this.srv0 = serverCpu(this.pid);
    this.busy0 = cpusBusy(this.cpus);
  }

  close() {
    const elapsed = Number(process.hrtime.bigint() - this.t0) / 1e9;
    const [user, system] = ownCpu();
    const genSys = (system - this.gen0[1]) / elapsed;
    const gen = (user - this.gen0[0]) / elapsed + genSys;
    const srv = (serverCpu(this.pid) - this.srv0) / elapsed;
    const [busy, irq] = cpusBusy(this.cpus);
    return {
      elapsed,
      gen_cpu: gen,
      gen_sys_cpu: genSys,
      srv_cpu: srv,
      other_cpu: Math.max(0, (busy - this.busy0[0]) / elapsed - gen - srv),
      irq_cpu: (irq - this.busy0[1]) / elapsed,
    };
  }
}

const spec = JSON.parse(process.argv[2]);
if (spec.scenario !== 'pipeline') {
  console.log(JSON.stringify({ error: `loadgen.js runs only "pipeline", not ${spec.scenario}` }));
  process.exit(1);
}
const inflight = spec.inflight;
const opcode = spec.binary ? 0x2 : 0x1;
const payload = spec.binary
  ? crypto.randomBytes(spec.size)
  : Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789'.repeat(spec.size / 36 + 1)).subarray(0, spec.size);
const masked = clientFrame(opcode, payload);
const echo = spec.raw ? masked : Buffer.concat([header(opcode, payload.length, false), payload]);
const L = echo.length;
const expected = Buffer.concat(Array(inflight + 1).fill(echo));
const bursts = [];
for (let k = 0; k <= inflight; k++) bursts.push(Buffer.concat(Array(k).fill(masked)));
const CLOSE = clientFrame(0x8, Buffer.from([0x03, 0xe8]));
let sending = true;
let slowConns = 0;

function fail(message) {
  console.log(JSON.stringify({ error: `BenchError: ${message}` }));
  process.exit(1);
}

class Conn {
  constructor(onReady) {
    this.sent = 0;
    this.received = 0;
    this.offset = 0;
    this.state = 'handshake';
    this.head = Buffer.alloc(0);
    this.pending = Buffer.alloc(0);
    this.message = null;
    this.onReady = onReady;
    this.onDrained = null;
    this.onClosed = null;
    this.sock = net.connect({ host: spec.host, port: spec.port, noDelay: true });
    this.sock.on('connect', () => {
      if (spec.raw) {
        this.state = 'open';
        onReady();
        return;
      }
      const key = crypto.randomBytes(16).toString('base64');
      this.accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
      this.sock.write(
        `GET / HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('error', (e) => {
      if (this.state !== 'closing') fail(`socket error ${e.message}`);
    });
    this.sock.on('close', () => {
      if (this.state !== 'closing') fail('server closed the connection early');
      if (this.onClosed) this.onClosed();
    });
  }

  onData(d) {
    if (this.state === 'open') {
      const off = this.offset;
      const end = off + d.length;
      if (end > expected.length || !d.equals(expected.subarray(off, end))) {
        this.mismatch(d);
        return;
      }
      const done = Math.floor(end / L);
      this.offset = end - done * L;
      if (done) this.completed(done);
    } else if (this.state === 'slow') {
      this.pending = Buffer.concat([this.pending, d]);
      this.parse();
    } else if (this.state === 'handshake') {
      this.head = Buffer.concat([this.head, d]);
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const text = this.head.subarray(0, end).toString('latin1');
      if (!text.startsWith('HTTP/1.1 101')) fail(`handshake refused: ${text.split('\r\n')[0]}`);
      const m = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text);
      if (!m || m[1] !== this.accept) fail('bad Sec-WebSocket-Accept');
      if (/\r\nsec-websocket-extensions:/i.test(text)) fail('server negotiated an extension');
      if (this.head.length > end + 4) fail('data before the first message');
      this.state = 'open';
      this.onReady();
    }
  }

  start() {
    this.sock.write(bursts[inflight]);
    this.sent = inflight;
  }

  completed(done) {
    this.received += done;
    if (sending) {
      this.sock.write(bursts[done]);
      this.sent += done;
    } else if (this.received >= this.sent) {
      if (this.received > this.sent) fail(`${this.received} echoes for ${this.sent} messages`);
      if (this.onDrained) this.onDrained();
    }
  }

  mismatch(d) {
    if (spec.raw) fail('the TCP echo did not return the bytes sent');
    this.state = 'slow';
    slowConns += 1;
    this.pending = Buffer.concat([echo.subarray(0, this.offset), d]);
    this.parse();
  }

  parse() {
    const buf = this.pending;
    let pos = 0;
    let done = 0;
    while (buf.length - pos >= 2) {
      const b0 = buf[pos];
      const b1 = buf[pos + 1];
      if (b1 & 0x80) fail('the server masked a frame');
      if (b0 & 0x70) fail('RSV bits set');
      let length = b1 & 0x7f;
      let start = pos + 2;
      if (length === 126) {
        if (buf.length - pos < 4) break;
        length = buf.readUInt16BE(pos + 2);
        start = pos + 4;
      } else if (length === 127) {
        if (buf.length - pos < 10) break;
        length = Number(buf.readBigUInt64BE(pos + 2));
        start = pos + 10;
      }
      if (buf.length - start < length) break;
      const data = buf.subarray(start, start + length);
      pos = start + length;
      const op = b0 & 0x0f;
      if (op === 0x9) {
        this.sock.write(clientFrame(0xa, data));
        continue;
      }
      if (op === 0xa) continue;
      if (op === 0x8) fail('server sent Close mid-run');
      if (op === 0) {
        if (this.message === null) fail('continuation frame without a message');
        this.message.push(Buffer.from(data));
      } else {
        if (this.message !== null) fail('new message inside a fragmented one');
        this.message = [Buffer.from(data)];
        this.messageOpcode = op;
      }
      if (b0 & 0x80) {
        if (this.messageOpcode !== opcode || !Buffer.concat(this.message).equals(payload)) {
          fail('echo differs from the message sent');
        }
        this.message = null;
        done += 1;
      }
    }
    this.pending = buf.subarray(pos);
    if (done) this.completed(done);
  }

  close() {
    return new Promise((resolve) => {
      this.onClosed = resolve;
      this.state = 'closing';
      if (spec.raw) this.sock.end();
      else this.sock.write(CLOSE);
      setTimeout(() => {
        this.sock.destroy();
        resolve();
      }, 5000).unref();
    });
  }
}

const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));

async function main() {
  const conns = [];
  const batch = spec.batch || 50;
  while (conns.length < spec.conns) {
    const n = Math.min(batch, spec.conns - conns.length);
    const ready = [];
    for (let i = 0; i < n; i++) {
      ready.push(new Promise((resolve) => conns.push(new Conn(resolve))));
    }
    await Promise.all(ready);
  }
  for (const c of conns) c.start();
  await sleep(spec.warmup);
  const before = conns.reduce((a, c) => a + c.received, 0);
  const window = new Window(spec);
  await sleep(spec.duration);
  const result = window.close();
  const after = conns.reduce((a, c) => a + c.received, 0);
  sending = false;
  const drained = conns.map(
    (c) =>
      new Promise((resolve) => {
        if (c.received === c.sent) resolve();
        else c.onDrained = resolve;
      }),
  );
  const timer = setTimeout(() => fail('connections did not get all their echoes back'), 30000);
  await Promise.all(drained);
  clearTimeout(timer);
  const sent = conns.reduce((a, c) => a + c.sent, 0);
  const received = conns.reduce((a, c) => a + c.received, 0);
  if (sent !== received) fail(`sent ${sent} messages, got ${received} echoes`);
  await Promise.all(conns.map((c) => c.close()));
  const messages = after - before;
  Object.assign(result, {
    messages,
    msgs_per_s: messages / result.elapsed,
    mb_per_s: (messages * payload.length) / result.elapsed / 1e6,
    verified: received,
    slow_conns: slowConns,
    loadgen: 'node',
  });
  console.log(JSON.stringify(result));
  process.exit(0);
}

main();
