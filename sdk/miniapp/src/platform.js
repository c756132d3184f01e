'use strict';
// The only place that touches the mini program runtime: wx.request,
// wx.connectSocket and wx.getSystemInfoSync (qq.* in QQ mini programs, or an
// object passed as the Client's `wx` option).

/* global wx, qq */

/** Returns {api, clientType} for the Client options. */
function resolve(opts) {
  if (opts && opts.wx) return { api: opts.wx, clientType: opts.clientType || 'wechat' };
  if (typeof wx !== 'undefined' && wx) return { api: wx, clientType: (opts && opts.clientType) || 'wechat' };
  if (typeof qq !== 'undefined' && qq) return { api: qq, clientType: (opts && opts.clientType) || 'qq' };
  return { api: null, clientType: (opts && opts.clientType) || 'wechat' };
}

/**
 * POSTs JSON. Resolves {statusCode, data} for any HTTP answer; rejects
 * {errMsg} on a network failure or timeout.
 */
function postJSON(api, url, body, headers, timeoutMs) {
  return new Promise(function (resolvePromise, reject) {
    var header = { 'content-type': 'application/json' };
    if (headers) {
      for (var k in headers) {
        if (Object.prototype.hasOwnProperty.call(headers, k)) header[k] = headers[k];
      }
    }
    api.request({
      url: url,
      method: 'POST',
      data: JSON.stringify(body),
      header: header,
      dataType: 'json',
      timeout: timeoutMs,
      success: function (res) {
        resolvePromise({ statusCode: res.statusCode, data: res.data });
      },
      fail: function (err) {
        reject({ errMsg: (err && err.errMsg) || 'request:fail' });
      }
    });
  });
}

/** Device model and OS for the join request ("" when unknown). */
function systemInfo(api) {
  try {
    var info = api.getSystemInfoSync ? api.getSystemInfoSync() : null;
    return { device: (info && info.model) || '', os: (info && info.system) || '' };
  } catch (e) {
    return { device: '', os: '' };
  }
}

module.exports = { resolve: resolve, postJSON: postJSON, systemInfo: systemInfo };
