// Type declarations for minirtc-web-sdk (src/minirtc-web-sdk.js).
// The API follows the mini program SDK (minirtc-miniapp-sdk, itself the
// Agora Miniapp SDK 2.6.4 API) where a browser allows it: the same names,
// the same events and payloads; media are MediaStreams instead of URLs.

/** Codes the SDK raises itself (error-codes.md). Server codes come as sent. */
export declare const CODES: {
  readonly VENDOR_KEY: 401;
  readonly BAD_REQUEST: 430;
  readonly BAD_ROLE: 431;
  readonly NOT_PUBLISHING: 432;
  readonly REFUSED: 433;
  readonly INTERNAL: 500;
  readonly SERVICE_LOST: 501;
  readonly AP_FAILED: 901;
  readonly TIMEOUT: 903;
  readonly DISCONNECTED: 904;
  readonly CONNECT_FAILED: 905;
};

/** Every rejection and every `error` event of the SDK: a catalogue code and reason. */
export declare class MiniRTCError extends Error {
  constructor(code: number, reason: string, extra?: Record<string, unknown>);
  readonly name: 'MiniRTCError';
  /** 4xx/5xx from the server, or 401/430/431/432/433/501/901/903/904/905 raised by the SDK. */
  readonly code: number;
  /** "reason" or "reason: detail", e.g. "invalid key: token is for another uid". */
  readonly reason: string;
  /** The reply's serverResponse, when a gateway request was refused. */
  readonly serverResponse?: unknown;
  /** The gateway URL (refused requests) or the JSON list of URLs tried (905). */
  readonly wsurl?: string;
  /** The HTTP status of a refused WHIP/WHEP request. */
  readonly status?: number;
}

export type Role = 'broadcaster' | 'audience';
export type MediaTarget = 'audio' | 'video' | 'all';

export interface ClientOptions {
  /** The allocation endpoint, e.g. "https://rtc.example.com/api/v1" (required). */
  apUrl: string;
  /** Gateway WebSocket URLs tried in order. Default: the gateway next to apUrl (https -> wss, path /api). */
  servers?: string[];
  /** Where /whip and /whep are served. Default: the origin of apUrl. */
  mediaUrl?: string;
  /** ICE servers for the PeerConnections (default none: minirtc has public host candidates). */
  iceServers?: RTCIceServer[];
  /** Milliseconds to wait for each gateway URL to open (default 5000). */
  connectTimeout?: number;
  /** Milliseconds before an unanswered request fails with 903 (default 10000). */
  requestTimeout?: number;
  /** Heartbeat period in ms (default 3000). */
  pingInterval?: number;
  /** Milliseconds of ICE gathering before an offer is sent anyway (default 2000). */
  gatherTimeout?: number;
  /** Milliseconds a WHIP/WHEP connection may take to connect (default 15000; 501 after it). */
  mediaTimeout?: number;
  /** Milliseconds subscribe() retries a stream that is announced but not live yet (default 15000). */
  subscribeTimeout?: number;
  /** Test doubles for the browser APIs (default: the globals). */
  fetch?: typeof fetch;
  WebSocket?: unknown;
  RTCPeerConnection?: unknown;
  MediaStream?: unknown;
  RTCRtpSender?: unknown;
  RTCRtpReceiver?: unknown;
  /** Random source for the session id and random uids (default Math.random). */
  random?: () => number;
}

export interface SubscribeOptions {
  /** Receive audio (default true). */
  audio?: boolean;
  /** Receive video (default true). */
  video?: boolean;
}

export interface UidEvent { uid: number }
export interface StreamEvent { action: string; uid: number }
export interface UpdateUrlEvent { action: string; uid: number; url: string }
export interface RotationEvent { action: string; uid: number; rotation: number }
/** `uid` is set when a publish or subscription connection failed. */
export interface ErrorEvent { code: number; reason: string; uid?: number }

export declare class Client {
  /** @throws MiniRTCError 430 when apUrl is missing or servers/mediaUrl are malformed. */
  constructor(options: ClientOptions);

  /** The uid the client joined with (null before join). */
  readonly uid: number | null;

  init(appId: string): Promise<void>;
  /** Before join: stored and sent with join. After join: set_role. Default role: "broadcaster". */
  setRole(role: Role): Promise<void>;
  /**
   * Joins the channel; resolves the uid. token: an AccessToken for (appId,
   * channel, uid), or empty / the appId for apps that allow joins without a
   * token. uid: 1..4294967295, or empty for a random one.
   */
  join(token: string | null | undefined, channel: string, uid?: number | string | null): Promise<number>;
  /** Unpublishes, ends every subscription, sends leave and closes the socket. */
  leave(): Promise<void>;
  /** leave(), then the Client is unusable. */
  destroy(): Promise<void>;
  renewToken(token: string): Promise<void>;

  /** Publishes the first audio and video track of stream with WHIP as the joined uid (H.264 + Opus only). */
  publish(stream: MediaStream): Promise<void>;
  unpublish(): Promise<void>;
  /** Plays uid with WHEP; resolves a MediaStream for a <video> element. */
  subscribe(uid: number, options?: SubscribeOptions): Promise<MediaStream>;
  unsubscribe(uid: number): Promise<void>;

  /** Disables the published track(s) and tells the others (mute-audio / mute-video). */
  muteLocal(target: MediaTarget): Promise<void>;
  unmuteLocal(target: MediaTarget): Promise<void>;
  /** Silences / blanks a subscribed uid locally (and tells the server). */
  mute(uid: number, target: MediaTarget): Promise<void>;
  unmute(uid: number, target: MediaTarget): Promise<void>;

  /** Stats of the subscription to uid, or of the own publication without uid; null when there is none. */
  getStats(uid?: number): Promise<RTCStatsReport | null>;

  on(event: 'stream-added' | 'stream-removed', callback: (e: StreamEvent) => void): void;
  on(event: 'update-url', callback: (e: UpdateUrlEvent) => void): void;
  on(event: 'video-rotation', callback: (e: RotationEvent) => void): void;
  on(event: 'mute-audio' | 'unmute-audio' | 'mute-video' | 'unmute-video', callback: (e: UidEvent) => void): void;
  on(event: 'error', callback: (e: ErrorEvent) => void): void;
  on(event: 'token-privilege-will-expire' | 'token-privilege-did-expire' | 'client-banned', callback: () => void): void;
  /** Whether the gateway WebSocket is open (joined or joining). */
  isConnected(): boolean;
  /** Every event, with its name first (after the event's own listeners). */
  on(event: '*', callback: (type: string, payload?: any) => void): void;
  /** Any other server push arrives as an event of its action's name. */
  on(event: string, callback: (e?: any) => void): void;
  /** Removes one callback, or every callback of the event when none is given. */
  off(event: string, callback?: (...args: any[]) => void): void;
}

export interface Log {
  /** -1 BLIND, 0 DEBUG, 1 INFO (default), 2 WARN, 3 ERROR, 4 NONE. */
  setLogLevel(level: number): void;
  getLogLevel(): number;
  /** Called with each formatted log line at or above the level. */
  onLog: ((text: string) => void) | null;
  /** The same hook as onLog (the spelling in the Agora mini program SDK's FAQ). */
  onlog: ((text: string) => void) | null;
  readonly LEVELS: { readonly BLIND: -1; readonly DEBUG: 0; readonly INFO: 1; readonly WARN: 2; readonly ERROR: 3; readonly NONE: 4 };
}

export declare const LOG: Log;
export declare const SDK_VERSION: string;
