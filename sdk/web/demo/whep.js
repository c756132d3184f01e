// The demo's bare WHIP/WHEP mode (formerly the separate /webrtc/ test page):
// with no signaling at all, publish the camera as a uid over WHIP and play
// another uid over WHEP, each with a token from the URL. Handy for checking
// a deployment's media path from a browser, and driven by the Chromium
// end-to-end test. Query parameters: app, channel, pub + ptoken (uid and
// token to publish as), play + vtoken (uid to play, a token for the channel).
//
// window.minirtc holds the state the test reads:
// {published, playing, framesDecoded, totalAudioEnergy, error}.

/** Whether the URL asks for the bare WHIP/WHEP mode. @param {URLSearchParams} q */
export function isBareMode(q) {
  return q.has('pub') || q.has('play');
}

/** @param {RTCPeerConnection} pc */
function waitGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(undefined); });
    setTimeout(resolve, 3000);
  });
}

/**
 * Keeps only H.264 (packetization-mode=1) on a video transceiver: mini
 * programs decode nothing else.
 * @param {RTCRtpTransceiver} tr
 */
function preferH264(tr) {
  if (!tr.setCodecPreferences || !RTCRtpSender.getCapabilities) return;
  const caps = RTCRtpSender.getCapabilities('video').codecs.filter((c) =>
    c.mimeType.toLowerCase() === 'video/h264' && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
  if (caps.length) tr.setCodecPreferences(caps);
}

/**
 * Runs the bare mode in the section with the given element ids.
 * @param {URLSearchParams} q
 * @param {{local: HTMLVideoElement, remote: HTMLVideoElement, status: HTMLElement}} els
 */
export async function runBareMode(q, els) {
  const state = { published: false, playing: false, framesDecoded: 0, totalAudioEnergy: 0, error: '', whip: '', whep: '' };
  // @ts-ignore: read by the tests
  window.minirtc = state;
  const show = () => { els.status.textContent = JSON.stringify(state, null, 1); };

  /**
   * @param {'whip' | 'whep'} kind
   * @param {string | null} uid
   * @param {string | null} token
   * @param {RTCPeerConnection} pc
   */
  async function exchange(kind, uid, token, pc) {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitGathering(pc);
    const url = `/${kind}/${encodeURIComponent(q.get('app') || '')}/${encodeURIComponent(q.get('channel') || '')}/${encodeURIComponent(uid || '')}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + (token || '') },
      body: pc.localDescription ? pc.localDescription.sdp : ''
    });
    const body = await res.text();
    if (res.status !== 201) throw new Error(`${kind} ${res.status}: ${body}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    return res.headers.get('Location') || '';
  }

  async function publish() {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
    els.local.srcObject = stream;
    const pc = new RTCPeerConnection();
    for (const track of stream.getTracks()) {
      const tr = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (track.kind === 'video') preferH264(tr);
    }
    state.whip = await exchange('whip', q.get('pub'), q.get('ptoken'), pc);
    state.published = true;
    show();
  }

  async function play() {
    const pc = new RTCPeerConnection();
    const remote = new MediaStream();
    els.remote.srcObject = remote;
    pc.ontrack = (ev) => { remote.addTrack(ev.track); els.remote.play().catch(() => {}); };
    preferH264(pc.addTransceiver('video', { direction: 'recvonly' }));
    pc.addTransceiver('audio', { direction: 'recvonly' });
    state.whep = await exchange('whep', q.get('play'), q.get('vtoken'), pc);
    state.playing = true;
    setInterval(async () => {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'video') state.framesDecoded = s.framesDecoded || 0;
        if (s.kind === 'audio') state.totalAudioEnergy = s.totalAudioEnergy || 0;
      });
      show();
    }, 250);
  }

  show();
  try {
    if (q.get('pub')) await publish();
    if (q.get('play')) await play();
  } catch (e) {
    state.error = String(e && e.message || e);
  }
  show();
}
