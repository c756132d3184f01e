package doctor

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minirtc/minirtc/internal/token"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	pion "github.com/pion/webrtc/v4"
)

// probeChannel is the channel the WebRTC probes publish in.
const probeChannel = "minirtc-doctor"

// candidate is one ICE candidate of an SDP.
type candidate struct {
	ip   net.IP
	port int
	typ  string // host, srflx, relay, prflx
}

func (c candidate) String() string { return net.JoinHostPort(c.ip.String(), strconv.Itoa(c.port)) }

// parseCandidates returns the UDP candidates with an IP address of sdp
// (mDNS names are left out: a server never announces them).
func parseCandidates(sdp string) []candidate {
	var out []candidate
	for l := range strings.Lines(sdp) {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "a=candidate:") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 8 || !strings.EqualFold(f[2], "udp") || f[6] != "typ" {
			continue
		}
		ip := net.ParseIP(f[4])
		port, err := strconv.Atoi(f[5])
		if ip == nil || err != nil {
			continue
		}
		out = append(out, candidate{ip: ip, port: port, typ: f[7]})
	}
	return out
}

// probe is one WHIP publish by this machine.
type probe struct {
	pc       *pion.PeerConnection
	status   int
	answer   string // the SDP answer (201) or the error body
	location string // the session's URL, to DELETE it
}

// pionAPI is a pion API for probes: IPv4 loopback only when the server is
// on loopback (nothing else can reach it), all interfaces otherwise; no mDNS.
func (t *target) pionAPI() (*pion.API, error) {
	m := &pion.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	var se pion.SettingEngine
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	se.LoggerFactory = lf
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(t.o.Timeout, t.o.Timeout, time.Second)
	if t.loopback {
		se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	} else {
		se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4, pion.NetworkTypeUDP6})
	}
	return pion.NewAPI(pion.WithMediaEngine(m), pion.WithSettingEngine(se)), nil
}

// publish POSTs a WHIP offer (H.264 video, all local candidates) for uid
// in the probe channel with bearer as the token. The caller closes the
// probe.
func (t *target) publish(ctx context.Context, appID, uid, bearer string) (*probe, error) {
	api, err := t.pionAPI()
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &probe{pc: pc}
	fail := func(err error) (*probe, error) {
		_ = pc.Close()
		return nil, err
	}
	track, err := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "minirtc-doctor")
	if err != nil {
		return fail(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
		return fail(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	sctx, cancel := t.step(ctx)
	defer cancel()
	select {
	case <-gathered:
	case <-sctx.Done():
	}
	path := "/whip/" + url.PathEscape(appID) + "/" + probeChannel + "/" + uid
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, t.endpoint(path), strings.NewReader(withoutCandidates(pc.LocalDescription().SDP)))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := t.http.Do(req)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return fail(err)
	}
	p.status, p.answer = resp.StatusCode, string(b)
	if loc := resp.Header.Get("Location"); loc != "" {
		if lu, err := url.Parse(loc); err == nil {
			p.location = t.base.ResolveReference(lu).String()
			if strings.HasPrefix(loc, "/") && t.base.Path != "" {
				p.location = t.endpoint(loc) // behind a sub-path proxy
			}
		}
	}
	return p, nil
}

// withoutCandidates strips the candidates from an offer. The server then
// cannot start connectivity checks towards this machine (which would
// succeed on a path no client behind NAT has): ICE connects only if this
// machine's checks reach an address the server announced, as a client's
// must.
func withoutCandidates(sdp string) string {
	var b strings.Builder
	for l := range strings.Lines(sdp) {
		if strings.HasPrefix(l, "a=candidate:") || strings.HasPrefix(l, "a=end-of-candidates") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// close ends the probe's session on the server and the local peer.
func (p *probe) close(ctx context.Context, t *target) {
	if p.location != "" {
		ctx, cancel := t.step(context.WithoutCancel(ctx))
		defer cancel()
		if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, p.location, nil); err == nil {
			if resp, err := t.http.Do(req); err == nil {
				_ = resp.Body.Close()
			}
		}
	}
	_ = p.pc.Close()
}

// refusal is a server's JSON error ({"code", "reason"}) or the body.
func refusal(status int, body string) string {
	var e struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal([]byte(body), &e) == nil && e.Reason != "" {
		return fmt.Sprintf("%d (code %d): %s", status, e.Code, e.Reason)
	}
	return fmt.Sprintf("%d: %s", status, snippet([]byte(body)))
}

// probeUID is a random uid for a probe, unlikely to be anyone's.
func probeUID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(uint64(4_000_000_000+binary.BigEndian.Uint32(b[:])%294_967_295), 10)
}

