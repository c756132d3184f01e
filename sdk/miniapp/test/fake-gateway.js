'use strict';
// A scripted stand-in for minirtc's gateway (allocation endpoint + WebSocket)
// on 127.0.0.1:0, for protocol details that a real server cannot be made to
// show on demand (503 pushes, odd replies, silence). Behaviour per action can
// be overridden by the test; everything received is recorded.

const http = require('node:http');
const { WebSocketServer } = require('ws');

async function startFakeGateway() {
  const gw = {
    conns: [],
    apBodies: [],
    logUploads: [],
    apStatus: 200,
    logStatus: 200,
    // overrides: action -> (conn, clientRequest, msg) => reply object | null (no reply);
    // a reply's `after` lists serverStatus objects pushed right after it
    actions: {},
    waiters: [],
    url: '',
    apUrl: '',
    wsUrl: ''
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (req.method === 'POST' && req.url === '/api/v1') {
        gw.apBodies.push({ headers: req.headers, body: JSON.parse(text) });
        res.writeHead(gw.apStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 0, json_body: JSON.stringify({ code: 200, vid: 4242, servers: [{ address: '127.0.0.1', ws: server.address().port }], detail: {} }) }));
        return;
      }
      if (req.method === 'POST' && req.url === '/api/v1/logs') {
        gw.logUploads.push(JSON.parse(text));
        res.writeHead(gw.logStatus, { 'content-type': 'application/json' });
        res.end(gw.logStatus === 200 ? '{}' : JSON.stringify({ code: 404, reason: 'no such endpoint' }));
        return;
      }
      res.writeHead(404);
      res.end();
    });
  });
  const wss = new WebSocketServer({ server, path: '/api' });
  wss.on('connection', (ws) => {
    const conn = {
      ws,
      frames: [],
      requests: [],
      pings: 0,
      closed: null,
      send(obj) { ws.send(JSON.stringify(obj)); },
      push(serverStatus, extra) { ws.send(JSON.stringify(Object.assign({ command: 'serverStatus' }, extra || {}, serverStatus ? { serverStatus } : {}))); },
      close(code, reason) { ws.close(code, reason); },
      kill() { ws.terminate(); }
    };
    gw.conns.push(conn);
    ws.on('close', (code, reason) => { conn.closed = { code, reason: reason.toString() }; notify(); });
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      conn.frames.push(msg);
      if (msg.command === 'ping') {
        conn.pings++;
        conn.send({ command: 'pong', ts: Date.now() });
        notify();
        return;
      }
      const cr = msg.clientRequest || {};
      conn.requests.push(msg);
      const override = gw.actions[cr.action];
      let reply;
      if (override) {
        reply = override(conn, cr, msg);
      } else {
        reply = defaultReply(cr);
      }
      const after = reply && reply.after;
      if (reply) {
        delete reply.after;
        conn.send(Object.assign({ command: 'serverResponse', requestId: msg.requestId }, reply));
      }
      // pushes that follow the reply on the wire (like a join's stream-added)
      for (const st of after || []) conn.push(st);
      notify();
    });
    notify();
  });
  function defaultReply(cr) {
    switch (cr.action) {
      case 'join': return { code: 200, serverResponse: Object.assign({ uid: Number(cr.uid) || 777 }, cr.logTicket === true ? { logTicket: 'ticket-' + cr.uid } : {}) };
      case 'publish': return { code: 200, serverResponse: { url: 'rtmp://127.0.0.1/live/stream' + cr.uid + '?n=' + Date.now() } };
      case 'subscribe': return { code: 200, serverResponse: { url: 'rtmp://127.0.0.1/live/play' + cr.uid, rotation: 0 } };
      case 'report_pusher_state': case 'report_pusher_net': case 'report_player_state': case 'report_player_net':
        return { code: 430, reason: `bad request: unknown action "${cr.action}"` };
      default: return { code: 200 };
    }
  }
  function notify() {
    const ws = gw.waiters;
    gw.waiters = [];
    for (const w of ws) if (!w.check()) gw.waiters.push(w);
  }
  /** Resolves when pred() is true (checked on every gateway event). */
  gw.until = (pred, what = 'condition', ms = 15000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for ' + what)), ms);
    const w = { check() { const v = pred(); if (v) { clearTimeout(timer); resolve(v); return true; } return false; } };
    if (!w.check()) gw.waiters.push(w);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  gw.url = `http://127.0.0.1:${port}`;
  gw.apUrl = `${gw.url}/api/v1`;
  gw.wsUrl = `ws://127.0.0.1:${port}/api`;
  gw.close = () => new Promise((resolve) => {
    for (const c of gw.conns) c.ws.terminate();
    wss.close();
    server.close(() => resolve());
    server.closeAllConnections();
  });
  return gw;
}

module.exports = { startFakeGateway };
