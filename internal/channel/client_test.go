package channel_test

import (
	"testing"
	"time"

	"github.com/minirtc/minirtc/internal/channel"
	"github.com/minirtc/minirtc/internal/errcode"
)

// TestMemberClientInfo: what a client says about itself at join shows in
// Member and Members; a rejoin that says nothing (the SDK's rejoin sends no
// version) keeps it, one that says something replaces it.
func TestMemberClientInfo(t *testing.T) {
	m, _ := newManager(t)
	ios := channel.ClientInfo{Kind: "wechat", SDKVersion: "2.6.4", Device: "iPhone 13", OS: "iOS 17.2"}
	r := &rec{}
	if _, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: 9, Endpoint: r, Client: ios}); err != nil {
		t.Fatal(err)
	}
	if mi, ok := m.Member(app, room, 9); !ok || mi.Client != ios {
		t.Fatalf("member: %+v", mi)
	}
	if err := m.Detach(channel.Ref{App: app, Channel: room, UID: 9, Endpoint: r}, errcode.LeaveNetwork, time.Minute); err != nil {
		t.Fatal(err)
	}
	r2 := &rec{}
	if _, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: 9, Endpoint: r2}); err != nil {
		t.Fatal(err)
	}
	if ms := m.Members(app, room); len(ms) != 1 || ms[0].Client != ios {
		t.Fatalf("after a silent rejoin: %+v", ms)
	}
	android := channel.ClientInfo{Kind: "qq", OS: "Android 14"}
	if _, err := m.Join(channel.JoinRequest{App: app, Channel: room, UID: 9, Endpoint: &rec{}, Client: android}); err != nil {
		t.Fatal(err)
	}
	if mi, _ := m.Member(app, room, 9); mi.Client != android {
		t.Fatalf("after a takeover: %+v", mi.Client)
	}
}
