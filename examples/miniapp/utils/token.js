// Fetches a token for (channel, uid) from the app's own token service, or
// resolves undefined when none is configured (then the SDK sends the appId
// as key, which minirtc accepts only for apps created with --no-token-ok).
const config = require('../config.js');

/**
 * @param {string} channel
 * @param {number} uid
 * @returns {Promise<string | undefined>}
 */
function fetchToken(channel, uid) {
  if (!config.TOKEN_URL) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    wx.request({
      url: config.TOKEN_URL + '?channel=' + encodeURIComponent(channel) + '&uid=' + uid,
      method: 'GET',
      success(res) {
        const data = /** @type {any} */ (res.data);
        if (res.statusCode === 200 && data && typeof data.token === 'string') resolve(data.token);
        else reject(new Error('token service answered ' + res.statusCode));
      },
      fail(err) {
        reject(new Error('token service unreachable: ' + err.errMsg));
      }
    });
  });
}

module.exports = { fetchToken };
