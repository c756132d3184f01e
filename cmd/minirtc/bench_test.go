package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestParseBitrate(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"500000", 500000, true}, {"500k", 500000, true}, {"1.5M", 1500000, true}, {"2m", 2000000, true},
		{"", 0, false}, {"fast", 0, false}, {"-1k", 0, false},
	}
	for _, tc := range cases {
		got, err := parseBitrate(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %d, %v", tc.in, got, err)
		}
	}
}

func TestBenchCommandErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bench", "--size", "big"}, 1, "--size"},
		{[]string{"bench", "--rtmp-url", "rtmp://127.0.0.1:1/live/x", "--bitrate", "x"}, 1, "--bitrate"},
		{[]string{"bench"}, 1, "give a server URL"},
		{[]string{"bench", "extra"}, 2, "usage"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr.String())
		}
	}
}

// TestBenchCommandJSON: a run whose publisher cannot connect still prints a
// JSON report on stdout and exits 1.
func TestBenchCommandJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--rtmp-url", "rtmp://127.0.0.1:1/live/x", "--readers", "1", "--hold", "1s",
		"--timeout", "1s", "--json", "--quiet"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d; stderr %s", code, stderr.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if rep["mode"] != "media-only" || rep["publishers_ok"] != 0.0 {
		t.Fatalf("report %v", rep)
	}
	if !strings.Contains(stderr.String(), "no publisher") || !strings.Contains(stderr.String(), "minirtc bench: media-only mode") {
		t.Fatalf("stderr %s", stderr.String())
	}
}