// checkICE publishes a WHIP offer, checks the answer's ICE candidates
// against the URL's host, and tries to connect to them.
func checkICE(ctx context.Context, t *target) []Finding {
	app := t.o.App
	if app == nil {
		return []Finding{{ID: "ice-candidates", Severity: Warn,
			What: "WebRTC ICE candidates not checked: no app known",
			Fix:  "pass --app-id and --app-cert of an enabled app, or run minirtc doctor on the server (it reads them from the data directory)"}}
	}
	uid := probeUID()
	bearer := app.ID
	if app.Certificate != "" {
		tok, err := token.BuildRTC007(token.RTCOptions{AppID: app.ID, AppCert: app.Certificate, Channel: probeChannel, UID: uid,
			Role: token.RolePublisher, IssuedAt: t.now(), Lifetime: 600})
		if err != nil {
			return []Finding{{ID: "ice-candidates", Severity: Fail, What: "building a probe token: " + err.Error(),
				Fix: "check --app-id and --app-cert (32 hex digits each)"}}
		}
		bearer = tok
	}
	if app.Certificate == "" {
		// The appId stands in for a token, which only a development app
		// takes, and only for a uid that joined the channel: join first,
		// as a mini program would.
		m, res, err := t.join(ctx, app.ID, uid, app.ID)
		if err != nil {
			return []Finding{{ID: "ice-candidates", Severity: Fail, What: "the WebRTC probe could not join the channel: " + err.Error(), Fix: upgradeFix}}
		}
		if res.Code == 200 || res.Code == 401 {
			accepted := res.Code == 200
			t.appIDAccepted = &accepted
		}
		if m == nil {
			return []Finding{{ID: "ice-candidates", Severity: Fail,
				What: fmt.Sprintf("WebRTC not checked: app %s refuses its appId as the key of a join (%d: %s)", app.ID, res.Code, res.Reason),
				Fix:  "pass --app-cert with --app-id: the probe then signs its own token"}}
		}
		defer m.leave(ctx, t)
	}
	p, err := t.publish(ctx, app.ID, uid, bearer)
	if err != nil {
		return []Finding{{ID: "ice-candidates", Severity: Fail, What: "WHIP probe POST " + t.endpoint("/whip/") + "…: " + err.Error(), Fix: proxyFix}}
	}
	defer p.close(ctx, t)
	if p.status != http.StatusCreated {
		fix := "see the reason; " + proxyFix
		switch p.status {
		case http.StatusUnauthorized, http.StatusForbidden:
			fix = "pass --app-id and --app-cert of an enabled app (a token signed with the certificate is needed unless the app accepts joins without one)"
		}
		return []Finding{{ID: "ice-candidates", Severity: Fail, What: "the WHIP probe was refused: " + refusal(p.status, p.answer), Fix: fix}}
	}
	cands := parseCandidates(p.answer)
	out := []Finding{classifyCandidates(t.ips, t.loopback, t.public, localIPs(), cands)}
	if len(cands) > 0 {
		out = append(out, connectICE(ctx, t, p, cands))
	}
	return out
}

// candidateList is the distinct "ip:port" of cands, in order.
func candidateList(cands []candidate) []string {
	var out []string
	for _, c := range cands {
		if s := c.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// localIPs are this machine's interface addresses.
func localIPs() []net.IP {
	addrs, _ := net.InterfaceAddrs()
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP)
		}
	}
	return out
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}

// classifyCandidates judges the server's candidates by the addresses of
// the URL's host: hostIPs, all loopback, some public; local are this
// machine's addresses (a loopback server may announce one of them).
func classifyCandidates(hostIPs []net.IP, loopback, public bool, local []net.IP, cands []candidate) Finding {
	const id = "ice-candidates"
	if len(cands) == 0 {
		return Finding{ID: id, Severity: Fail,
			What: "the WHIP answer carries no usable ICE candidate: no browser or app can connect over WebRTC",
			Fix:  "set webrtc.udpAddr (--webrtc-addr) to an address clients can reach and webrtc.publicIPs (--public-ip) to the public IP"}
	}
	list := candidateList(cands)
	var match, reachable bool
	var private []string
	for _, c := range cands {
		if containsIP(hostIPs, c.ip) {
			match = true
		}
		if loopback && (c.ip.IsLoopback() || containsIP(local, c.ip)) {
			reachable = true
		}
		if !isPublic(c.ip) {
			private = append(private, c.String())
		}
	}
	all := strings.Join(list, ", ")
	suggest := "<the server's public IP>"
	for _, ip := range hostIPs {
		if isPublic(ip) && ip.To4() != nil {
			suggest = ip.String()
			break
		}
	}
	mismatchFix := "if WebRTC media does not reach the server at that address, set --public-ip " + suggest + " (webrtc.publicIPs); " +
		"a different address is right only when media takes another route than HTTP (e.g. a CDN or load balancer in front)"
	if loopback {
		mismatchFix = "clients on this machine need a loopback or local address: leave --public-ip (webrtc.publicIPs) unset for them; " +
			"for a public server, --public-ip must be the address clients reach it at: check the public URL (minirtc doctor --url https://NAME)"
	}
	switch {
	case public && len(private) == len(cands):
		return Finding{ID: id, Severity: Fail,
			What: "the server announces only private or loopback ICE addresses (" + all + "): clients on the internet cannot reach them",
			Fix:  "set --public-ip " + suggest + " (webrtc.publicIPs) and forward the UDP port to the same number"}
	case match || (loopback && reachable):
		return Finding{ID: id, Severity: OK, What: "the server announces ICE candidates " + all}
	}
	return Finding{ID: id, Severity: Warn,
		What: fmt.Sprintf("the server announces ICE candidates %s, but the URL's host resolves to %s: a wrong public IP sends clients' media nowhere", all, ipList(hostIPs)),
		Fix:  mismatchFix}
}

