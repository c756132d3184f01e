'use strict';
// LOG: the SDK's logger (sdk/core/log.js, shared with the web SDK) plus
// LOG.uploadLogs, which sends the buffered lines to minirtc (POST <apUrl
// origin>/api/v1/logs of the most recently created Client).

var core = require('../../core/log.js');
var settle = require('./util').settle;

var LOG = core.LOG;
// uploader is set by the Client module: function(lines) -> Promise.
var uploader = null;

/**
 * Uploads the buffered SDK log to minirtc. Promise and legacy callbacks.
 */
LOG.uploadLogs = function (onSuccess, onFailure) {
  var p;
  if (!uploader) {
    p = Promise.reject(new Error('uploadLogs: create a Client (with apUrl) first'));
  } else {
    p = uploader(core.log.lines());
  }
  return settle(p, onSuccess, onFailure);
};

/** Internal logger used by the other modules. */
var logger = {
  blind: core.log.blind,
  debug: core.log.debug,
  info: core.log.info,
  warn: core.log.warn,
  error: core.log.error,
  setUploader: function (fn) { uploader = fn; },
  clearBuffer: core.log.clearBuffer
};

module.exports = { LOG: LOG, logger: logger };
