// Drives an echo server with an npm WebSocket client and prints a JSON report.
// usage: node node_client.js ws|websocket URL
// Checks: ASCII and non-ASCII text, 1 MiB text, binary, a fragmented message,
// ping/pong, and closing with code 4001. Trusts NODE_EXTRA_CA_CERTS for wss://.
// Reports the negotiated extensions (ws only; WebSocket-Node has no compression).
'use strict';
const lib = process.argv[2];
const url = process.argv[3];
const big = 'x'.repeat(1 << 20);
const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
const results = { lib, echoes: {}, pong: false, close: null, errors: [], extensions: null };
const timer = setTimeout(() => { results.errors.push('timeout'); done(); }, 20000);
let finished = false;
function done() {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(results) + '\n');
  process.exit(0);
}
const steps = [
  ['ascii', 'hello from node'],
  ['nonascii', 'héllo wörld ✓ 🎉 日本語'],
  ['big', big],
  ['binary', bin],
  ['fragmented', null],
];
const fragParts = ['frag-one|', 'frag-two|', 'frag-three ✓'];
const fragExpected = fragParts.join('');

function describe(data, isBinary) {
  if (isBinary) return { type: 'binary', hex: Buffer.from(data).toString('hex') };
  return { type: 'text', length: data.length, ok: null, data: data.length > 200 ? null : data };
}

function check(name, got, isBinary) {
  const [, expected] = steps.find((s) => s[0] === name);
  const want = name === 'fragmented' ? fragExpected : expected;
  let ok;
  if (Buffer.isBuffer(want)) ok = isBinary && Buffer.compare(Buffer.from(got), want) === 0;
  else ok = !isBinary && got === want;
  results.echoes[name] = ok;
}

if (lib === 'ws') {
  const WebSocket = require('ws');
  const sock = new WebSocket(url);
  let i = 0;
  function next() {
    if (i >= steps.length) { sock.ping(Buffer.from('node-ping')); return; }
    const [name, data] = steps[i];
    if (name === 'fragmented') {
      sock.send(fragParts[0], { fin: false });
      sock.send(fragParts[1], { fin: false });
      sock.send(fragParts[2], { fin: true });
    } else sock.send(data, { binary: Buffer.isBuffer(data) });
  }
  // ws offers permessage-deflate by default (perMessageDeflate: true); report what was agreed.
  sock.on('open', () => { results.extensions = sock.extensions; next(); });
  sock.on('message', (data, isBinary) => {
    const got = isBinary ? data : data.toString('utf8');
    check(steps[i][0], got, isBinary);
    i += 1;
    next();
  });
  sock.on('pong', (data) => {
    results.pong = data.toString() === 'node-ping';
    sock.close(4001, 'node done');
  });
  sock.on('close', (code, reason) => { results.close = [code, reason.toString()]; done(); });
  sock.on('error', (e) => { results.errors.push(String(e)); done(); });
} else if (lib === 'websocket') {
  const WebSocketClient = require('websocket').client;
  const client = new WebSocketClient({ maxReceivedFrameSize: 4 << 20, maxReceivedMessageSize: 4 << 20,
    fragmentOutgoingMessages: true, fragmentationThreshold: 256 * 1024 });
  client.on('connectFailed', (e) => { results.errors.push('connectFailed: ' + e); done(); });
  client.on('connect', (conn) => {
    let i = 0;
    function next() {
      if (i >= steps.length) { conn.ping(Buffer.from('node-ping')); return; }
      const [name, data] = steps[i];
      if (name === 'fragmented') {
        // WebSocket-Node fragments messages above fragmentationThreshold: send a
        // 300 KiB text, which goes out as 2 frames, and expect it back whole.
        const long = fragExpected + 'f'.repeat(300 * 1024);
        steps[i][1] = long;
        fragLong = long;
        conn.sendUTF(long);
      } else if (Buffer.isBuffer(data)) conn.sendBytes(data);
      else conn.sendUTF(data);
    }
    let fragLong = null;
    conn.on('message', (m) => {
      const name = steps[i][0];
      if (name === 'fragmented') {
        results.echoes[name] = m.type === 'utf8' && m.utf8Data === fragLong;
      } else if (m.type === 'binary') check(name, m.binaryData, true);
      else check(name, m.utf8Data, false);
      i += 1;
      next();
    });
    conn.on('pong', (data) => {
      results.pong = data.toString() === 'node-ping';
      conn.close(4001, 'node done');
    });
    conn.on('close', (code, desc) => { results.close = [code, desc]; done(); });
    conn.on('error', (e) => { results.errors.push(String(e)); });
    next();
  });
  client.connect(url);
} else {
  console.error('unknown lib ' + lib);
  process.exit(2);
}
