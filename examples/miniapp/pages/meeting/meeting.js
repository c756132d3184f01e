// Meeting page: one <live-pusher> (speakers) and up to six <live-player>s.
// Connection recovery is the SDK's job (autoRejoin): this page only applies
// the URLs it is given (update-url) and shows what is going on.
const MiniRTC = require('../../lib/minirtc-miniapp-sdk.js');
const config = require('../../config.js');
const { layout } = require('../../utils/layout.js');
const { fetchToken } = require('../../utils/token.js');

const app = getApp();
const MAX_PLAYERS = 6;
const TOOLBAR_HEIGHT = 64;

MiniRTC.LOG.setLogLevel(1);

/**
 * @typedef {{key: number, uid: number, url: string, orientation: string, audioMuted: boolean, videoMuted: boolean,
 *   left: number, top: number, width: number, height: number}} Tile
 */

/** @type {MiniRTC.Client | null} */
let client = null;

Page({
  data: {
    channel: '',
    uid: 0,
    broadcaster: true,
    /** @type {Tile | null} */
    pusher: null,
    /** the pusher as a list of 0 or 1 (a new key remounts <live-pusher>) */
    /** @type {Tile[]} */
    pushers: [],
    /** @type {Tile[]} */
    players: [],
    muted: false,
    cameraOff: false,
    status: '',
    waitingImage: config.WAITING_IMAGE
  },

  /** @param {{channel?: string, role?: string}} options */
  onLoad(options) {
    this.channel = decodeURIComponent(options.channel || 'test');
    this.role = options.role === 'audience' ? 'audience' : 'broadcaster';
    this.uid = app.globalData.uid;
    this.leaving = false;
    this.hidden = false;
    /** @type {number[]} streams waiting for a free tile */
    this.queue = [];
    this.setData({ channel: this.channel, uid: this.uid, broadcaster: this.role === 'broadcaster' });
    wx.setNavigationBarTitle({ title: this.channel + ' (' + this.uid + ')' });
    wx.setKeepScreenOn({ keepScreenOn: true });
  },

  onReady() {
    this.start().catch((e) => {
      this.fatal('Could not join: ' + describe(e));
    });
  },

  onShow() {
    if (!this.hidden) return;
    this.hidden = false;
    // players are paused in the background: start them again
    for (const p of this.data.players) {
      wx.createLivePlayerContext('player-' + p.uid, this).play();
    }
  },

  onHide() {
    // The pusher keeps sending WAITING_IMAGE (waiting-image) with its audio
    // muted (background-mute) for a few minutes; if WeChat cuts the
    // connection meanwhile, the SDK rejoins on its own when we are back.
    this.hidden = true;
  },

  onUnload() {
    this.leaving = true;
    const c = client;
    client = null;
    if (c) c.destroy().catch(() => undefined);
  },

  async start() {
    const c = new MiniRTC.Client({
      apUrl: config.AP_URL,
      servers: config.SERVERS,
      autoRejoin: true,
      flv: config.FLV
    });
    client = c;
    this.subscribeEvents(c);
    await c.init(config.APP_ID);
    await c.setRole(this.role === 'audience' ? 'audience' : 'broadcaster');
    const token = await fetchToken(this.channel, this.uid);
    await c.join(token, this.channel, this.uid);
    if (this.role === 'broadcaster') {
      const url = await c.publish();
      this.setPusher(url);
    }
  },

  /** @param {MiniRTC.Client} c */
  subscribeEvents(c) {
    c.on('stream-added', (e) => {
      this.addStream(e.uid);
    });
    c.on('stream-removed', (e) => {
      this.removeStream(e.uid);
    });
    c.on('update-url', (e) => {
      // after a recovery (or a URL refresh): new push or play URL
      if (e.uid === this.uid) this.setPusher(e.url);
      else this.updatePlayer(e.uid, { url: e.url, key: Date.now() });
    });
    c.on('video-rotation', (e) => {
      this.updatePlayer(e.uid, { orientation: e.rotation === 90 || e.rotation === 270 ? 'horizontal' : 'vertical' });
    });
    c.on('mute-audio', (e) => this.updatePlayer(e.uid, { audioMuted: true }));
    c.on('unmute-audio', (e) => this.updatePlayer(e.uid, { audioMuted: false }));
    c.on('mute-video', (e) => this.updatePlayer(e.uid, { videoMuted: true }));
    c.on('unmute-video', (e) => this.updatePlayer(e.uid, { videoMuted: false }));
    c.on('reconnecting', (e) => {
      this.setData({ status: 'Reconnecting (' + e.attempt + ')…' });
    });
    c.on('reconnected', () => {
      this.setData({ status: '' });
      wx.showToast({ title: 'Reconnected', icon: 'none' });
    });
    c.on('token-privilege-will-expire', () => {
      fetchToken(this.channel, this.uid)
        .then((token) => (token && client ? client.renewToken(token) : undefined))
        .catch((e) => console.warn('token renewal failed', e));
    });
    c.on('token-privilege-did-expire', () => this.fatal('Your session expired.'));
    c.on('client-banned', () => this.fatal('You were removed from the meeting.'));
    c.on('error', (e) => {
      // with autoRejoin, 904/501 only arrive here when recovery gave up
      this.fatal('Disconnected (' + e.code + '): ' + e.reason);
    });
  },

  /** @param {number} uid */
  async addStream(uid) {
    if (!client) return;
    if (this.data.players.some((p) => p.uid === uid)) {
      // announced again (e.g. after the publisher rejoined): refresh the URL
      const again = await client.subscribe(uid);
      this.updatePlayer(uid, { url: again.url, key: Date.now() });
      return;
    }
    if (this.data.players.length >= MAX_PLAYERS) {
      if (this.queue.indexOf(uid) < 0) this.queue.push(uid);
      return;
    }
    const { url, rotation } = await client.subscribe(uid);
    /** @type {Tile} */
    const tile = {
      key: Date.now(),
      uid,
      url,
      orientation: rotation === 90 || rotation === 270 ? 'horizontal' : 'vertical',
      audioMuted: false,
      videoMuted: false,
      left: 0,
      top: 0,
      width: 0,
      height: 0
    };
    this.relayout(this.data.pusher, this.data.players.concat([tile]));
  },

  /** @param {number} uid */
  removeStream(uid) {
    this.queue = this.queue.filter((u) => u !== uid);
    const players = this.data.players.filter((p) => p.uid !== uid);
    if (players.length === this.data.players.length) return;
    this.relayout(this.data.pusher, players);
    const next = this.queue.shift();
    if (next !== undefined) this.addStream(next);
  },

  /**
   * @param {number} uid
   * @param {Partial<Tile>} changes
   */
  updatePlayer(uid, changes) {
    const players = this.data.players.map((p) => (p.uid === uid ? Object.assign({}, p, changes) : p));
    this.setData({ players });
  },

  /** @param {string} url */
  setPusher(url) {
    const base = this.data.pusher || { key: 0, uid: this.uid, url: '', orientation: 'vertical', audioMuted: false, videoMuted: false, left: 0, top: 0, width: 0, height: 0 };
    // a new key remounts <live-pusher> so it connects to the new URL
    this.relayout(Object.assign({}, base, { url, key: Date.now() }), this.data.players);
  },

  /**
   * @param {Tile | null} pusher
   * @param {Tile[]} players
   */
  relayout(pusher, players) {
    const info = app.globalData.systemInfo || wx.getSystemInfoSync();
    const tiles = layout((pusher ? 1 : 0) + players.length, info.windowWidth, info.windowHeight - TOOLBAR_HEIGHT);
    let i = 0;
    const place = (/** @type {Tile} */ t) => Object.assign({}, t, tiles[i++]);
    const placed = pusher ? place(pusher) : null;
    this.setData({ pusher: placed, pushers: placed ? [placed] : [], players: players.map(place) });
  },

  async onMute() {
    if (!client) return;
    const muted = !this.data.muted;
    if (muted) await client.muteLocal('audio');
    else await client.unmuteLocal('audio');
    this.setData({ muted });
  },

  async onCamera() {
    if (!client) return;
    const cameraOff = !this.data.cameraOff;
    if (cameraOff) await client.muteLocal('video');
    else await client.unmuteLocal('video');
    this.setData({ cameraOff });
  },

  onSwitchCamera() {
    wx.createLivePusherContext().switchCamera({});
  },

  onLeave() {
    if (this.leaving) return;
    this.leaving = true;
    wx.navigateBack({ fail: () => wx.redirectTo({ url: '../index/index' }) });
  },

  /** @param {string} message */
  fatal(message) {
    if (this.leaving) return;
    wx.showModal({
      title: 'Meeting ended',
      content: message,
      showCancel: false,
      complete: () => this.onLeave()
    });
  },

  // ---- component events: forwarded to minirtc (and acted on when fatal) ----

  /** @param {{detail: {code: number, message: string}}} e */
  onPusherState(e) {
    if (client) client.updatePusherStateChange(e.detail);
    if (e.detail.code === -1307 && this.data.pusher) {
      // the pusher gave up reconnecting: remount it on the same URL
      this.setPusher(this.data.pusher.url);
    }
  },

  /** @param {{detail: {info: Object<string, number>}}} e */
  onPusherNet(e) {
    if (client) client.updatePusherNetStatus(e.detail);
  },

  /** @param {{detail: {errCode: number, errMsg: string}}} e */
  onPusherError(e) {
    if (e.detail.errCode === 10001 || e.detail.errCode === 10002) {
      this.fatal('Camera and microphone permission is needed to speak.');
    }
  },

  /** @param {{detail: {code: number, message: string}, currentTarget: {dataset: {uid: number}}}} e */
  onPlayerState(e) {
    const uid = Number(e.currentTarget.dataset.uid);
    if (client) client.updatePlayerStateChange(uid, e.detail);
    if (e.detail.code === -2301) {
      // the player gave up: remount it
      this.updatePlayer(uid, { key: Date.now() });
    }
  },

  /** @param {{detail: {info: Object<string, number>}, currentTarget: {dataset: {uid: number}}}} e */
  onPlayerNet(e) {
    if (client) client.updatePlayerNetStatus(Number(e.currentTarget.dataset.uid), e.detail);
  }
});

/** @param {any} e */
function describe(e) {
  if (!e) return 'unknown error';
  if (e.code !== undefined) return e.code + ' ' + e.reason;
  return e.message || String(e);
}
