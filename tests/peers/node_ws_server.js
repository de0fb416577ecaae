// An npm `ws` echo server on 127.0.0.1, free port; prints "PORT <n>" then serves
// until stdin closes. Path /close4002 closes at once with 4002.
// usage: node node_ws_server.js [deflate]  (deflate: accept permessage-deflate,
// compressing every message: threshold 0)
'use strict';
const WebSocket = require('ws');
const deflate = process.argv[2] === 'deflate';
const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, maxPayload: 64 << 20,
  perMessageDeflate: deflate ? { threshold: 0 } : false });
wss.on('connection', (ws, req) => {
  if (req.url === '/close4002') { ws.close(4002, 'from ws'); return; }
  if (req.url === '/extensions') { ws.send(ws.extensions); }
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('ping', () => {});
});
wss.on('listening', () => process.stdout.write('PORT ' + wss.address().port + '\n'));
process.stdin.on('end', () => { wss.close(); process.exit(0); });
process.stdin.resume();
