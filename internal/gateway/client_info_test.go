package gateway

import (
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/channel"
)

// TestClientInfo: the join's self-description is kept as sent when sane;
// odd values (wrong types, control characters, megabytes) are dropped or cut,
// never an error.
func TestClientInfo(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	cases := []struct {
		name, fields string
		want         channel.ClientInfo
	}{
		{"sdk", `"clientType":"wechat","version":"2.6.4","device":"iPhone 13","os":"iOS 17.2"`,
			channel.ClientInfo{Kind: "wechat", SDKVersion: "2.6.4", Device: "iPhone 13", OS: "iOS 17.2"}},
		{"rejoin", `"clientType":"qq"`, channel.ClientInfo{Kind: "qq"}},
		{"numbers", `"version":264,"os":null`, channel.ClientInfo{SDKVersion: "264"}},
		{"objects", `"device":{"a":1},"os":["x"]`, channel.ClientInfo{}},
		{"control", `"device":"a\u0000b\nc\u001bd"`, channel.ClientInfo{Device: "abcd"}},
		{"long", `"os":"` + long + `"`, channel.ClientInfo{OS: strings.Repeat("é", 32)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := decodeRequest([]byte(`{"requestId":1,"clientRequest":{"action":"join",` + c.fields + `}}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := req.clientInfo(); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
