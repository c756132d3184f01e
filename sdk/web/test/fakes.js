// Test doubles: a fake minirtc (allocation endpoint, gateway WebSocket,
// WHIP/WHEP and session DELETE on one loopback HTTP server, recording what
// the SDK sends) and a fake RTCPeerConnection that writes Chrome-like SDP
// offers (VP8 first, as Chrome does) and connects at once.

import http from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';

/** Starts the fake server; resolves {url, apUrl, requests, frames, sockets, on*, close}. */
export async function startFakeServer() {
  const srv = {
    requests: [], // {method, path, headers, body}
    frames: [], // parsed client frames (no pings)
    pings: 0,
    sockets: [],
    apStatus: 200,
    // (msg, reply) -> handled?; default: join -> {uid}, others -> 200
    onRequest: null,
    // (req) -> {status, body, headers}; default 201 answer
    onMedia: null,
    nextId: 1
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const rec = { method: req.method, path: req.url, headers: req.headers, body };
      srv.requests.push(rec);
      if (req.method === 'POST' && req.url === '/api/v1') {
        res.writeHead(srv.apStatus, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ code: 0, json_body: JSON.stringify({ code: 200, vid: 77, servers: [{ address: '127.0.0.1', ws: 0 }], detail: {} }) }));
        return;
      }
      if (req.method === 'POST' && /^\/(whip|whep)\//.test(req.url)) {
        const out = srv.onMedia ? srv.onMedia(rec) : null;
        if (out) {
          res.writeHead(out.status, out.headers || { 'Content-Type': 'application/json' });
          res.end(out.body || '');
          return;
        }
        const id = 's' + srv.nextId++;
        res.writeHead(201, { 'Content-Type': 'application/sdp', Location: '/webrtc/session/' + id });
        res.end(answerFor(body));
        return;
      }
      if (req.method === 'DELETE' && req.url.startsWith('/webrtc/session/')) {
        res.writeHead(200);
        res.end();
        return;
      }
      res.writeHead(404);
      res.end();
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, sock, head) => {
    if (req.url !== '/api') {
      sock.destroy();
      return;
    }
    wss.handleUpgrade(req, sock, head, (ws) => {
      srv.sockets.push(ws);
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data));
        if (msg.command === 'ping') {
          srv.pings++;
          ws.send(JSON.stringify({ command: 'pong', ts: Date.now() }));
          return;
        }
        srv.frames.push(msg);
        const reply = (code, serverResponse, reason) => {
          const r = { command: 'serverResponse', requestId: msg.requestId, code };
          if (serverResponse !== undefined) r.serverResponse = serverResponse;
          if (reason) r.reason = reason;
          ws.send(JSON.stringify(r));
        };
        if (srv.onRequest && srv.onRequest(msg, reply, ws)) return;
        const a = msg.clientRequest && msg.clientRequest.action;
        if (a === 'join') reply(200, { uid: Number(msg.clientRequest.uid) });
        else reply(200);
      });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  srv.url = `http://127.0.0.1:${port}`;
  srv.apUrl = srv.url + '/api/v1';
  srv.push = (obj) => { for (const ws of srv.sockets) if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj)); };
  srv.actions = () => srv.frames.map((f) => f.clientRequest && f.clientRequest.action);
  srv.close = () => new Promise((resolve) => {
    for (const ws of srv.sockets) ws.terminate();
    wss.close();
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return srv;
}

/** An answer to an offer: every section answered with its first payload type. */
export function answerFor(offer) {
  return offer.split('\r\n').filter(Boolean).map((l) => {
    const m = /^m=(\w+) (\d+) (\S+) (\S+)/.exec(l);
    return m ? `m=${m[1]} 9 ${m[3]} ${m[4]}` : l;
  }).join('\r\n') + '\r\n';
}

// A well-formed (random) DTLS fingerprint: real servers parse it.
const FINGERPRINT = Array.from({ length: 32 }, (_, i) => ((i * 37 + 11) & 255).toString(16).padStart(2, '0').toUpperCase()).join(':');

// Chrome's codec list for video, in Chrome's order: VP8 first.
const VIDEO = [
  [96, 'VP8/90000', ''], [97, 'rtx/90000', 'apt=96'],
  [98, 'VP9/90000', 'profile-id=0'], [99, 'rtx/90000', 'apt=98'],
  [102, 'H264/90000', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f'], [103, 'rtx/90000', 'apt=102'],
  [104, 'H264/90000', 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f'],
  [106, 'H264/90000', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f'], [107, 'rtx/90000', 'apt=106'],
  [112, 'H264/90000', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f'],
  [116, 'H264/90000', 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f'],
  [45, 'AV1/90000', 'level-idx=5;profile=0;tier=0'],
  [117, 'red/90000', ''], [118, 'ulpfec/90000', '']
];
const AUDIO = [
  [111, 'opus/48000/2', 'minptime=10;useinbandfec=1'], [63, 'red/48000/2', '111/111'], [9, 'G722/8000', ''],
  [0, 'PCMU/8000', ''], [8, 'PCMA/8000', ''], [13, 'CN/8000', ''], [126, 'telephone-event/8000', '']
];

export function capabilities(kind) {
  const list = kind === 'video' ? VIDEO : AUDIO;
  return {
    codecs: list.map(([, name, fmtp]) => {
      const [n, rate, ch] = name.split('/');
      const c = { mimeType: `${kind}/${n}`, clockRate: Number(rate) };
      if (ch) c.channels = Number(ch);
      if (fmtp) c.sdpFmtpLine = fmtp;
      return c;
    })
  };
}

/** A Chrome-like offer with one section per transceiver (VP8 first). */
export function chromeOffer(transceivers) {
  const lines = ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0',
    'a=group:BUNDLE ' + transceivers.map((_, i) => i).join(' '), 'a=msid-semantic: WMS'];
  transceivers.forEach((tr, mid) => {
    let list = tr.kind === 'video' ? VIDEO : AUDIO;
    if (tr.prefs) {
      // like Chrome: only the preferred codecs, in that order
      list = tr.prefs.map((p) => list.find(([, name, fmtp]) => `${tr.kind}/${name.split('/')[0]}`.toLowerCase() === p.mimeType.toLowerCase() && (fmtp || '') === (p.sdpFmtpLine || '')));
    }
    lines.push(`m=${tr.kind} 9 UDP/TLS/RTP/SAVPF ${list.map((c) => c[0]).join(' ')}`);
    lines.push('c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0', 'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
      'a=fingerprint:sha-256 ' + FINGERPRINT, 'a=setup:actpass', `a=mid:${mid}`, `a=${tr.direction}`, 'a=rtcp-mux');
    for (const [pt, name, fmtp] of list) {
      lines.push(`a=rtpmap:${pt} ${name}`);
      if (tr.kind === 'video' && !name.startsWith('rtx') && !name.startsWith('red') && !name.startsWith('ulpfec')) {
        lines.push(`a=rtcp-fb:${pt} nack`, `a=rtcp-fb:${pt} nack pli`);
      }
      if (fmtp) lines.push(`a=fmtp:${pt} ${fmtp}`);
    }
    lines.push('a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host');
  });
  return lines.join('\r\n') + '\r\n';
}

export class FakeTrack {
  constructor(kind) {
    this.kind = kind;
    this.enabled = true;
    this.readyState = 'live';
  }

  stop() {
    this.readyState = 'ended';
  }
}

export class FakeMediaStream {
  constructor(tracks) {
    this.tracks = tracks ? tracks.slice() : [];
  }

  getTracks() { return this.tracks.slice(); }
  addTrack(t) { this.tracks.push(t); }
  removeTrack(t) { this.tracks = this.tracks.filter((x) => x !== t); }
}

/** Every FakePeerConnection made, for assertions. */
export const peers = [];

export class FakePeerConnection extends EventTarget {
  constructor(config) {
    super();
    this.config = config;
    this.transceivers = [];
    this.connectionState = 'new';
    this.iceGatheringState = 'new';
    this.localDescription = null;
    this.remoteDescription = null;
    this.closed = false;
    peers.push(this);
  }

  addTransceiver(trackOrKind, init) {
    const kind = typeof trackOrKind === 'string' ? trackOrKind : trackOrKind.kind;
    const tr = { kind, direction: init.direction, track: typeof trackOrKind === 'string' ? null : trackOrKind, prefs: null };
    tr.setCodecPreferences = (list) => { tr.prefs = list; };
    this.transceivers.push(tr);
    return tr;
  }

  async createOffer() {
    return { type: 'offer', sdp: chromeOffer(this.transceivers) };
  }

  async setLocalDescription(d) {
    this.localDescription = d;
    this.iceGatheringState = 'complete';
  }

  async setRemoteDescription(d) {
    this.remoteDescription = d;
    for (const tr of this.transceivers) {
      if (tr.direction === 'recvonly') {
        const ev = new Event('track');
        ev.track = new FakeTrack(tr.kind);
        this.dispatchEvent(ev);
      }
    }
    setTimeout(() => this.setState('connected'), 5);
  }

  setState(st) {
    if (this.closed && st !== 'closed') return;
    this.connectionState = st;
    this.dispatchEvent(new Event('connectionstatechange'));
  }

  async getStats() {
    return new Map([['x', { type: 'inbound-rtp' }]]);
  }

  close() {
    this.closed = true;
    this.connectionState = 'closed';
  }
}

export const fakeSender = { getCapabilities: capabilities };
export const fakeReceiver = { getCapabilities: capabilities };
