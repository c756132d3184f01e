// Local checks of API arguments: the rules of the mini program SDK
// (docs/protocol.md section 8) with catalogue codes, so that every
// failure, local or remote, is a MiniRTCError {code, reason}.

import { CODES, fail, badRequest } from './errors.js';
import { MAX_UID, origin, defaultServer, newSid } from '../../core/util.js';

export { MAX_UID, origin, defaultServer, newSid };

function isNullString(s) {
  return typeof s === 'string' && s.trim().toLowerCase() === 'null';
}

/** The appId given to init: a non-empty string, not "null"; trimmed. */
export function checkAppId(appId) {
  if (typeof appId !== 'string' || appId.trim() === '' || isNullString(appId)) {
    throw badRequest('invalid appId: init() needs the app id as a non-empty string');
  }
  return appId.trim();
}

/** The token given to join: falsy means "no token" (the appId is sent). */
export function checkKey(key, appId) {
  if (!key) return appId;
  if (typeof key !== 'string' || isNullString(key)) {
    throw fail(CODES.VENDOR_KEY, 'invalid key: the token must be a string (or empty for development apps)');
  }
  return key;
}

export function checkChannel(channel) {
  if (typeof channel !== 'string' || channel === '' || isNullString(channel) || channel.length > 128) {
    throw fail(CODES.BAD_REQUEST, 'invalid channel name: a non-empty string of at most 128 characters, not "null"');
  }
  return channel;
}

export function checkRole(role) {
  if (role !== 'broadcaster' && role !== 'audience') {
    throw fail(CODES.BAD_ROLE, 'invalid role: "broadcaster" or "audience" (got ' + JSON.stringify(role) + ')');
  }
  return role;
}

/**
 * The uid to join with, as the decimal string sent in join: a falsy uid
 * becomes a random one below 10^7; numbers and numeric strings must be
 * whole numbers in 1..4294967295 (string accounts are not supported).
 */
export function checkJoinUid(uid, random) {
  if (uid === undefined || uid === null || uid === 0 || uid === '') {
    return String(1 + Math.floor(random() * 9999998));
  }
  let n = NaN;
  if (typeof uid === 'number') n = uid;
  else if (typeof uid === 'string' && /^[0-9]{1,10}$/.test(uid.trim())) n = Number(uid.trim());
  if (!Number.isInteger(n) || n < 1 || n > MAX_UID) {
    throw fail(CODES.BAD_REQUEST, 'invalid uid: a whole number in 1..4294967295 (got ' + JSON.stringify(uid) + ')');
  }
  return String(n);
}

/** A remote uid (subscribe, mute, …): a number in uint32 range. */
export function checkRemoteUid(uid) {
  if (typeof uid !== 'number' || !Number.isInteger(uid) || uid < 0 || uid > MAX_UID) {
    throw fail(CODES.BAD_REQUEST, 'invalid uid: a number in 0..4294967295 (got ' + JSON.stringify(uid) + ')');
  }
  return uid;
}

export function checkTarget(target) {
  if (target !== 'audio' && target !== 'video' && target !== 'all') {
    throw badRequest('target must be "audio", "video" or "all" (got ' + JSON.stringify(target) + ')');
  }
  return target;
}

export function checkToken(token) {
  if (typeof token !== 'string' || token === '' || isNullString(token)) {
    throw fail(CODES.VENDOR_KEY, 'invalid key: renewToken() needs the new token as a non-empty string');
  }
  return token;
}

/** The tracks publish() sends: the first audio and the first video track. */
export function checkStream(stream) {
  if (!stream || typeof stream.getTracks !== 'function') {
    throw badRequest('publish() needs a MediaStream (e.g. from getUserMedia)');
  }
  const tracks = stream.getTracks();
  const audio = tracks.find((t) => t.kind === 'audio' && t.readyState !== 'ended') || null;
  const video = tracks.find((t) => t.kind === 'video' && t.readyState !== 'ended') || null;
  if (!audio && !video) throw badRequest('the MediaStream has no live audio or video track');
  return { audio, video };
}

export function checkSubscribeOptions(options) {
  if (options === undefined || options === null) return { audio: true, video: true };
  if (typeof options !== 'object') throw badRequest('subscribe options must be an object {audio, video}');
  const o = { audio: options.audio !== false, video: options.video !== false };
  if (!o.audio && !o.video) throw badRequest('subscribe options: audio and video cannot both be false');
  return o;
}
