// Minimal declarations of the WeChat mini program runtime used by this
// example, so that `tsc -p jsconfig.json` (and editors) check the pages'
// calls into the SDK (lib/minirtc-miniapp-sdk.d.ts) and into wx.
// The complete official typings are the npm package miniprogram-api-typings.

interface WxCallbackResult { errMsg: string }
interface WxAsyncOptions<T = WxCallbackResult> {
  success?: (res: T) => void;
  fail?: (err: WxCallbackResult) => void;
  complete?: (res: WxCallbackResult | T) => void;
}
interface WxSystemInfo {
  model: string;
  system: string;
  platform: string;
  SDKVersion: string;
  windowWidth: number;
  windowHeight: number;
  pixelRatio: number;
}
interface WxRequestResult { data: unknown; statusCode: number; header: Record<string, string> }
interface WxSocketTask {
  send(o: { data: string | ArrayBuffer } & WxAsyncOptions): void;
  close(o: { code?: number; reason?: string } & WxAsyncOptions): void;
  onOpen(cb: (res: { header: Record<string, string> }) => void): void;
  onClose(cb: (res: { code: number; reason: string }) => void): void;
  onError(cb: (res: WxCallbackResult) => void): void;
  onMessage(cb: (res: { data: string | ArrayBuffer }) => void): void;
}
interface WxLivePusherContext {
  start(o?: WxAsyncOptions): void;
  stop(o?: WxAsyncOptions): void;
  pause(o?: WxAsyncOptions): void;
  resume(o?: WxAsyncOptions): void;
  switchCamera(o?: WxAsyncOptions): void;
}
interface WxLivePlayerContext {
  play(o?: WxAsyncOptions): void;
  stop(o?: WxAsyncOptions): void;
  mute(o?: WxAsyncOptions): void;
  pause(o?: WxAsyncOptions): void;
  resume(o?: WxAsyncOptions): void;
}
interface Wx {
  getSystemInfoSync(): WxSystemInfo;
  request(o: { url: string; method?: 'GET' | 'POST' | 'PUT' | 'DELETE'; data?: unknown; header?: Record<string, string>; timeout?: number; dataType?: string } & WxAsyncOptions<WxRequestResult>): { abort(): void };
  connectSocket(o: { url: string; header?: Record<string, string>; protocols?: string[]; timeout?: number } & WxAsyncOptions): WxSocketTask;
  setNavigationBarTitle(o: { title: string } & WxAsyncOptions): void;
  setKeepScreenOn(o: { keepScreenOn: boolean } & WxAsyncOptions): void;
  showToast(o: { title: string; icon?: 'success' | 'error' | 'loading' | 'none'; duration?: number } & WxAsyncOptions): void;
  showModal(o: { title?: string; content?: string; showCancel?: boolean } & WxAsyncOptions<{ confirm: boolean; cancel: boolean }>): void;
  navigateTo(o: { url: string } & WxAsyncOptions): void;
  navigateBack(o?: { delta?: number } & WxAsyncOptions): void;
  redirectTo(o: { url: string } & WxAsyncOptions): void;
  createLivePusherContext(): WxLivePusherContext;
  createLivePlayerContext(id: string, component?: unknown): WxLivePlayerContext;
}
declare const wx: Wx;

interface PageInstance<D> {
  data: D;
  setData(data: Partial<D>, callback?: () => void): void;
  route: string;
}
/** Pages keep their own fields on `this` (this.channel, …): those are untyped. */
interface PageExtras { [field: string]: any }
declare function Page<D extends object, M extends object>(options: { data: D } & M & ThisType<PageInstance<D> & M & PageExtras>): void;

interface AppGlobalData { systemInfo: WxSystemInfo | null; uid: number }
declare function App(options: { globalData: AppGlobalData } & ThisType<{ globalData: AppGlobalData }> & Record<string, unknown>): void;
declare function getApp(): { globalData: AppGlobalData };
declare function getCurrentPages(): Array<PageInstance<Record<string, unknown>>>;
declare const console: { log(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void };
