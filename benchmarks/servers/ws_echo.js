// Echo server on the npm `ws` package, permessage-deflate off.
// usage: node ws_echo.js PORT [HOST]   (ws is looked up in ./node_modules, then NODE_PATH)
'use strict';
const { WebSocketServer } = require('ws');
const port = Number(process.argv[2]);
const host = process.argv[3] || '127.0.0.1';
const wss = new WebSocketServer({ port, host, perMessageDeflate: false, maxPayload: 1 << 24 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(`ws listening on ws://${host}:${port}/`));
