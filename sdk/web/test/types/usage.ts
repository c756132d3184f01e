// A typed usage sample: compiles against src/minirtc-web-sdk.d.ts with
// strict checks; the @ts-expect-error lines must stay errors.
import { Client, MiniRTCError, LOG, SDK_VERSION, CODES } from 'minirtc-web-sdk';
import type { StreamEvent, ErrorEvent, ClientOptions } from 'minirtc-web-sdk';

async function meeting(video: HTMLVideoElement, tiles: Map<number, HTMLVideoElement>): Promise<void> {
  const options: ClientOptions = { apUrl: 'https://rtc.example.com/api/v1', iceServers: [{ urls: 'stun:stun.example.com' }] };
  const client = new Client(options);
  LOG.setLogLevel(LOG.LEVELS.WARN);
  LOG.onLog = (line: string) => { console.log(line); };
  LOG.onlog = (line: string) => { console.log(line); };
  const version: string = SDK_VERSION;
  console.log(version);

  client.on('stream-added', async (e: StreamEvent) => {
    const stream: MediaStream = await client.subscribe(e.uid, { video: true });
    const el = tiles.get(e.uid);
    if (el) el.srcObject = stream;
  });
  client.on('stream-removed', (e) => { tiles.delete(e.uid); });
  client.on('mute-audio', (e) => { const uid: number = e.uid; console.log(uid); });
  client.on('video-rotation', (e) => { const deg: number = e.rotation; console.log(deg); });
  client.on('error', (e: ErrorEvent) => { if (e.code === CODES.DISCONNECTED) console.log(e.reason, e.uid); });
  client.on('token-privilege-will-expire', () => { client.renewToken('new-token').catch(() => {}); });
  client.on('*', (type: string, payload?: unknown) => { console.log(type, payload, client.isConnected()); });

  await client.init('0123456789abcdef0123456789abcdef');
  await client.setRole('broadcaster');
  const uid: number = await client.join('token', 'room', 1234);
  const camera = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  video.srcObject = camera;
  try {
    await client.publish(camera);
  } catch (e) {
    if (e instanceof MiniRTCError) console.log(e.code, e.reason, e.status);
  }
  await client.muteLocal('audio');
  await client.unmuteLocal('all');
  await client.mute(uid + 1, 'video');
  const stats: RTCStatsReport | null = await client.getStats(uid + 1);
  console.log(stats, client.uid);
  await client.unsubscribe(uid + 1);
  await client.unpublish();
  await client.join(null, 'room');
  await client.leave();
  await client.destroy();

  // @ts-expect-error apUrl is required
  new Client({ servers: ['wss://x/api'] });
  // @ts-expect-error subscribe takes a numeric uid
  await client.subscribe('1234');
  // @ts-expect-error publish needs a MediaStream
  await client.publish('camera');
  // @ts-expect-error targets are audio, video or all
  await client.muteLocal('screen');
  // @ts-expect-error roles are broadcaster or audience
  await client.setRole('host');
  // @ts-expect-error subscribe resolves a MediaStream, not a URL
  const url: string = await client.subscribe(1);
  console.log(url);
  // @ts-expect-error event names are strings
  client.off(1);
  // @ts-expect-error join resolves a number
  const who: string = await client.join('t', 'room', 1);
  console.log(who);
  // @ts-expect-error code is read-only
  new MiniRTCError(430, 'bad request').code = 1;
}

console.log(meeting);
