// Compiled by test/build.test.js with `tsc --noEmit --strict`: the
// declarations describe the API as apps use it (promises and callbacks).
import { Client, LOG, SDK_VERSION, ClientError, SubscribeResult } from '../../index';

async function meeting(): Promise<void> {
  const client = new Client({ apUrl: 'https://rtc.example.com/api/v1', servers: ['wss://rtc.example.com/api'], autoRejoin: true, flv: false });
  await client.init('0123456789abcdef0123456789abcdef');
  await client.setRole('broadcaster');
  const uid: number = await client.join(undefined, 'room', 1234);
  const again: number = await client.join('token', 'room', 1234, false, 0);
  client.join(null, 'room', 'alice', false, 1, (u: number) => void u, (e) => void e);
  client.join('token', 'room', 5, (u) => void u, (e) => void e);
  await client.rejoin(undefined, 'room', uid, [String(uid), '77'], false, 0);
  client.rejoin(undefined, 'room', uid, ['1'], (u) => void u, (e) => void e);
  const pushUrl: string = await client.publish();
  const sub: SubscribeResult = await client.subscribe(77, { audio: true, video: false, flv: true });
  client.subscribe(77, (url: string, rotation: number) => void [url, rotation]);
  await client.unsubscribe(77);
  await client.muteLocal('audio');
  await client.unmuteLocal('all');
  await client.mute(77, 'video');
  await client.unmute(77, 'video');
  await client.setRemoteVideoStreamType(77, 1);
  await client.renewToken('newtoken');
  client.updatePusherStateChange({ code: 1002, message: 'started' });
  client.updatePusherNetStatus({ detail: { info: { videoBitrate: 500 } } });
  client.updatePlayerStateChange(77, { detail: { code: 2004 } });
  client.updatePlayerNetStatus('77', { info: { videoFPS: 15 } });
  client.on('stream-added', (e) => { const n: number = e.uid; void n; });
  client.on('update-url', (e) => { const u: string = e.url; void u; });
  client.on('video-rotation', (e) => { const r: number = e.rotation; void r; });
  client.on('mute-audio', (e) => void e.uid);
  client.on('error', (e) => { const c: number = e.code; const r: string = e.reason; void [c, r]; });
  client.on('token-privilege-will-expire', () => undefined);
  client.on('reconnecting', (e) => void e.attempt);
  client.on('reconnected', (e) => void e.uid);
  client.on('*', (type: string, payload?: unknown) => void [type, payload]);
  const connected: boolean = client.isConnected();
  const fresh: { url: string } = await client.updatePushUrl();
  const answer: unknown = await client.send({ action: 'update_url', role: 'publish' });
  client.setAudioCodec('aac');
  client.startChannelMediaRelay({}, (err?: ClientError) => void err);
  void [connected, fresh, answer];
  client.off('stream-added');
  await client.unpublish();
  await client.leave();
  await client.destroy();
  LOG.setLogLevel(LOG.LEVELS.DEBUG);
  LOG.onLog = (text: string) => void text;
  LOG.onlog = (text: string) => void text;
  await LOG.uploadLogs().catch((e: ClientError | Error) => void e);
  const v: string = SDK_VERSION;
  void [again, pushUrl, sub, v];
}
void meeting;
