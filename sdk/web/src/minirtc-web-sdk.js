// minirtc-web-sdk: join a minirtc channel from a browser, publish camera and
// microphone with WHIP (H.264 + Opus), play the others with WHEP, with the
// events of the mini program SDK. An ES module with no dependencies: import
// it as served (/sdk/minirtc-web-sdk.js) or from the npm package.

export { Client } from './client.js';
export { MiniRTCError, CODES } from './errors.js';
export { LOG } from './log.js';
export { SDK_VERSION } from './version.js';
