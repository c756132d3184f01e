package token

import "testing"

// TestParseStreamNameLineBreaks: line breaks anywhere in a stream name are
// refused; base64 decoding would skip them, so "…_\r_1" parsed as the
// channel "" and other names aliased the name without the breaks (found by
// FuzzStreamName).
func TestParseStreamNameLineBreaks(t *testing.T) {
	const app = "970CA35de60c44645bbae8a215061b33"
	for _, name := range []string{
		app + "_\r_1",
		app + "_\n_1",
		app + "_cm9v\nbQ_42",
		app + "_cm9vbQ\r\n_42",
	} {
		if a, ch, uid, err := ParseStreamName(name); err == nil {
			t.Errorf("%q parsed as app %q channel %q uid %q", name, a, ch, uid)
		}
	}
	if _, ch, _, err := ParseStreamName(app + "_cm9vbQ_42"); err != nil || ch != "room" {
		t.Fatalf("plain name: channel %q, %v", ch, err)
	}
}
