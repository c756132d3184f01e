// Type declarations for minirtc-miniapp-sdk (dist/minirtc-miniapp-sdk.js).
// The API follows the Agora Miniapp SDK 2.6.4; minirtc additions are marked.

/** A failure reported by the server or the network (never an Error instance). */
export interface ClientError {
  /** 4xx/5xx from the server; 901, 903, 904, 905 raised by the SDK (error-codes.md). */
  code: number;
  reason: string;
  /** The reply's serverResponse, when a request was refused. */
  serverResponse?: unknown;
  /** The gateway URL (replies) or the JSON list of URLs tried (905). */
  wsurl?: string;
}

/** Local validation failures reject with an Error instead (e.g. "Invalid uid type"). */
export type Failure = ClientError | Error;

export type Role = 'broadcaster' | 'audience';
export type MediaTarget = 'audio' | 'video' | 'all';
/** 0 = numeric uid (default), 1 = string user account. */
export type UidType = 0 | 1;

export interface ClientOptions {
  /** The allocation endpoint, e.g. "https://rtc.example.com/api/v1" (required). */
  apUrl: string;
  /**
   * Gateway WebSocket URLs tried in order, e.g. ["wss://rtc.example.com/api"].
   * Default (minirtc): the gateway next to apUrl (https -> wss, path /api).
   */
  servers?: string[];
  /** minirtc: recover from 904/500/501/502 by itself (rejoin, republish, resubscribe). Default false. */
  autoRejoin?: boolean;
  /** minirtc: subscribe() asks for HTTP-FLV play URLs by default (true) or RTMP (false); default: the server's choice. */
  flv?: boolean;
  /** minirtc: the runtime object to use instead of the global wx (e.g. qq, or a test double). */
  wx?: unknown;
  /** minirtc: "wechat" (default with wx) or "qq" (default with qq). */
  clientType?: string;
  /** minirtc: milliseconds to wait for each gateway URL to open (default 5000). */
  connectTimeout?: number;
  /** minirtc: milliseconds before an unanswered request fails with 903 (default 10000). */
  requestTimeout?: number;
  /** minirtc: heartbeat period in ms (default 3000). */
  pingInterval?: number;
  /** minirtc, autoRejoin only: no frame from the server for this many ms means the connection is dead (default 10000; 0 = off). */
  pongTimeout?: number;
  /** minirtc: delay before the first rejoin attempt in ms (default 1000; doubles per attempt). */
  rejoinDelay?: number;
  /** minirtc: largest delay between rejoin attempts in ms (default 30000). */
  rejoinMaxDelay?: number;
  /** minirtc: give up after this many rejoin attempts (default 0 = keep trying until a terminal error, leave or destroy). */
  rejoinMaxAttempts?: number;
  /** minirtc: state changes are batched for this many ms before they are reported (default 1000). */
  reportStateDelay?: number;
  /** minirtc: net status is reported at most once per this many ms (default 10000). */
  reportNetInterval?: number;
}

export interface SubscribeOptions {
  /** Receive audio (default true). */
  audio?: boolean;
  /** Receive video (default true). */
  video?: boolean;
  /** minirtc: HTTP-FLV (true) or RTMP (false) play URL; default: the client option, else the server's choice. */
  flv?: boolean;
}

export interface SubscribeResult {
  /** Play URL for <live-player src>. */
  url: string;
  /** Clockwise rotation of the video: 0, 90, 180 or 270. */
  rotation: number;
}

export interface UidEvent { uid: number }
export interface StreamEvent { action: string; uid: number }
export interface UpdateUrlEvent { action: string; uid: number; url: string }
export interface RotationEvent { action: string; uid: number; rotation: number }
export interface ErrorEvent { code: number; reason: string }
/** minirtc: a recovery attempt starts (autoRejoin). */
export interface ReconnectingEvent { code: number; reason: string; attempt: number }
/** minirtc: the recovery succeeded; the own push URL and play URLs came with update-url. */
export interface ReconnectedEvent { uid: number }

/** The `e.detail` of a live-pusher/live-player bindstatechange (or the whole event). */
export interface StateDetail { code?: number; message?: string; [key: string]: unknown }
/** The `e.detail` of a bindnetstatus (or the whole event). */
export interface NetStatusDetail { info?: { [key: string]: unknown }; [key: string]: unknown }

type Ok<T> = (value: T) => void;
type Fail = (err: Failure) => void;

export declare class Client {
  /** @throws Error when apUrl is missing or servers is not a list of URLs. */
  constructor(options: ClientOptions);

