// Where the mini program finds your minirtc server. Edit before building.
//
// Production: WeChat only talks to https:// and wss:// hosts that are in
// the mini program's domain whitelist, with a valid certificate (README.md).
module.exports = {
  // The appId minirtc printed on first start (`minirtc app list` shows it).
  APP_ID: '0123456789abcdef0123456789abcdef',
  // minirtc's allocation endpoint and gateway (same host, port 443 behind TLS).
  AP_URL: 'https://rtc.example.com/api/v1',
  SERVERS: ['wss://rtc.example.com/api'],
  // Tokens: apps with a certificate need one per (channel, uid). TOKEN_URL is a
  // token service (GET ?channel=..&uid=.. -> {"token": "..."}): minirtc's own
  // (tokenServer in its configuration, allowedOrigins: [servicewechat.com/YOUR_WX_APPID],
  // then 'https://rtc.example.com/token'; or `minirtc token serve`), or yours.
  // Leave it empty for a development app created with `minirtc app create --no-token-ok`.
  TOKEN_URL: '',
  // Shown to others while this mini program is in the background (https URL).
  WAITING_IMAGE: 'https://rtc.example.com/static/waiting.png',
  // Play remote streams over HTTP-FLV (true) or RTMP (false).
  FLV: false
};
