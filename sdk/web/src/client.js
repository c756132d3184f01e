// Client: the browser SDK's public API. It joins a channel over the same
// allocation + WebSocket protocol as the mini program SDK (so it gets the
// same events), publishes a MediaStream with WHIP as the uid it joined with
// (the server attaches the WHIP session to that member), and plays remote
// users with WHEP.
//
// State: idle -> (init) initialized -> (join) joined -> (leave) initialized;
// destroy() ends the Client for good.

import { CODES, fail, badRequest, asError } from './errors.js';
import {
  checkAppId, checkKey, checkChannel, checkRole, checkJoinUid, checkRemoteUid, checkTarget, checkToken,
  checkStream, checkSubscribeOptions, origin, defaultServer
} from './validate.js';
import { forceCodecs, h264Preferences, negotiated } from './sdp.js';
import { waitGathering, waitConnected, postOffer, deleteSession } from './whip.js';
import { createSession } from './session.js';
import { Emitter } from '../../core/emitter.js';
import { SDK_VERSION } from './version.js';
import { log } from './log.js';

const DEFAULTS = {
  connectTimeout: 5000, // per gateway URL (905 after the last)
  requestTimeout: 10000, // per request and per WHIP/WHEP POST (903)
  pingInterval: 3000, // heartbeat (docs/protocol.md 3.3)
  gatherTimeout: 2000, // ICE gathering before the offer is sent anyway
  mediaTimeout: 15000, // a WHIP/WHEP PeerConnection must connect within this
  subscribeTimeout: 15000 // subscribe retries while the stream is announced but not live yet (432)
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function globalOf(name) {
  return typeof globalThis !== 'undefined' ? globalThis[name] : undefined;
}

function runtimeOf(o) {
  const f = o.fetch || globalOf('fetch');
  return {
    fetch: f ? (...a) => f.apply(o.fetch ? undefined : globalThis, a) : null,
    WebSocket: o.WebSocket || globalOf('WebSocket'),
    RTCPeerConnection: o.RTCPeerConnection || globalOf('RTCPeerConnection'),
    MediaStream: o.MediaStream || globalOf('MediaStream'),
    sendCaps: o.RTCRtpSender || globalOf('RTCRtpSender'),
    recvCaps: o.RTCRtpReceiver || globalOf('RTCRtpReceiver')
  };
}

/** Keeps only acceptable H.264 on a video transceiver, where the browser can. */
function preferH264(transceiver, capsOwner) {
  if (!transceiver.setCodecPreferences || !capsOwner || typeof capsOwner.getCapabilities !== 'function') return;
  const caps = capsOwner.getCapabilities('video');
  const list = h264Preferences(caps && caps.codecs);
  if (list.length) transceiver.setCodecPreferences(list);
}

export class Client {
  /**
   * @param {object} options apUrl (required), servers, mediaUrl, iceServers,
   *   timeouts (see DEFAULTS), and for tests: fetch, WebSocket,
   *   RTCPeerConnection, MediaStream, RTCRtpSender, RTCRtpReceiver, random.
   */
  constructor(options) {
    const o = options || {};
    if (typeof o.apUrl !== 'string' || !/^https?:\/\//i.test(o.apUrl)) {
      throw badRequest('Client: options.apUrl is required, e.g. "https://rtc.example.com/api/v1"');
    }
    if (o.servers !== undefined && (!Array.isArray(o.servers) || o.servers.length === 0 ||
        o.servers.some((s) => typeof s !== 'string' || !/^wss?:\/\//i.test(s)))) {
      throw badRequest('Client: options.servers must be a non-empty array of ws:// or wss:// URLs');
    }
    if (o.mediaUrl !== undefined && (typeof o.mediaUrl !== 'string' || !/^https?:\/\//i.test(o.mediaUrl))) {
      throw badRequest('Client: options.mediaUrl must be an http(s) URL (where /whip and /whep are served)');
    }
    this._opts = {
      apUrl: o.apUrl,
      servers: o.servers ? o.servers.slice() : [defaultServer(o.apUrl)],
      mediaUrl: (o.mediaUrl || origin(o.apUrl)).replace(/\/+$/, ''),
      iceServers: Array.isArray(o.iceServers) ? o.iceServers : []
    };
    const timing = {};
    for (const k of Object.keys(DEFAULTS)) {
      timing[k] = typeof o[k] === 'number' && o[k] >= 0 ? o[k] : DEFAULTS[k];
    }
    this._timing = timing;
    this._rt = runtimeOf(o);
    this._random = typeof o.random === 'function' ? o.random : Math.random;
    this._events = new Emitter(log);
    this._appId = null;
    this._role = 'broadcaster';
    this._session = null;
    this._joining = null;
    this._join = null; // {key, channel, uid}
    this._uid = null;
    this._destroyed = false;
    this._resetMedia();
    log.info('minirtc web SDK', SDK_VERSION, 'client created for', o.apUrl);
  }

  _resetMedia() {
    this._pub = null; // {pc, location, tracks, stream, closed}
    this._subs = new Map(); // uid -> {uid, pc, location, stream, cancelled, options}
    this._localMute = { audio: false, video: false };
    this._remoteMute = new Map(); // uid -> {audio, video}
  }

  /** The uid the client joined with (null before join). */
  get uid() {
    return this._uid;
  }

  // ---- events ----------------------------------------------------------

  on(event, callback) {
    this._events.on(event, callback);
  }

  off(event, callback) {
    this._events.off(event, callback);
  }

  /**
   * Whether the gateway WebSocket is open (joined or joining), like the
   * mini program SDK's isConnected.
   */
  isConnected() {
    return !this._destroyed && !!this._session && this._session.isOpen();
  }

  /** Calls the listeners of event, then the on('*', fn) listeners with (event, payload). */
  _emit(event, payload) {
    this._events.emit(event, payload);
  }

  // ---- helpers -----------------------------------------------------------

  _alive() {
    if (this._destroyed) throw badRequest('the Client was destroyed: create a new one');
  }

  /** Waits for a join in flight; the joined session, or a MiniRTCError. */
  async _ready() {
    this._alive();
    if (this._joining) await this._joining.catch(() => {});
    const s = this._session;
    if (s && s.joined) return s;
    if (s) throw fail(CODES.DISCONNECTED, 'websocket disconnected');
    throw badRequest('join() a channel first');
  }

  async _request(req) {
    const s = await this._ready();
    return s.request(req);
  }

  _needWebRTC() {
    if (typeof this._rt.RTCPeerConnection !== 'function') {
      throw badRequest('this browser has no WebRTC (RTCPeerConnection)');
    }
    if (typeof this._rt.fetch !== 'function') throw badRequest('this browser has no fetch()');
  }

  _mediaPath(kind, uid) {
    const o = this._opts;
    return `${o.mediaUrl}/${kind}/${encodeURIComponent(this._appId)}/${encodeURIComponent(this._join.channel)}/${uid}`;
  }

  _newPC() {
    return new this._rt.RTCPeerConnection({ iceServers: this._opts.iceServers, bundlePolicy: 'max-bundle' });
  }

  // ---- init / role / join / leave ---------------------------------------------

  async init(appId) {
    this._alive();
    this._appId = checkAppId(appId);
  }

  async setRole(role) {
    this._alive();
    checkRole(role);
    if (!this._joining && !(this._session && this._session.joined)) {
      this._role = role;
      return;
    }
    if (role === 'audience' && this._pub) await this.unpublish();
    await this._request({ action: 'set_role', role });
    this._role = role;
  }

  /** Joins channel as uid (a falsy uid: a random one); resolves the uid. */
  async join(token, channel, uid) {
    this._alive();
    if (this._appId === null) throw badRequest('call init(appId) before join()');
    const key = checkKey(token, this._appId);
    checkChannel(channel);
    const uidStr = checkJoinUid(uid, this._random);
    if (this._joining) return this._joining;
    if (this._session && this._session.joined) return this._uid;
    const nav = globalOf('navigator');
    const session = createSession({
      appId: this._appId,
      channel,
      uid: uidStr,
      key,
      role: this._role,
      apUrl: this._opts.apUrl,
      servers: this._opts.servers,
      runtime: this._rt,
      timing: this._timing,
      random: this._random,
      device: nav && nav.userAgent ? String(nav.userAgent).slice(0, 120) : '',
      os: nav && nav.platform ? String(nav.platform) : '',
      handlers: {
        onPush: (st) => { if (this._session === session) this._onPush(st); },
        onServerError: (e) => { if (this._session === session) this._emit('error', { code: e.code, reason: e.reason }); },
        onClosed: (info) => { if (this._session === session) this._onClosed(info); }
      }
    });
    if (typeof this._rt.WebSocket !== 'function' || typeof this._rt.fetch !== 'function') {
      throw badRequest('this browser has no WebSocket or fetch()');
    }
    if (this._session) this._session.close();
    this._session = session;
    // A join after a lost connection (904) starts over: the old WHIP/WHEP
    // sessions end first (DELETE with the old token).
    const cleanup = this._closeAllMedia();
    const joining = cleanup.then(() => {
      this._join = { key, channel, uid: uidStr };
      this._resetMedia();
      return session.start();
    }).then((u) => {
      this._uid = u;
      return u;
    });
    this._joining = joining;
    const clear = () => { if (this._joining === joining) this._joining = null; };
    joining.then(clear, clear);
    try {
      return await joining;
    } catch (e) {
      if (this._session === session) this._session = null;
      throw asError(e);
    }
  }

  /** Ends publishing and every subscription, sends leave and closes the socket. */
  async leave() {
    if (this._joining) await this._joining.catch(() => {});
    await this._closeAllMedia();
    const s = this._session;
    if (s && s.joined) {
      try {
        await s.request({ action: 'leave', uid: this._uid });
      } catch (e) {
        log.warn('leave request failed (closing anyway):', e && e.reason);
      }
    }
    if (s) s.close();
    if (this._session === s) this._session = null;
    this._resetMedia();
  }

  async destroy() {
    if (this._destroyed) return;
    await this.leave();
    this._destroyed = true;
    this._events.clear();
  }

  async renewToken(token) {
    checkToken(token);
    await this._request({ action: 'update_key', key_vos: token });
    if (this._join) this._join.key = token;
  }

  // ---- publish ------------------------------------------------------------------

  /**
   * Publishes the first audio and video track of stream with WHIP as the
   * joined uid, H.264 + Opus only. Resolves when the connection is up.
   */
  async publish(stream) {
    const tracks = checkStream(stream);
    await this._ready();
    this._needWebRTC();
    if (this._role !== 'broadcaster') {
      throw fail(CODES.REFUSED, 'no authorized: audience cannot publish; call setRole("broadcaster") first');
    }
    if (this._pub) await this._closePublish(this._pub);
    const pub = { pc: null, location: null, tracks, stream, closed: false };
    this._pub = pub;
    const t = this._timing;
    try {
      const pc = pub.pc = this._newPC();
      if (tracks.audio) pc.addTransceiver(tracks.audio, { direction: 'sendonly', streams: [stream] });
      if (tracks.video) preferH264(pc.addTransceiver(tracks.video, { direction: 'sendonly', streams: [stream] }), this._rt.sendCaps);
      const offer = await pc.createOffer();
      await pc.setLocalDescription({ type: 'offer', sdp: forceCodecs(offer.sdp) });
      await waitGathering(pc, t.gatherTimeout);
      const { answer, location } = await postOffer(this._rt.fetch, this._mediaPath('whip', this._uid), this._join.key,
        pc.localDescription.sdp, 'WHIP', t.requestTimeout);
      pub.location = location;
      if (pub.closed) throw fail(CODES.NOT_PUBLISHING, 'not publishing: unpublish() or leave() was called meanwhile');
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      const codecs = negotiated(answer);
      if (tracks.video && codecs.video !== 'h264') {
        throw fail(CODES.BAD_REQUEST, 'codec not acceptable: the server answered video with ' + (codecs.video || 'nothing') + ', not H.264');
      }
      await waitConnected(pc, t.mediaTimeout, 'publish');
      if (pub.closed) throw fail(CODES.NOT_PUBLISHING, 'not publishing: unpublish() or leave() was called meanwhile');
      this._applyLocalMute();
      pc.addEventListener('connectionstatechange', () => {
        if (this._pub === pub && (pc.connectionState === 'failed' || pc.connectionState === 'closed')) {
          this._emit('error', { code: CODES.SERVICE_LOST, reason: 'service lost: the publish WebRTC connection ' + pc.connectionState, uid: this._uid });
        }
      });
      log.info('publishing as', this._uid, 'via', location);
    } catch (e) {
      if (this._pub === pub) this._pub = null;
      await this._closePublish(pub);
      throw asError(e);
    }
  }

  /** Stops publishing (DELETE of the WHIP session: stream-removed for the others). */
  async unpublish() {
    this._alive();
    const pub = this._pub;
    this._pub = null;
    if (pub) await this._closePublish(pub);
  }

  async _closePublish(pub) {
    if (this._pub === pub) this._pub = null;
    pub.closed = true;
    const loc = pub.location;
    pub.location = null;
    if (pub.pc) {
      try { pub.pc.close(); } catch (e) { /* ignore */ }
    }
    if (loc) await deleteSession(this._rt.fetch, loc, this._join ? this._join.key : '');
  }

  _applyLocalMute() {
    const pub = this._pub;
    if (!pub) return;
    if (pub.tracks.audio) pub.tracks.audio.enabled = !this._localMute.audio;
    if (pub.tracks.video) pub.tracks.video.enabled = !this._localMute.video;
  }

  // ---- subscribe ----------------------------------------------------------------------

  /**
   * Plays uid's stream with WHEP; resolves a MediaStream. A stream announced
   * by stream-added before its media arrives is retried (432) until
   * subscribeTimeout.
   */
  async subscribe(uid, options) {
    checkRemoteUid(uid);
    const opt = checkSubscribeOptions(options);
    await this._ready();
    this._needWebRTC();
    if (typeof this._rt.MediaStream !== 'function') throw badRequest('this browser has no MediaStream');
    const old = this._subs.get(uid);
    if (old) await this._closeSub(old);
    const sub = { uid, pc: null, location: null, stream: new this._rt.MediaStream(), cancelled: false, options: opt };
    this._subs.set(uid, sub);
    const deadline = Date.now() + this._timing.subscribeTimeout;
    let delay = 250;
    for (;;) {
      try {
        await this._whep(sub);
        if (sub.cancelled) throw fail(CODES.NOT_PUBLISHING, `not found: the subscription to uid ${uid} ended (unsubscribe, stream-removed or leave)`);
        this._applyRemoteMute(uid);
        return sub.stream;
      } catch (e) {
        const err = asError(e);
        const loc = sub.location;
        sub.location = null;
        if (sub.pc) {
          try { sub.pc.close(); } catch (x) { /* ignore */ }
        }
        if (loc) await deleteSession(this._rt.fetch, loc, this._join ? this._join.key : '');
        const retry = err.code === CODES.NOT_PUBLISHING && !sub.cancelled && Date.now() + delay < deadline;
        if (!retry) {
          if (this._subs.get(uid) === sub) this._subs.delete(uid);
          for (const tr of sub.stream.getTracks()) sub.stream.removeTrack(tr);
          throw err;
        }
        log.debug('uid', uid, 'not live yet; retrying WHEP in', delay, 'ms');
        await sleep(delay);
        delay = Math.min(2 * delay, 2000);
      }
    }
  }

  async _whep(sub) {
    const t = this._timing;
    const pc = this._newPC();
    sub.pc = pc;
    pc.addEventListener('track', (ev) => {
      if (sub.pc !== pc) return;
      for (const old of sub.stream.getTracks()) {
        if (old.kind === ev.track.kind) sub.stream.removeTrack(old);
      }
      sub.stream.addTrack(ev.track);
    });
    if (sub.options.video) preferH264(pc.addTransceiver('video', { direction: 'recvonly' }), this._rt.recvCaps);
    if (sub.options.audio) pc.addTransceiver('audio', { direction: 'recvonly' });
    const offer = await pc.createOffer();
    await pc.setLocalDescription({ type: 'offer', sdp: forceCodecs(offer.sdp) });
    await waitGathering(pc, t.gatherTimeout);
    if (sub.cancelled) throw fail(CODES.NOT_PUBLISHING, `not found: the subscription to uid ${sub.uid} ended`);
    const url = this._mediaPath('whep', sub.uid) + '?uid=' + this._uid;
    const { answer, location } = await postOffer(this._rt.fetch, url, this._join.key, pc.localDescription.sdp, 'WHEP', t.requestTimeout);
    sub.location = location;
    if (sub.cancelled) throw fail(CODES.NOT_PUBLISHING, `not found: the subscription to uid ${sub.uid} ended`);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await waitConnected(pc, t.mediaTimeout, 'subscribe');
    pc.addEventListener('connectionstatechange', () => {
      if (sub.pc === pc && this._subs.get(sub.uid) === sub && (pc.connectionState === 'failed' || pc.connectionState === 'closed')) {
        this._emit('error', { code: CODES.SERVICE_LOST, reason: `service lost: the WebRTC connection playing uid ${sub.uid} ${pc.connectionState}`, uid: sub.uid });
      }
    });
    log.info('playing uid', sub.uid, 'via', location);
  }

  async unsubscribe(uid) {
    checkRemoteUid(uid);
    this._alive();
    const sub = this._subs.get(uid);
    if (sub) await this._closeSub(sub);
  }

  async _closeSub(sub) {
    sub.cancelled = true;
    if (this._subs.get(sub.uid) === sub) this._subs.delete(sub.uid);
    const loc = sub.location;
    sub.location = null;
    if (sub.pc) {
      try { sub.pc.close(); } catch (e) { /* ignore */ }
    }
    for (const tr of sub.stream.getTracks()) {
      try { tr.stop(); } catch (e) { /* ignore */ }
    }
    if (loc) await deleteSession(this._rt.fetch, loc, this._join ? this._join.key : '');
  }

  async _closeAllMedia() {
    const jobs = [];
    if (this._pub) jobs.push(this._closePublish(this._pub));
    for (const sub of Array.from(this._subs.values())) jobs.push(this._closeSub(sub));
    await Promise.all(jobs);
  }

  // ---- mute -----------------------------------------------------------------------------

  async muteLocal(target) {
    return this._muteLocal(target, true);
  }

  async unmuteLocal(target) {
    return this._muteLocal(target, false);
  }

  async _muteLocal(target, mute) {
    checkTarget(target);
    const s = await this._ready();
    if (target !== 'video') this._localMute.audio = mute;
    if (target !== 'audio') this._localMute.video = mute;
    this._applyLocalMute();
    await s.request({ action: 'mute_local', uid: this._uid, target, mute });
  }

  async mute(uid, target) {
    return this._mute('mute', uid, target);
  }

  async unmute(uid, target) {
    return this._mute('unmute', uid, target);
  }

  async _mute(action, uid, target) {
    checkRemoteUid(uid);
    checkTarget(target);
    const s = await this._ready();
    const m = this._remoteMute.get(uid) || { audio: false, video: false };
    if (target !== 'video') m.audio = action === 'mute';
    if (target !== 'audio') m.video = action === 'mute';
    this._remoteMute.set(uid, m);
    this._applyRemoteMute(uid);
    await s.request({ action, uid, target });
  }

  _applyRemoteMute(uid) {
    const sub = this._subs.get(uid);
    const m = this._remoteMute.get(uid);
    if (!sub || !m) return;
    for (const tr of sub.stream.getTracks()) tr.enabled = !(tr.kind === 'audio' ? m.audio : m.video);
  }

  // ---- stats ----------------------------------------------------------------------------

  /**
   * The RTCStatsReport of the subscription to uid, or of the own publication
   * when uid is omitted; null when there is none.
   */
  async getStats(uid) {
    const pc = uid === undefined || uid === null || uid === this._uid
      ? (this._pub && this._pub.pc)
      : (this._subs.get(uid) && this._subs.get(uid).pc);
    return pc ? pc.getStats() : null;
  }

  // ---- server pushes ------------------------------------------------------------------------

  _onPush(st) {
    const uid = st.uid;
    switch (st.action) {
      case 'stream-added':
        this._emit('stream-added', st);
        return;
      case 'stream-removed': {
        const sub = this._subs.get(uid);
        if (sub) this._closeSub(sub).catch(() => {});
        this._remoteMute.delete(uid);
        this._emit('stream-removed', st);
        return;
      }
      case 'update-url':
        this._emit('update-url', st);
        return;
      case 'video-rotation':
        this._emit('video-rotation', st);
        return;
      case 'audio-mute':
        this._emit(st.mute ? 'mute-audio' : 'unmute-audio', { uid });
        return;
      case 'video-mute':
        this._emit(st.mute ? 'mute-video' : 'unmute-video', { uid });
        return;
      case 'key-will-expire':
        this._emit('token-privilege-will-expire');
        return;
      case 'key-expired':
        this._emit('token-privilege-did-expire');
        return;
      case 'client-is-banned-by-server':
        this._emit('client-banned');
        return;
      default:
        if (typeof st.action === 'string' && st.action) this._emit(st.action, st);
    }
  }

  _onClosed(info) {
    if (!info.abnormal) return; // a terminal close: its push explained it
    if (this._joining) return; // the join itself fails
    this._emit('error', { code: CODES.DISCONNECTED, reason: 'websocket disconnected' });
  }
}
