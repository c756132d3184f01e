package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// maxSDP bounds a WHEP answer.
const maxSDP = 64 << 10

// newWHEPAPI builds the pion API shared by all WHEP readers: default codecs
// (H.264 and Opus among them) and interceptors (NACK, RTCP reports), and
// loopback candidates so that a server on 127.0.0.1 is reachable.
func newWHEPAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("whep: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("whep: interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// readWHEP plays a WHEP endpoint (draft-ietf-wish-whep) until ctx ends and
// feeds s: H.264 RTP is depacketized (RFC 6184) into AVCC access units at
// each marker bit; audio packets are counted, but their latency is not
// measured (see noTS). It returns the time from the
// offer to ICE+DTLS connected.
func readWHEP(ctx context.Context, api *webrtc.API, client *http.Client, endpoint, bearer string, timeout time.Duration, s *sink) (time.Duration, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return 0, fmt.Errorf("whep: %w", err)
	}
	// Track readers run on pion's OnTrack goroutines; they are counted so
	// that this function returns only after they ended.
	var (
		wg       sync.WaitGroup
		trackMu  sync.Mutex
		shutdown bool
	)
	defer func() {
		trackMu.Lock()
		shutdown = true
		trackMu.Unlock()
		_ = pc.Close() // ends ReadRTP in the track readers
		wg.Wait()
	}()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return 0, fmt.Errorf("whep: %w", err)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errStalled := fmt.Errorf("no media for %v", timeout)
	watchdog := time.AfterFunc(timeout, func() { cancel(errStalled) })
	defer watchdog.Stop()
	var kickMu sync.Mutex
	lastKick := time.Now()
	kick := func(now time.Time) {
		kickMu.Lock()
		if now.Sub(lastKick) >= deadlineEvery {
			watchdog.Reset(timeout)
			lastKick = now
		}
		kickMu.Unlock()
	}
	connectedAt := make(chan time.Time, 1)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			select {
			case connectedAt <- time.Now():
			default:
			}
		case webrtc.PeerConnectionStateFailed:
			cancel(errors.New("peer connection failed"))
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		trackMu.Lock()
		if shutdown {
			trackMu.Unlock()
			return
		}
		wg.Add(1)
		trackMu.Unlock()
		defer wg.Done()
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				now := time.Now()
				s.audio(len(p.Payload), noTS, now)
				kick(now)
			}
		}
		a := &h264Assembler{s: s}
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now()
			kick(now)
			a.push(p, now)
		}
	})

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return 0, fmt.Errorf("whep: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return 0, fmt.Errorf("whep: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return 0, whepEnd(ctx, ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader([]byte(pc.LocalDescription().SDP)))
	if err != nil {
		return 0, fmt.Errorf("whep: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, whepEnd(ctx, err)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxSDP))
	_ = resp.Body.Close() // read side: the answer is read or failed above
	if err != nil {
		return 0, whepEnd(ctx, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("whep: HTTP %s: %.200s", resp.Status, bytes.TrimSpace(answer))
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		if base, err := url.Parse(endpoint); err == nil {
			if u, err := base.Parse(loc); err == nil {
				defer whepDelete(client, u.String(), bearer)
			}
		}
	}
	if !bytes.Contains(answer, []byte("\na=candidate:")) {
		// Nothing to connect to (and no trickle from servers that answer
		// with 201): waiting would only end in a timeout.
		return 0, errors.New("whep: the answer carries no ICE candidate, so the server cannot be reached (check its WebRTC address settings)")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return 0, fmt.Errorf("whep: answer: %w", err)
	}
	var connected time.Duration
	select {
	case at := <-connectedAt:
		connected = at.Sub(s.start)
	case <-ctx.Done():
		return 0, whepEnd(ctx, ctx.Err())
	}
	<-ctx.Done()
	return connected, whepEnd(ctx, ctx.Err())
}

// whepDelete ends the session on the server (best effort).
func whepDelete(client *http.Client, u, bearer string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if resp, err := client.Do(req); err == nil {
		_ = resp.Body.Close() // best-effort DELETE: nothing to do about a failure
	}
}

func whepEnd(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	switch {
	case cause == nil:
		return fmt.Errorf("whep: %w", err)
	case errors.Is(cause, context.Canceled):
		return nil
	default:
		return fmt.Errorf("whep: %w", cause)
	}
}

// h264Assembler turns H.264 RTP packets (RFC 6184) into AVCC access units
// for a sink, as packets arrive and without a jitter buffer: a frame that
// lost a packet is discarded (its stamp then shows up as a drop), and late
// packets (reordered or retransmitted) are ignored. A real player might wait
// for a retransmission; the bench reports what arrived in time.
type h264Assembler struct {
	s                      *sink
	depack                 *codecs.H264Packet
	au                     []byte
	wire                   int
	expected               uint16
	auTS                   uint32
	started, damaged, open bool
}

func (a *h264Assembler) reset() {
	a.depack = &codecs.H264Packet{IsAVC: true}
	a.au, a.wire, a.damaged, a.open = a.au[:0], 0, false, false
}

func (a *h264Assembler) push(p *rtp.Packet, now time.Time) {
	if a.depack == nil {
		a.reset()
	}
	gap := false
	if a.started {
		d := int16(p.SequenceNumber - a.expected) //nolint:gosec // G115: RTP sequence distance, wrapping on purpose (RFC 3550 serial arithmetic)
		if d < 0 {
			return // late: its frame was already given up or done
		}
		gap = d > 0
	}
	a.started, a.expected = true, p.SequenceNumber+1
	if a.open && p.Timestamp != a.auTS {
		// The previous frame's marker packet was lost.
		a.s.bytes.Add(int64(a.wire))
		a.reset()
	}
	if gap {
		a.damaged = true // this frame may have lost its first packets
	}
	a.open, a.auTS = true, p.Timestamp
	if !a.damaged {
		nalus, err := a.depack.Unmarshal(p.Payload)
		if err != nil {
			a.damaged = true
		} else {
			a.au = append(a.au, nalus...)
		}
	}
	a.wire += len(p.Payload)
	if p.Marker {
		if !a.damaged && len(a.au) > 0 {
			a.s.video(a.au, a.wire, noTS, now)
		} else {
			a.s.bytes.Add(int64(a.wire)) // delivered, if not usable
		}
		a.reset()
	}
}
