package errcode_test

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/minirtc/minirtc/internal/errcode"
	"github.com/minirtc/minirtc/internal/errcode/internal/errdoc"
)

// jsPath is the JavaScript SDKs' generated catalogue, relative to this package.
const jsPath = "../../sdk/core/errors.js"

// TestJSErrorTable regenerates sdk/core/errors.js in memory and fails when
// the committed module differs (a code or reason changed without go
// generate), and checks the module carries the codes both SDKs raise and
// the reasons they key on, with the values the Go catalogue has.
func TestJSErrorTable(t *testing.T) {
	want, err := errdoc.GenerateJS(".")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(jsPath)
	if err != nil {
		t.Fatalf("%v: run go generate ./internal/errcode", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date: run go generate ./internal/errcode", jsPath)
	}
	again, err := errdoc.GenerateJS(".")
	if err != nil || !bytes.Equal(again, want) {
		t.Fatal("two renderings of the same source differ: the generator is not deterministic")
	}
	codes := []struct {
		name string
		code int
	}{
		{"VENDOR_KEY", errcode.CodeVendorKey},
		{"TOO_MANY_REQUESTS", errcode.CodeTooManyRequests},
		{"BAD_REQUEST", errcode.CodeBadRequest},
		{"BAD_ROLE", errcode.CodeBadRole},
		{"NOT_PUBLISHING", errcode.CodeNotPublishing},
		{"REFUSED", errcode.CodeRefused},
		{"INTERNAL", errcode.CodeInternal},
		{"SERVICE_LOST", errcode.CodeServiceLost},
		{"OVERLOADED", errcode.CodeOverloaded},
		{"ALLOCATION_FAILED", errcode.CodeAllocationFailed},
		{"REQUEST_TIMEOUT", errcode.CodeRequestTimeout},
		{"SOCKET_LOST", errcode.CodeSocketLost},
		{"CONNECT_FAILED", errcode.CodeConnectFailed},
		{"NO_REPLY_REQUEST_ID", 902},
	}
	for _, c := range codes {
		re := regexp.MustCompile(`(?m)^  ` + c.name + `: ` + strconv.Itoa(c.code) + `,?$`)
		if !re.Match(got) {
			t.Errorf("%s lacks CODE.%s = %d", jsPath, c.name, c.code)
		}
	}
	reasons := map[string]string{
		"INVALID_KEY":       errcode.ReasonInvalidKey,
		"NOT_FOUND":         errcode.ReasonNotFound,
		"CODEC_REJECTED":    errcode.ReasonCodecRejected,
		"SERVICE_LOST":      errcode.ReasonServiceLost,
		"NO_AUTHORIZED":     errcode.ReasonNoAuthorized,
		"BAD_REQUEST":       errcode.ReasonBadRequest,
		"INTERNAL":          errcode.ReasonInternal,
		"TOO_MANY_REQUESTS": errcode.ReasonTooManyRequests,
	}
	for name, reason := range reasons {
		if !bytes.Contains(got, []byte("  "+name+": "+strconv.Quote(reason))) {
			t.Errorf("%s lacks REASON.%s = %q", jsPath, name, reason)
		}
	}
}
