package diag

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// netFields are the numeric fields of the components' bindnetstatus info
// (WeChat's live-pusher/live-player documentation): the pusher's, then the player's extras.
var netFields = [...]string{
	"videoBitrate", "audioBitrate", "videoFPS", "videoGOP", "netSpeed", "netJitter",
	"netQualityLevel", "videoWidth", "videoHeight", "videoCache", "audioCache",
	"vDecCacheSize", "vSumCacheSize", "avPlayInterval", "avRecvInterval", "audioCacheThreshold",
}

// NetFieldNames returns the names NetStats can hold, in a stable order.
func NetFieldNames() []string { return append([]string(nil), netFields[:]...) }

func netFieldIndex(name string) int {
	for i, f := range netFields {
		if f == name {
			return i
		}
	}
	return -1
}

// NetStats is one bindnetstatus sample: a value for each field the client
// reported. It is a small fixed-size value (no map), so a ring of them costs
// the same whatever clients send. Its zero value holds nothing.
type NetStats struct {
	has uint32
	v   [len(netFields)]float64
}

// Set stores a field; it reports false for a name outside NetFieldNames or
// a value that is not finite (JSON cannot carry it).
func (s *NetStats) Set(name string, v float64) bool {
	i := netFieldIndex(name)
	if i < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	s.has |= 1 << i
	s.v[i] = v
	return true
}

// Get returns a field and whether the client reported it.
func (s NetStats) Get(name string) (float64, bool) {
	i := netFieldIndex(name)
	if i < 0 || s.has&(1<<i) == 0 {
		return 0, false
	}
	return s.v[i], true
}

// Len is the number of reported fields.
func (s NetStats) Len() int {
	n := 0
	for i := range netFields {
		if s.has&(1<<i) != 0 {
			n++
		}
	}
	return n
}

// MarshalJSON writes the reported fields as a JSON object.
func (s NetStats) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for i, name := range netFields {
		if s.has&(1<<i) == 0 {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(name))
		b.WriteByte(':')
		b.Write(strconv.AppendFloat(nil, s.v[i], 'g', -1, 64))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object of numeric fields; unknown names are ignored.
func (s *NetStats) UnmarshalJSON(data []byte) error {
	var m map[string]float64
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("diag: net stats: %w", err)
	}
	*s = NetStats{}
	for k, v := range m {
		s.Set(k, v)
	}
	return nil
}
