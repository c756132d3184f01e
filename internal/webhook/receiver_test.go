package webhook_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// agoraReceiver is a notification receiver written the way an Agora user
// writes one, from Agora's documentation of channel event callbacks
// (docs.agora.io, "Channel event types": body fields noticeId, productId,
// eventType, notifyMs, payload; headers Agora-Signature = HMAC/SHA1 and
// Agora-Signature-V2 = HMAC/SHA256 of the raw body with the secret, hex).
// It shares no code with minirtc: it verifies with crypto/hmac itself and
// refuses what does not verify.
type agoraReceiver struct {
	secret string

	mu      sync.Mutex
	got     []agoraNotice
	badSig  int
	refuse  bool // answer 503 to everything
	arrived chan struct{}
}

type agoraNotice struct {
	NoticeID  string `json:"noticeId"`
	ProductID int    `json:"productId"`
	EventType int    `json:"eventType"`
	NotifyMs  int64  `json:"notifyMs"`
	Payload   struct {
		ChannelName string `json:"channelName"`
		UID         uint32 `json:"uid"`
		Platform    int    `json:"platform"`
		ClientSeq   int64  `json:"clientSeq"`
		Reason      int    `json:"reason"`
		TS          int64  `json:"ts"`
		Duration    int64  `json:"duration"`
		LastUID     uint32 `json:"lastUid"`
		// minirtc's 1007.
		Component string `json:"component"`
		Code      int    `json:"code"`
		Message   string `json:"message"`
		Target    uint32 `json:"target"`
	} `json:"payload"`
	sigV1OK bool
}

func newAgoraReceiver(secret string) *agoraReceiver {
	return &agoraReceiver{secret: secret, arrived: make(chan struct{}, 1024)}
}

func (a *agoraReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	mac := hmac.New(sha256.New, []byte(a.secret))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	a.mu.Lock()
	defer a.mu.Unlock()
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("Agora-Signature-V2"))) {
		a.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if a.refuse {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var n agoraNotice
	if err := json.Unmarshal(body, &n); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	m1 := hmac.New(sha1.New, []byte(a.secret))
	m1.Write(body)
	n.sigV1OK = hex.EncodeToString(m1.Sum(nil)) == r.Header.Get("Agora-Signature")
	a.got = append(a.got, n)
	w.WriteHeader(http.StatusOK)
	select {
	case a.arrived <- struct{}{}:
	default:
	}
}

func (a *agoraReceiver) notices() []agoraNotice {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]agoraNotice(nil), a.got...)
}

// unique drops repeated noticeIds, as a receiver that dedupes does.
func unique(ns []agoraNotice) []agoraNotice {
	seen := map[string]bool{}
	var out []agoraNotice
	for _, n := range ns {
		if !seen[n.NoticeID] {
			seen[n.NoticeID] = true
			out = append(out, n)
		}
	}
	return out
}
