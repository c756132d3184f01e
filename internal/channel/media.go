package channel

import (
	"fmt"

	"github.com/minirtc/minirtc/internal/errcode"
)

// The media plane's seam. The media plane knows streams by (app, channel, uid);
// these methods are its only way into channel state, and EventStreamStopped
// (via Observe) is how it learns that an ingest must be dropped.

// MayPublish reports whether uid may push media into channel of app now: it
// must be a member, allowed to publish by the channel profile and its role
// (communication: everyone; live: broadcasters), and have announced its stream
// with Publish. The RTMP server calls it at connect; the error says why not.
// A pusher that comes back after the media plane ended its stream (it stayed
// away past the grace period, e.g. a mini program long in the background)
// may push again without a new publish: its stream is announced again
// (stream-added to others), as if the member had called Publish.
func (m *Manager) MayPublish(app, channel string, uid uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.media(app, channel, uid)
	if err != nil {
		return err
	}
	if !m.mayPublish(ch, mb) {
		return errcode.NoAuthorized(fmt.Sprintf("uid %d is audience in a live channel", uid))
	}
	if err := m.publishBanned(ch, mb); err != nil {
		return err
	}
	if mb.stream == nil && mb.endedPushURL != "" {
		m.log.Info("stream announced again: the pusher came back after its grace period",
			"app", app, "channel", channel, "uid", uid)
		m.startStream(ch, mb, mb.endedPushURL)
	}
	if mb.stream == nil {
		return errcode.NoAuthorized(fmt.Sprintf("uid %d has not called publish", uid))
	}
	return nil
}

func (m *Manager) media(app, channel string, uid uint32) (*chanState, *member, error) {
	ch := m.channels[chanKey{app, channel}]
	if ch == nil {
		return nil, nil, errcode.NotFound(fmt.Sprintf("no channel %q", channel))
	}
	mb := ch.members[uid]
	if mb == nil {
		return nil, nil, errcode.NotFound(fmt.Sprintf("uid %d is not in channel %q", uid, channel))
	}
	return ch, mb, nil
}

func (m *Manager) mediaStream(app, channel string, uid uint32) (*chanState, *member, error) {
	ch, mb, err := m.media(app, channel, uid)
	if err != nil {
		return nil, nil, err
	}
	if mb.stream == nil {
		return nil, nil, notPublishing(uid)
	}
	return ch, mb, nil
}

// MediaStarted reports that the stream's media arrived (RTMP publish began).
// It cancels the media start timeout. If the stream was paused, it resumes.
func (m *Manager) MediaStarted(app, channel string, uid uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.mediaStream(app, channel, uid)
	if err != nil {
		return err
	}
	m.mediaStarted(ch, mb)
	return nil
}

// mediaStarted is MediaStarted's work. m.mu held.
func (m *Manager) mediaStarted(ch *chanState, mb *member) {
	st := mb.stream
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	wasLive := st.live
	st.live = true
	if st.paused {
		m.resume(ch, mb)
	}
	if !wasLive {
		m.emit(m.event(EventMediaStarted, ch, mb))
	}
}

// MediaStopped reports that the stream's media ended for good: the media
// plane gave up on the publisher (its grace period expired, or there was
// none). The stream ends at once (stream-removed to others, StopMediaEnded);
// the member stays in the channel, unpublished, and may Publish again. A
// stream whose media never started is left to the media start timeout.
func (m *Manager) MediaStopped(app, channel string, uid uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.mediaStream(app, channel, uid)
	if err != nil {
		return err
	}
	if !mb.stream.live {
		return nil
	}
	mb.stream.live = false
	m.emit(m.event(EventMediaStopped, ch, mb))
	m.log.Info("stream removed: media ended", "app", app, "channel", channel, "uid", uid)
	pushURL := mb.stream.pushURL
	m.stopStream(ch, mb, StopMediaEnded)
	mb.endedPushURL = pushURL
	return nil
}

// MediaPaused reports a publisher gap: others get video-mute {mute: true}
// unless the member muted its video itself.
func (m *Manager) MediaPaused(app, channel string, uid uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.mediaStream(app, channel, uid)
	if err != nil {
		return err
	}
	if mb.stream.paused {
		return nil
	}
	mb.stream.paused = true
	m.emit(m.event(EventMediaPaused, ch, mb))
	if !mb.videoMuted {
		ev := m.event(EventMuteChanged, ch, mb)
		ev.Media, ev.Muted = MediaVideo, true
		m.emit(ev, ch.others(uid)...)
	}
	return nil
}

// MediaResumed ends a gap: others get video-mute {mute: false} unless the
// member muted its video itself. For a stream whose media the channel has
// not seen start, it is the start: the media plane's stream outlived an
// earlier source the channel never knew (in a cluster, the relay of the
// stream from a node that died, replaced by the member's push here).
func (m *Manager) MediaResumed(app, channel string, uid uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.mediaStream(app, channel, uid)
	if err != nil {
		return err
	}
	if !mb.stream.live {
		m.mediaStarted(ch, mb)
		return nil
	}
	if mb.stream.paused {
		m.resume(ch, mb)
	}
	return nil
}

func (m *Manager) resume(ch *chanState, mb *member) {
	mb.stream.paused = false
	m.emit(m.event(EventMediaResumed, ch, mb))
	if !mb.videoMuted {
		ev := m.event(EventMuteChanged, ch, mb)
		ev.Media, ev.Muted = MediaVideo, false
		m.emit(ev, ch.others(mb.uid)...)
	}
}

// SetRotation records the publisher's video rotation (normalized to 0, 90,
// 180 or 270) and, when it changed, tells the stream's subscribers.
func (m *Manager) SetRotation(app, channel string, uid uint32, degrees int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, mb, err := m.mediaStream(app, channel, uid)
	if err != nil {
		return err
	}
	rot := ((degrees%360 + 360) % 360) / 90 * 90
	if mb.stream.rotation == rot {
		return nil
	}
	mb.stream.rotation = rot
	var subs []Endpoint
	for _, o := range ch.members {
		if _, ok := o.subs[uid]; ok && o.ep != nil {
			subs = append(subs, o.ep)
		}
	}
	ev := m.event(EventRotationChanged, ch, mb)
	ev.Rotation = rot
	m.emit(ev, subs...)
	return nil
}

// Banned reports whether a ban rule refuses uid in channel of app now (the
// media plane refuses new media connections of a banned uid).
func (m *Manager) Banned(app, channel string, uid uint32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.banned(app, channel, uid)
}

// BannedFrom returns the active rule that refuses privilege p to uid (0:
// any uid matches only rules without a uid) connecting from ip ("" when
// unknown: rules with an IP do not match) in channel of app.
func (m *Manager) BannedFrom(app, channel string, uid uint32, ip string, p Privilege) (BanRule, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bannedFrom(app, channel, uid, ip, p, true)
}
