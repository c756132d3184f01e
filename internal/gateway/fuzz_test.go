package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	mc "github.com/minirtc/minirtc/client"
	"github.com/minirtc/minirtc/internal/config/defaults"
)

// Placeholders a FuzzSignaling input may hold; each connection replaces
// them with a valid token for uid 7 in "room" and the app id, so that inputs
// get past join into the rest of the dispatch.
const (
	fuzzTokenMark = "$TOKEN"
	fuzzAppMark   = "$APP"
)

// fuzzSignalingSeeds are SDK sessions, one frame a line: join and leave,
// publish/unpublish, subscribe, mute, role changes, pings, a rejoin, and
// malformed frames mixed in.
var fuzzSignalingSeeds = []string{
	`{"appId":"$APP","cname":"room","uid":"7","sid":"0123456789ABCDEF0123456789ABCDEF","sdkVersion":"1.1.0","seq":1,"requestId":3,"ts":1,"clientRequest":{"action":"join","role":"broadcaster","appId":"$APP","key_vocs":"$TOKEN","key_vos":"$TOKEN","channel_name":"room","uid":"7","vid":"1","uidType":0}}
{"requestId":4,"clientRequest":{"action":"publish"}}
{"requestId":5,"clientRequest":{"action":"mute_local","audio":true,"video":false}}
{"command":"ping","requestId":6}
{"requestId":7,"clientRequest":{"action":"unpublish"}}
{"requestId":8,"clientRequest":{"action":"leave","uid":"7"}}`,
	`{"requestId":3,"clientRequest":{"action":"join","role":"audience","appId":"$APP","key_vos":"$TOKEN","channel_name":"room","uid":"7","known_speakers":["1",2]}}
{"requestId":4,"clientRequest":{"action":"subscribe","uid":8,"options":{"audio":true,"video":true,"flv":true}}}
{"requestId":5,"clientRequest":{"action":"unsubscribe","uid":8}}
{"requestId":6,"clientRequest":{"action":"set_role","role":"broadcaster"}}
{"requestId":7,"clientRequest":{"action":"publish"}}`,
	`{"requestId":3,"clientRequest":{"action":"join","role":"broadcaster","appId":"$APP","key_vos":"$TOKEN","channel_name":"room","uid":"7"}}
{"requestId":3,"clientRequest":{"action":"join","role":"broadcaster","appId":"$APP","key_vos":"$TOKEN","channel_name":"room","uid":"7"}}
{"requestId":4,"clientRequest":{"action":"renew_token","token":"$TOKEN"}}
{"requestId":{},"clientRequest":{"action":"publish","url":"rtmp://x/live/y"}}
hello
[]
{"requestId":5}`,
	`{"requestId":1,"clientRequest":{"action":"subscribe","uid":4294967295}}
{"requestId":2,"clientRequest":{"action":"join","key_vos":"007eJxTYJg","channel_name":"room","uid":"7"}}
null`,
}

// quietTB is a testing.TB whose Log and Logf do nothing.
type quietTB struct{ testing.TB }

func (quietTB) Log(...any)          {}
func (quietTB) Logf(string, ...any) {}

// FuzzSignaling sends arbitrary text frames (one per line of the input) on
// a gateway WebSocket, through the real decoding and dispatch with a real
// channel manager. Every frame the server sends must be a JSON object; after
// the input the session still answers a request (or has closed the socket);
// once the client drops, its session ends, and when the member's grace has
// passed no member or channel is left.
func FuzzSignaling(f *testing.F) {
	for _, s := range fuzzSignalingSeeds {
		f.Add(s)
	}
	// The env's verbose log goes to its testing.TB; f may not log from
	// inside the fuzz target, so it gets a TB that drops log lines.
	e := newEnv(quietTB{f}, nil)
	tok := e.token("room", "7", 3600)
	f.Fuzz(func(t *testing.T, input string) {
		input = strings.NewReplacer(fuzzTokenMark, tok, fuzzAppMark, e.app.ID).Replace(input)
		frames := strings.Split(input, "\n")
		if len(frames) > 32 {
			frames = frames[:32]
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := mc.Dial(ctx, e.wsURL, mc.WithReadLimit(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseNow()

		// The reader checks every server frame and reports the reply to
		// the final request (requestId "fuzz-end"), or the close.
		ended := make(chan string, 1)
		go func() {
			defer close(ended)
			for {
				m, err := conn.Next(ctx)
				if err != nil {
					ended <- "closed: " + err.Error()
					return
				}
				if m.Err != nil {
					ended <- "bad frame: " + string(m.Raw)
					return
				}
				if m.Fields["requestId"] == "fuzz-end" {
					ended <- "pong"
					return
				}
			}
		}()
		for _, fr := range frames {
			if err := conn.SendRaw(ctx, []byte(fr)); err != nil {
				break // the server closed it
			}
		}
		_ = conn.SendRaw(ctx, []byte(`{"requestId":"fuzz-end","clientRequest":{"action":"ping"}}`))
		var how string
		select {
		case how = <-ended:
		case <-time.After(10 * time.Second):
			t.Fatal("the session neither answered the final request nor closed within 10 s")
		}
		if strings.HasPrefix(how, "bad frame") {
			t.Fatalf("server sent %s", how)
		}
		conn.CloseNow()
		for deadline := time.Now().Add(10 * time.Second); e.gw.Sessions() != 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d sessions left after the client dropped", e.gw.Sessions())
			}
		}
		// A member that dropped without leave stays for its grace.
		e.clk.Advance(defaults.GatewayGraceTimeout + time.Second)
		for deadline := time.Now().Add(10 * time.Second); len(e.mgr.Channels(e.app.ID)) != 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("channels left after the grace: %v", e.mgr.Channels(e.app.ID))
			}
		}
	})
}
