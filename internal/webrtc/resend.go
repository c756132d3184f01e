package webrtc

import "time"

// What a WHEP video track may retransmit on NACKs. A NACK of a dozen bytes
// can name the whole 256-packet history, and a client can send many: left
// unbounded, a hostile or broken client turns each into up to 256 full
// packets through the writer and socket it shares with every other reader.
// Two limits make a NACK cost at most a share of what the track sends anyway:
//
//   - A byte budget earned by the track's own media: every media byte sent
//     earns 1/resendShare byte of retransmission credit, and the credit is
//     capped at resendBurst. Over any interval a session therefore resends
//     at most resendBurst + media/resendShare bytes: at most 50 % on top of
//     its normal rate, whatever it asks for. Genuine loss is far below that
//     (a client losing half its packets is not watching anyway), so real
//     repairs are not refused. The burst covers a loss burst right after a
//     keyframe: 64 KiB is a whole keyframe of a 1-2.5 Mbit/s stream (about
//     0.2 s of a 2.5 Mbit/s stream), and the credit starts full.
//     No clock is needed: credit follows what the writer actually sent,
//     so it refills at the stream's own rate and stops when the stream does.
//   - A minimum interval per sequence number: a packet is resent at most
//     once per resendInterval. Chrome NACKs each lost packet and asks again
//     after about one RTT if the repair has not come (libwebrtc's sender also
//     refuses to resend a packet twice within one RTT); without an RTT
//     estimate, 100 ms (libwebrtc's default RTT before it has one) is the
//     retry a real client needs after a lost repair, while a client repeating
//     its NACK before the resend could have arrived gets nothing new.
//
// Refused packets are counted per track and, summed, in Server.Stats.
const (
	resendShare    = 2
	resendBurst    = 64 << 10
	resendInterval = 100 * time.Millisecond
)

// resendBudget is a track's retransmission credit. Its fields are guarded
// by the track's histMu: the writer adds to sent while it already holds it
// to fill the history (no extra lock per media packet), the RTCP reader
// spends.
type resendBudget struct {
	sent    uint64 // media payload bytes written
	counted uint64 // of sent, already turned into credit
	credit  int64  // bytes that may be resent, times resendShare
}

func newResendBudget() resendBudget {
	return resendBudget{credit: resendBurst * resendShare}
}

// allow reports whether a packet of n payload bytes, last resent at *last
// (0: never), may be resent at now (nanoseconds on the track's clock, > 0);
// if so, it charges the budget and sets *last.
func (r *resendBudget) allow(last *int64, now int64, n int) bool {
	if *last != 0 && now-*last < int64(resendInterval) {
		return false
	}
	if d := r.sent - r.counted; d != 0 {
		r.counted = r.sent
		r.credit = min(r.credit+int64(min(d, resendBurst*resendShare)), resendBurst*resendShare)
	}
	cost := int64(n) * resendShare
	if cost > r.credit {
		return false
	}
	r.credit -= cost
	*last = now
	return true
}
