// Package diag keeps what mini program clients report about themselves, for
// troubleshooting (issue 7: "reports go to minirtc where they feed
// diagnostics"; a later console shows them):
//
//   - per member (app, channel, uid), bounded rings of the newest
//     <live-pusher>/<live-player> state events and network samples, each with
//     the server's receive time and the session that sent it
//     (Store.AddStates, Store.AddNet; read with Store.Recent and
//     Store.Channel). Members are forgotten after Config.MaxAge without a
//     report, and the least recently updated goes first when
//     Config.MaxMembers is reached, so memory stays bounded whatever clients
//     send;
//   - uploaded SDK logs (LOG.uploadLogs), one file per upload under
//     Config.Dir as {app}/{yyyy-mm-dd}/{channel}_{uid}_{unixms}.log
//     (Store.WriteLog, Store.Logs, Store.ReadLog), with a size cap per
//     upload, a byte budget per app and day (the oldest files of that day are
//     removed to make room) and a retention in days.
//
// Path safety: no client string reaches the file system as is. The channel
// is base64url-encoded (no padding), the uid and time are decimal numbers, the
// day comes from the server clock, and an app id that is not a plain token
// ([A-Za-z0-9-], at most 64 bytes) is encoded too. Every file operation goes
// through an os.Root opened on Config.Dir, so even a bug in the naming cannot
// leave that directory.
//
// diag validates nothing about the protocol: the gateway decodes and checks
// client input and hands diag typed values. It imports no other minirtc
// package (it is a leaf like errcode) and must not import the gateway, the
// channel model or the media plane.
//
// Goroutines: none. Every method is safe for concurrent use: the in-memory
// rings are guarded by one mutex (O(1) work per report); log writes are
// serialized by another, so budget accounting and pruning are exact.
package diag
