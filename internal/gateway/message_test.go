package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/store"
	"github.com/minirtc/minirtc/internal/token"
)

// frames are decoder cases; they also seed FuzzDecodeRequest.
var frames = []struct {
	name, frame, action, id string
	ok                      bool
}{
	{"join", `{"appId":"a","cname":"c","uid":"1","sid":"S","sdkVersion":"1.1.0","seq":2,"requestId":3,"ts":1,"clientRequest":{"action":"join","role":"broadcaster","key_vos":"k","channel_name":"c","uid":"1","uidType":0,"known_speakers":["1",2]}}`, "join", "3", true},
	{"ping", `{"command":"ping","requestId":4,"appId":"a"}`, "", "4", true},
	{"string id", `{"requestId":"7","clientRequest":{"action":"publish","uid":null}}`, "publish", `"7"`, true},
	{"float id", `{"requestId":7.5,"clientRequest":{"action":"x"}}`, "x", "7.5", true},
	{"object id", `{"requestId":{},"clientRequest":{"action":"x"}}`, "x", "", true},
	{"no id", `{"clientRequest":{"action":"leave"}}`, "leave", "", true},
	{"not json", `hello`, "", "", false},
	{"array", `[]`, "", "", false},
	{"null", `null`, "", "", false},
	{"no request", `{"requestId":5}`, "", "5", false},
	{"request not object", `{"requestId":5,"clientRequest":[1]}`, "", "5", false},
	{"action number", `{"requestId":5,"clientRequest":{"action":1}}`, "", "5", false},
	{"unknown command", `{"command":"hello","requestId":6}`, "", "6", false},
	{"command number", `{"command":5,"requestId":6}`, "", "6", false},
	{"deep", `{"requestId":1,"clientRequest":{"action":"subscribe","uid":4294967295,"options":{"audio":true,"video":false,"flv":true}}}`, "subscribe", "1", true},
}

func TestDecodeRequest(t *testing.T) {
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeRequest([]byte(tc.frame))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if string(r.RequestID) != tc.id || (tc.ok && r.Action != tc.action) {
				t.Fatalf("id %s action %q", r.RequestID, r.Action)
			}
		})
	}
}

func TestFieldAccessors(t *testing.T) {
	r, err := decodeRequest([]byte(`{"requestId":1,"clientRequest":{"action":"a","s":"x","n":12,"b":true,"u":[1,"2","x",0],"o":{"flv":true},"neg":-1,"big":4294967296}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := r.scalar("n"); err != nil || s != "12" {
		t.Fatalf("%q %v", s, err)
	}
	if _, err := r.str("n"); err == nil {
		t.Fatal("number read as string")
	}
	if b, err := r.boolean("b"); err != nil || !b {
		t.Fatal("bool")
	}
	if l, err := r.uidList("u", false); err != nil || len(l) != 2 {
		t.Fatalf("%v %v", l, err)
	}
	if _, err := r.uidList("u", true); err == nil {
		t.Fatal("strict list accepted junk")
	}
	for _, f := range []string{"neg", "big", "s", "missing"} {
		if _, err := r.targetUID(f); err == nil {
			t.Fatalf("uid %s accepted", f)
		}
	}
	o, err := r.object("o")
	if err != nil || !o.has("flv") {
		t.Fatal("object")
	}
}

func TestValidateChannel(t *testing.T) {
	for name, ok := range map[string]bool{
		"room-1": true, "a b!#$%&()+-:;<=.>?@[]^_{}|~,": true, "": false, "中文": false, "a/b": false,
		string(make([]byte, 65)): false, "x\"y": false,
	} {
		if err := validateChannel(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, tc := range frames {
		f.Add([]byte(tc.frame))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRequest(data)
		if r == nil {
			t.Fatal("nil request")
		}
		// The reply must be valid JSON echoing the requestId byte for byte.
		out := encodeReply(r.RequestID, nil, nil)
		var back map[string]json.RawMessage
		if jerr := json.Unmarshal(out, &back); jerr != nil {
			t.Fatalf("reply %q is not JSON: %v", out, jerr)
		}
		if r.RequestID != nil {
			var want bytes.Buffer
			if json.Compact(&want, r.RequestID) != nil || !bytes.Equal(back["requestId"], want.Bytes()) {
				t.Fatalf("requestId %s echoed as %s", r.RequestID, back["requestId"])
			}
		}
		if err != nil {
			return
		}
		for k := range r.fields {
			r.str(k)
			r.scalar(k)
			r.boolean(k)
			r.targetUID(k)
			r.uidList(k, true)
			r.uidList(k, false)
			if o, err := r.object(k); err == nil {
				for k2 := range o.fields {
					o.boolean(k2)
				}
			}
		}
	})
}

// FuzzAllocate: the allocation endpoint answers 200 with a json_body string
// holding vid and servers, whatever the body (docs/protocol.md 2.3).
func FuzzAllocate(f *testing.F) {
	f.Add([]byte(`{"service_name":"miniapp","json_body":"{\"command\":\"convergeAllocateEdge\",\"appId\":\"a\",\"uid\":\"1\",\"cname\":\"c\"}"}`))
	f.Add([]byte(`{"json_body":"{\"uid\":5}"}`))
	f.Add([]byte(`{"json_body":{}}`))
	f.Add([]byte(``))
	g, err := New(Config{}, nopApps{}, channel.NewManager(channel.Config{}, discardLog()), token.NewURLSigner([]byte("k")), discardLog())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		g.ServeAllocate(w, httptest.NewRequest("POST", "http://rtc.example.com/api/v1", bytes.NewReader(body)))
		var outer struct {
			JSONBody string `json:"json_body"`
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &outer) != nil {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var inner struct {
			VID     *int64 `json:"vid"`
			Servers []struct {
				Address string `json:"address"`
			} `json:"servers"`
		}
		if json.Unmarshal([]byte(outer.JSONBody), &inner) != nil || inner.VID == nil || len(inner.Servers) != 1 || inner.Servers[0].Address == "" {
			t.Fatalf("json_body %s", outer.JSONBody)
		}
	})
}

type nopApps struct{}

func (nopApps) App(context.Context, string) (store.App, error) { return store.App{}, store.ErrNotFound }

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
