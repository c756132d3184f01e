// WHIP and WHEP over fetch (RFC 9725 and the WHEP draft as minirtc serves
// them): POST the complete offer with the token as a Bearer credential, get
// 201 with the answer and the session's Location, DELETE it to end.

import { CODES, fail, fromHTTP } from './errors.js';

/** Resolves when ICE gathering is complete, or after ms (whatever was gathered). */
export function waitGathering(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Resolves when the PeerConnection is connected; rejects 501 "service lost"
 * when it fails, closes or takes longer than ms.
 */
export function waitConnected(pc, ms, what) {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const finish = (err) => {
      clearTimeout(timer);
      pc.removeEventListener('connectionstatechange', check);
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      const st = pc.connectionState;
      if (st === 'connected') finish(null);
      else if (st === 'failed' || st === 'closed') finish(fail(CODES.SERVICE_LOST, `service lost: the ${what} WebRTC connection ${st}`));
    };
    const timer = setTimeout(() => finish(fail(CODES.SERVICE_LOST,
      `service lost: the ${what} WebRTC connection did not connect within ${ms} ms (UDP to the server blocked?)`)), ms);
    pc.addEventListener('connectionstatechange', check);
  });
}

/**
 * POSTs an offer to a WHIP/WHEP endpoint. Resolves {answer, location} (the
 * Location resolved against the endpoint URL); rejects a MiniRTCError with
 * the server's {code, reason}, or 501 when the server cannot be reached.
 */
export async function postOffer(fetchFn, url, token, offer, what, timeoutMs) {
  const ctl = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = setTimeout(() => { if (ctl) ctl.abort(); }, timeoutMs);
  let res;
  let body;
  try {
    res = await fetchFn(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + token },
      body: offer,
      signal: ctl ? ctl.signal : undefined
    });
    body = await res.text();
  } catch (e) {
    throw fail(CODES.SERVICE_LOST, `service lost: ${what} request to ${url} failed: ${e && e.message ? e.message : e}`);
  } finally {
    clearTimeout(timer);
  }
  if (res.status !== 201 && res.status !== 200) throw fromHTTP(res.status, body, what);
  const loc = res.headers.get('Location');
  if (!loc) throw fail(CODES.INTERNAL, `internal error: the ${what} answer has no Location header`);
  return { answer: body, location: new URL(loc, url).href };
}

/** DELETEs a WHIP/WHEP session; never rejects (the session may be gone). */
export async function deleteSession(fetchFn, location, token) {
  if (!location) return;
  try {
    // keepalive: the DELETE still goes out when the page is being closed
    await fetchFn(location, { method: 'DELETE', headers: { Authorization: 'Bearer ' + token }, keepalive: true });
  } catch (e) {
    // the server ends sessions of closed PeerConnections by itself
  }
}
