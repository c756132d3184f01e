// LOG: the SDK's logger, shared by every Client like the mini program SDK's
// (setLogLevel, onLog); the shared core's (sdk/core/log.js). Lines go to
// the console at or above the level and to LOG.onLog.

export { LOG, log } from '../../core/log.js';