  init(appId: string, onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  /** Before join: stored and sent with join. After join: set_role. Default role: "audience". */
  setRole(role: Role, onSuccess?: (res?: { updateURL?: string }) => void, onFailure?: Fail): Promise<void | { updateURL?: string }>;

  /** Resolves the uid the server confirmed. */
  join(channelKey: string | null | undefined, channel: string, uid?: number | string | null, isAudioOnly?: boolean, uidType?: UidType, onSuccess?: Ok<number>, onFailure?: Fail): Promise<number>;
  /** Legacy order. */
  join(channelKey: string | null | undefined, channel: string, uid: number | string | null | undefined, onSuccess?: Ok<number>, onFailure?: Fail): Promise<number>;
  /** join after a lost connection, telling the server which uids the app shows. */
  rejoin(channelKey: string | null | undefined, channel: string, uid: number | string | null | undefined, uids?: Array<number | string>, isAudioOnly?: boolean, uidType?: UidType, onSuccess?: Ok<number>, onFailure?: Fail): Promise<number>;
  rejoin(channelKey: string | null | undefined, channel: string, uid: number | string | null | undefined, uids: Array<number | string> | undefined, onSuccess?: Ok<number>, onFailure?: Fail): Promise<number>;
  leave(onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  destroy(onSuccess?: () => void, onFailure?: Fail): Promise<void>;

  /** Resolves the push URL for <live-pusher url>. */
  publish(onSuccess?: Ok<string>, onFailure?: Fail): Promise<string>;
  unpublish(onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  subscribe(uid: number, options?: SubscribeOptions, onSuccess?: (url: string, rotation: number) => void, onFailure?: Fail): Promise<SubscribeResult>;
  subscribe(uid: number, onSuccess?: (url: string, rotation: number) => void, onFailure?: Fail): Promise<SubscribeResult>;
  unsubscribe(uid: number, onSuccess?: () => void, onFailure?: Fail): Promise<void>;

  muteLocal(target: MediaTarget, onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  unmuteLocal(target: MediaTarget, onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  mute(uid: number, target: MediaTarget, onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  unmute(uid: number, target: MediaTarget, onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  /** 0 = high, 1 = low stream. */
  setRemoteVideoStreamType(uid: number, streamType: 0 | 1, onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  renewToken(token: string, onSuccess?: () => void, onFailure?: Fail): Promise<void>;

  /** Whether the gateway WebSocket is open (joined or joining). */
  isConnected(): boolean;
  /** Asks for a fresh push URL (update_url); resolves the server's answer. */
  updatePushUrl(onSuccess?: Ok<{ url: string }>, onFailure?: Fail): Promise<{ url: string }>;
  /** Sends a raw clientRequest on the gateway connection; resolves its serverResponse. */
  send(clientRequest: { action: string; [key: string]: unknown }, onSuccess?: Ok<unknown>, onFailure?: Fail): Promise<unknown>;
  /** The audio codec announced with the next join (accepted and ignored by minirtc). */
  setAudioCodec(codec: string | null): void;
  /** Not available with minirtc (Agora's relay service): the callback gets a 430 error. */
  startChannelMediaRelay(config: unknown, callback?: (err?: ClientError) => void): void;
  /** Not available with minirtc: the callback gets a 430 error. */
  updateChannelMediaRelay(config: unknown, callback?: (err?: ClientError) => void): void;
  /** Not available with minirtc: the callback gets a 430 error. */
  stopChannelMediaRelay(callback?: (err?: ClientError) => void): void;

  /** Forward <live-pusher bindstatechange> (e.detail or e); reported to minirtc. */
  updatePusherStateChange(detail: StateDetail | { detail: StateDetail }): void;
  /** Forward <live-pusher bindnetstatus> (e.detail or e); reported to minirtc, throttled. */
  updatePusherNetStatus(detail: NetStatusDetail | { detail: NetStatusDetail }): void;
  updatePlayerStateChange(uid: number | string, detail: StateDetail | { detail: StateDetail }): void;
  updatePlayerNetStatus(uid: number | string, detail: NetStatusDetail | { detail: NetStatusDetail }): void;

  on(event: 'stream-added' | 'stream-removed', callback: (e: StreamEvent) => void): void;
  on(event: 'update-url', callback: (e: UpdateUrlEvent) => void): void;
  on(event: 'video-rotation', callback: (e: RotationEvent) => void): void;
  on(event: 'mute-audio' | 'unmute-audio' | 'mute-video' | 'unmute-video', callback: (e: UidEvent) => void): void;
  on(event: 'error', callback: (e: ErrorEvent) => void): void;
  on(event: 'token-privilege-will-expire' | 'token-privilege-did-expire' | 'client-banned', callback: () => void): void;
  on(event: 'reconnecting', callback: (e: ReconnectingEvent) => void): void;
  on(event: 'reconnected', callback: (e: ReconnectedEvent) => void): void;
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
  /** The same hook as onLog (the spelling in the Agora SDK's FAQ). */
  onlog: ((text: string) => void) | null;
  /** Sends the buffered log to <apUrl origin>/api/v1/logs of the newest Client. */
  uploadLogs(onSuccess?: () => void, onFailure?: Fail): Promise<void>;
  readonly LEVELS: { BLIND: -1; DEBUG: 0; INFO: 1; WARN: 2; ERROR: 3; NONE: 4 };
}

export declare const LOG: Log;
export declare const SDK_VERSION: string;
