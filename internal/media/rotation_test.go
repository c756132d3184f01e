package media

import "testing"

// TestSetRotationNormalises: the rotation readers see is one of 0, 90, 180
// and 270, whatever the publisher passed (before: stored as int32 as given,
// so -90 stayed -90 and 1<<32+90 wrapped to 90 only by accident).
func TestSetRotationNormalises(t *testing.T) {
	h := newTestHub(t, Config{}, nil)
	pub, err := h.Publish(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.SetTracks(testVideo, testAudio)
	r, err := h.Subscribe(key, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want int }{{0, 0}, {90, 90}, {270, 270}, {-90, 270}, {450, 90}, {100, 90}, {-1, 270}} {
		pub.SetRotation(tc.in)
		if got := r.Rotation(); got != tc.want {
			t.Errorf("SetRotation(%d): reader sees %d, want %d", tc.in, got, tc.want)
		}
	}
}
