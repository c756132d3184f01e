// Package tokenserver hands out access tokens to clients that may have one:
// the token service the example mini program (config.js TOKEN_URL) and the
// demo page call before they join.
//
//	GET {path}?channel=NAME&uid=N[&role=publisher|subscriber]
//	GET {path}?channel=NAME&account=S[&role=...]
//	-> 200 {"token": "...", "appId": "...", "channel": "...", "uid": "...",
//	        "role": "publisher", "expiresAt": "2026-12-06T21:00:00Z"}
//
// Who may ask is decided by a shared secret (header X-Token-Secret or
// Authorization: Bearer) for back ends and scripts, or by the caller's
// origin for pages and mini programs: the Origin header, or the Referer a
// browser or WeChat sends (WeChat's is https://servicewechat.com/{wxAppID}/...,
// matched by an allowed entry "servicewechat.com/{wxAppID}"). An origin check
// keeps other web sites from minting tokens through visitors' browsers; it
// does not stop a script that forges headers, so a public deployment should
// also authenticate its users before handing out publisher tokens — the
// contract is the same for a token server of the operator's own.
//
// It imports token (to build AccessToken2) and nothing of the server: the
// node mounts it with the store's app and `minirtc token serve` with a fixed
// appId and certificate.
package tokenserver