// connectICE runs ICE from this machine against the probe's answer.
func connectICE(ctx context.Context, t *target, p *probe, cands []candidate) Finding {
	const id = "ice-connect"
	state := make(chan pion.ICEConnectionState, 8)
	p.pc.OnICEConnectionStateChange(func(s pion.ICEConnectionState) {
		select {
		case state <- s:
		default:
		}
	})
	if err := p.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: p.answer}); err != nil {
		return Finding{ID: id, Severity: Fail, What: "the WHIP answer does not apply: " + err.Error(),
			Fix: "report this with the server's version (minirtc version)"}
	}
	wait := t.o.Timeout
	timer := time.NewTimer(wait)
	defer timer.Stop()
	list := candidateList(cands)
	port := strconv.Itoa(cands[0].port)
	unreachable := Finding{ID: id, Severity: Fail,
		What: fmt.Sprintf("no ICE connectivity from this machine to %s within %s", strings.Join(list, ", "), wait),
		Fix: "open UDP port " + port + " to everyone (firewall, cloud security group, Docker -p " + port + ":" + port + "/udp) and set --public-ip (webrtc.publicIPs) to the address clients reach; " +
			"a check from inside the server's own network can fail where the router does not loop back to its public IP: run it from outside too"}
	for {
		select {
		case s := <-state:
			switch s {
			case pion.ICEConnectionStateConnected, pion.ICEConnectionStateCompleted:
				what := "ICE connects from this machine"
				if pair := selectedPair(p.pc); pair != "" {
					what += " (" + pair + ")"
				}
				return Finding{ID: id, Severity: OK, What: what}
			case pion.ICEConnectionStateFailed:
				return unreachable
			}
		case <-timer.C:
			return unreachable
		case <-ctx.Done():
			return Finding{ID: id, Severity: Warn, What: "ICE check interrupted: " + ctx.Err().Error()}
		}
	}
}

// selectedPair describes the connected candidate pair, "local → remote".
func selectedPair(pc *pion.PeerConnection) string {
	for _, tr := range pc.GetTransceivers() {
		if s := tr.Sender(); s != nil && s.Transport() != nil {
			pair, err := s.Transport().ICETransport().GetSelectedCandidatePair()
			if err == nil && pair != nil {
				return fmt.Sprintf("%s:%d → %s:%d", pair.Local.Address, pair.Local.Port, pair.Remote.Address, pair.Remote.Port)
			}
		}
	}
	return ""
}

// checkAppToken reports apps that accept joins with the appId instead of a
// token signed with their certificate.
func checkAppToken(ctx context.Context, t *target) Finding {
	const id = "app-token"
	const fix = "turn it off for production: create an app that requires tokens (minirtc app create --name prod) and sign tokens with its certificate on your server (minirtc token serve, or the token builders), then disable the development app (minirtc app disable APPID)"
	var open []string
	switch {
	case len(t.o.Apps) > 0:
		for _, a := range t.o.Apps {
			if a.AllowNoToken {
				open = append(open, a.ID+" ("+a.Name+")")
			}
		}
		if len(open) == 0 {
			return Finding{ID: id, Severity: OK, What: "every enabled app requires a token signed with its certificate"}
		}
	case t.o.App == nil:
		return Finding{ID: id, Severity: Warn, What: "not checked whether apps accept joins without a token: no app known",
			Fix: "pass --app-id of the app the mini program uses, or run minirtc doctor on the server"}
	default:
		accepted := t.appIDAccepted
		if accepted == nil {
			// Join with the appId as the key, as a mini program without a
			// token does.
			m, res, err := t.join(ctx, t.o.App.ID, probeUID(), t.o.App.ID)
			if err != nil {
				return Finding{ID: id, Severity: Warn, What: "could not probe whether app " + t.o.App.ID + " requires a token: " + err.Error(), Fix: upgradeFix}
			}
			if m != nil {
				m.leave(ctx, t)
			}
			if res.Code != 200 && res.Code != 401 {
				return Finding{ID: id, Severity: Info, What: fmt.Sprintf("could not tell whether app %s requires a token: its join was answered %d: %s", t.o.App.ID, res.Code, res.Reason)}
			}
			a := res.Code == 200
			accepted = &a
		}
		if !*accepted {
			return Finding{ID: id, Severity: OK, What: "app " + t.o.App.ID + " refuses a join with the appId instead of a token: its certificate is on"}
		}
		open = []string{t.o.App.ID}
	}
	what := "app " + strings.Join(open, ", ") + " accepts joins and pushes with the appId instead of a token (allowNoToken)"
	if t.loopback {
		return Finding{ID: id, Severity: Info, What: what + ": fine for development on loopback"}
	}
	return Finding{ID: id, Severity: Warn,
		What: what + ": anyone who reads the appId out of the mini program can join, publish and play",
		Fix:  fix}
}
