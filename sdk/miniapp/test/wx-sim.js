'use strict';
// A simulated `wx` for the SDK tests: wx.connectSocket (SocketTask) and
// wx.request backed by real sockets (the `ws` package and node:http), with
// WeChat's limits and shapes: at most 5 sockets at once, {errMsg} failures,
// onClose({code, reason}), dataType "json" parsing. Tests can kill a socket's
// TCP connection abruptly (kill) or black-hole it (freeze) and inspect every
// frame and request.

const http = require('node:http');
const https = require('node:https');
const WebSocket = require('ws');

const MAX_SOCKETS = 5; // WeChat's limit per mini program

function createWx(name = 'wx') {
  const sockets = []; // every SocketTask ever created
  const requests = []; // {url, method, header, data, statusCode}
  let maxConcurrent = 0;

  function active() {
    return sockets.filter((t) => !t.closed);
  }

  function connectSocket(opts) {
    const listeners = { open: [], message: [], close: [], error: [] };
    const task = {
      url: opts.url,
      sent: [], // parsed JSON frames sent by the SDK
      received: [], // raw frames delivered to the SDK
      closed: false,
      frozen: false,
      closeInfo: null,
      onOpen(cb) { listeners.open.push(cb); },
      onMessage(cb) { listeners.message.push(cb); },
      onClose(cb) { listeners.close.push(cb); },
      onError(cb) { listeners.error.push(cb); },
      send(o) {
        if (task.closed || ws.readyState !== WebSocket.OPEN) {
          o.fail && o.fail({ errMsg: 'sendSocketMessage:fail WebSocket is not connected' });
          return;
        }
        try { task.sent.push(JSON.parse(o.data)); } catch { task.sent.push(o.data); }
        if (task.frozen) { o.success && o.success({}); return; }
        ws.send(o.data, (err) => {
          if (err) o.fail && o.fail({ errMsg: 'sendSocketMessage:fail ' + err.message });
          else o.success && o.success({ errMsg: 'sendSocketMessage:ok' });
        });
      },
      close(o = {}) {
        if (ws.readyState === WebSocket.CONNECTING) {
          ws.terminate();
        } else if (ws.readyState === WebSocket.OPEN) {
          ws.close(o.code || 1000, o.reason || '');
        }
        o.success && o.success({});
      },
      /** Destroys the TCP connection without a close frame (network loss). */
      kill() { ws.terminate(); },
      /** Stops delivering and sending frames (a half-open connection). */
      freeze() { task.frozen = true; }
    };
    if (active().length >= MAX_SOCKETS) {
      const err = { errMsg: 'connectSocket:fail exceed max task count' };
      setImmediate(() => {
        opts.fail && opts.fail(err);
        for (const cb of listeners.error) cb(err);
      });
      task.closed = true;
      sockets.push(task);
      return task;
    }
    const ws = new WebSocket(opts.url, { handshakeTimeout: 5000 });
    sockets.push(task);
    maxConcurrent = Math.max(maxConcurrent, active().length);
    ws.on('open', () => {
      for (const cb of listeners.open) cb({ header: {} });
    });
    ws.on('message', (data, isBinary) => {
      if (task.frozen) return;
      const payload = isBinary ? new Uint8Array(data).buffer : data.toString('utf8');
      task.received.push(payload);
      for (const cb of listeners.message) cb({ data: payload });
    });
    ws.on('error', (err) => {
      for (const cb of listeners.error) cb({ errMsg: err.message });
    });
    ws.on('close', (code, reason) => {
      task.closed = true;
      task.closeInfo = { code, reason: reason.toString('utf8') };
      for (const cb of listeners.close) cb(task.closeInfo);
    });
    setImmediate(() => opts.success && opts.success({ errMsg: 'connectSocket:ok' }));
    return task;
  }

  function request(opts) {
    const u = new URL(opts.url);
    const mod = u.protocol === 'https:' ? https : http;
    const header = Object.assign({}, opts.header || {});
    let body = opts.data;
    if (body !== undefined && typeof body !== 'string') body = JSON.stringify(body);
    const rec = { url: opts.url, method: opts.method || 'GET', header, data: opts.data, statusCode: 0 };
    requests.push(rec);
    const req = mod.request(u, { method: rec.method, headers: header, timeout: opts.timeout || 60000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        let data = Buffer.concat(chunks).toString('utf8');
        if ((opts.dataType || 'json') === 'json') {
          try { data = JSON.parse(data); } catch { /* stays a string, as in WeChat */ }
        }
        rec.statusCode = res.statusCode;
        opts.success && opts.success({ data, statusCode: res.statusCode, header: res.headers });
        opts.complete && opts.complete({});
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => {
      opts.fail && opts.fail({ errMsg: 'request:fail ' + err.message });
      opts.complete && opts.complete({});
    });
    if (body !== undefined) req.write(body);
    req.end();
    return { abort() { req.destroy(new Error('abort')); } };
  }

  const wx = {
    connectSocket,
    request,
    getSystemInfoSync() {
      return { model: 'node-sim', system: 'Node ' + process.version, platform: 'devtools', SDKVersion: '3.0.0' };
    }
  };
  return {
    name,
    wx,
    sockets,
    requests,
    active,
    maxConcurrent: () => maxConcurrent,
    /** The newest socket that is still open. */
    current() { const a = active(); return a[a.length - 1]; },
    /** Closes everything (end of test). */
    closeAll() { for (const t of sockets) if (!t.closed) t.kill(); }
  };
}

module.exports = { createWx, MAX_SOCKETS };
