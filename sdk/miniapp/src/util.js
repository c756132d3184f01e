'use strict';
// Argument parsing and the local validation rules of the Agora Miniapp SDK
// 2.6.4 (docs/protocol.md section 8). Local failures are Error objects
// with the same messages; server and network failures are plain objects
// {code, reason, ...}, as in the Agora SDK.

var core = require('../../core/util.js');

var MAX_UID = core.MAX_UID;

/** Error codes (the generated catalogue's, shared with the web SDK). */
var CODES = require('../../core/codes.js').CODES;

function fail(code, reason, extra) {
  var e = { code: code, reason: reason };
  if (extra) {
    for (var k in extra) {
      if (Object.prototype.hasOwnProperty.call(extra, k)) e[k] = extra[k];
    }
  }
  return e;
}

/**
 * Splits trailing arguments into plain values and the (onSuccess, onFailure)
 * callbacks: the first function is onSuccess, the next onFailure; values
 * before the first function fill the optional parameters in order. So both
 * join(key, ch, uid, onSuccess, onFailure) and
 * join(key, ch, uid, isAudioOnly, uidType, onSuccess, onFailure) work.
 */
function splitArgs(args, from) {
  var values = [];
  var fns = [];
  for (var i = from; i < args.length; i++) {
    if (typeof args[i] === 'function') fns.push(args[i]);
    else if (fns.length === 0) values.push(args[i]);
  }
  return { values: values, onSuccess: fns[0], onFailure: fns[1] };
}

/**
 * Runs the legacy callbacks when p settles and returns p. With an onFailure
 * callback the rejection counts as handled (callback-style apps never touch
 * the promise); the promise still rejects for whoever awaits it.
 * onSuccessArgs maps the resolved value to the callback's arguments.
 */
function settle(p, onSuccess, onFailure, onSuccessArgs) {
  p.then(function (v) {
    if (typeof onSuccess === 'function') {
      onSuccess.apply(null, onSuccessArgs ? onSuccessArgs(v) : [v]);
    }
  }, function (e) {
    if (typeof onFailure === 'function') onFailure(e);
  });
  return p;
}

function isNullString(s) {
  return typeof s === 'string' && s.toLowerCase() === 'null';
}

function checkAppId(appId) {
  if (typeof appId !== 'string' || appId.trim() === '' || isNullString(appId.trim())) {
    throw new Error('Invalid appId');
  }
  return appId.trim();
}

function checkKey(key, appId) {
  if (!key) return appId;
  if (typeof key !== 'string' || key === 'null') throw new Error('Invalid channelKey');
  return key;
}

function checkChannel(channel) {
  if (typeof channel !== 'string' || channel === '' || channel === 'null' || channel.length > 128) {
    throw new Error('Invalid channel name');
  }
  return channel;
}

function checkRole(role) {
  if (role !== 'broadcaster' && role !== 'audience') throw new Error('Invalid role');
  return role;
}

function checkAudioOnly(v) {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new Error('Invalid isAudioOnly');
  return v;
}

function checkUidType(v) {
  if (v === undefined || v === null) return 0;
  // compared loosely, like the Agora SDK: 1 and "1" mean a string account
  // eslint-disable-next-line eqeqeq
  return v == 1 ? 1 : 0;
}

/**
 * The Error of a join uid that is not a whole number in 1..4294967295: the
 * Agora SDK's message, plus the catalogue's code and reason (error-codes.md,
 * 430 invalid uid), which the server would answer.
 */
function invalidUid(uid) {
  var e = new Error('Invalid uid type');
  var shown;
  try {
    shown = JSON.stringify(uid);
  } catch (err) {
    shown = undefined;
  }
  e.code = 430;
  e.reason = 'invalid uid: a whole number in 1..4294967295 (got ' + (shown === undefined ? String(uid) : shown) + ')';
  return e;
}

/**
 * Returns the uid as the string sent in join: the account for uidType 1, else
 * a decimal uint32 (a falsy uid becomes a random one below 10^7). Unlike the
 * Agora SDK, which parseInt()s it (1.5 and "12abc" joined as 1 and 12, and
 * then failed at the server with a misleading 401 for a token made for the
 * uid the app meant), a number must be a whole number and a string only
 * decimal digits.
 */
function checkJoinUid(uid, uidType, random) {
  if (uidType === 1) {
    if (typeof uid !== 'string' || uid.trim() === '') throw new Error('uid empty');
    return uid;
  }
  if (!uid) uid = 1 + Math.floor(random() * 9999998);
  var n = NaN;
  if (typeof uid === 'number') n = uid;
  else if (typeof uid === 'string' && /^[0-9]{1,10}$/.test(uid.trim())) n = Number(uid.trim());
  if (!isFinite(n) || Math.floor(n) !== n || n < 1 || n > MAX_UID) throw invalidUid(uid);
  return String(n);
}

/** A remote uid given to subscribe, mute, …: a number in uint32 range. */
function checkRemoteUid(uid) {
  if (typeof uid !== 'number' || !isFinite(uid) || Math.floor(uid) !== uid || uid < 0 || uid > MAX_UID) {
    throw new Error('Invalid uid type');
  }
  return uid;
}

function checkTarget(target) {
  if (target !== 'audio' && target !== 'video' && target !== 'all') throw new Error('Invalid target');
  return target;
}

function checkStreamType(type) {
  if (type !== 0 && type !== 1) throw new Error('Invalid stream type');
  return type;
}

function checkToken(token) {
  if (typeof token !== 'string' || token === '' || token === 'null') throw new Error('Invalid token');
  return token;
}

module.exports = {
  CODES: CODES,
  MAX_UID: MAX_UID,
  fail: fail,
  splitArgs: splitArgs,
  settle: settle,
  checkAppId: checkAppId,
  checkKey: checkKey,
  checkChannel: checkChannel,
  checkRole: checkRole,
  checkAudioOnly: checkAudioOnly,
  checkUidType: checkUidType,
  checkJoinUid: checkJoinUid,
  checkRemoteUid: checkRemoteUid,
  checkTarget: checkTarget,
  checkStreamType: checkStreamType,
  checkToken: checkToken,
  newSid: core.newSid,
  origin: core.origin,
  defaultServer: core.defaultServer,
  sleep: core.sleep
};
