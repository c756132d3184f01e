package cluster

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	a, err := NewAuth(secret, "n1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewAuth(secret, "n2")
	other, _ := NewAuth([]byte("another secret of 32 bytes......"), "n1")
	h := http.Header{}
	a.Sign(h)
	r := &http.Request{Header: h}
	if node, err := b.Verify(r); err != nil || node != "n1" {
		t.Fatalf("genuine credential: %q %v", node, err)
	}
	good := a.Credential()
	stale, _ := NewAuth(secret, "n1")
	stale.now = func() time.Time { return time.Now().Add(-2 * time.Minute) }
	cases := map[string]string{
		"empty":         "",
		"garbage":       "x",
		"other secret":  other.Credential(),
		"renamed node":  "n3" + good[2:],
		"bad time":      "n1:abc:" + good[len(good)-43:],
		"stale":         stale.Credential(),
		"truncated sig": good[:len(good)-1],
		"extra field":   good + ":x",
		"no node":       good[2:],
	}
	for name, c := range cases {
		if _, err := b.VerifyCredential(c); !errors.Is(err, ErrBadCredential) {
			t.Errorf("%s: %v, want ErrBadCredential", name, err)
		}
	}
	if _, err := NewAuth([]byte("short"), "n1"); err == nil {
		t.Fatal("a short secret was accepted")
	}
}
