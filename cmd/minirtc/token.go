package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/minirtc/minirtc/internal/token"
)

const tokenUsage = `minirtc token build --app-id ID --app-cert CERT --channel NAME (--uid N | --account S) [--role publisher|subscriber] [--expire SECONDS] [--format 007|006]
       minirtc token inspect TOKEN [--app-cert CERT] [--channel NAME --uid N|--account S]`

func tokenCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: %s\n", tokenUsage)
		return errUsage
	}
	switch args[0] {
	case "build":
		return tokenBuild(args[1:], stdout, stderr)
	case "inspect":
		return tokenInspect(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "minirtc token: unknown subcommand %q\nusage: %s\n", args[0], tokenUsage)
		return errUsage
	}
}

func tokenBuild(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token build", stderr, tokenUsage)
	appID := fs.String("app-id", "", "app id (32 hex chars)")
	cert := fs.String("app-cert", "", "app certificate (32 hex chars)")
	channel := fs.String("channel", "", "channel name")
	uid := fs.String("uid", "", "numeric uid (0 = any uid)")
	account := fs.String("account", "", "string account (instead of --uid)")
	role := fs.String("role", "publisher", "publisher or subscriber")
	expire := fs.Uint("expire", 86400, "lifetime in seconds")
	format := fs.String("format", "007", "007 (AccessToken2) or 006 (legacy AccessToken)")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		fs.Usage()
		return errUsage
	}
	if *appID == "" || *cert == "" || *channel == "" || (*uid == "") == (*account == "") {
		fs.Usage()
		return fmt.Errorf("--app-id, --app-cert, --channel and exactly one of --uid/--account are required")
	}
	u := *account
	if *uid != "" {
		n, err := strconv.ParseUint(*uid, 10, 32)
		if err != nil {
			return fmt.Errorf("--uid %q: must be an unsigned 32-bit integer (use --account for strings)", *uid)
		}
		u = strconv.FormatUint(n, 10)
	}
	r, err := token.ParseRole(*role)
	if err != nil {
		return err
	}
	if *expire == 0 || *expire > 1<<31 {
		return fmt.Errorf("--expire must be 1..2147483648 seconds")
	}
	o := token.RTCOptions{AppID: *appID, AppCert: *cert, Channel: *channel, UID: u, Role: r,
		IssuedAt: time.Now(), Lifetime: uint32(*expire)}
	var s string
	switch *format {
	case "007":
		s, err = token.BuildRTC007(o)
	case "006":
		s, err = token.BuildRTC006(o)
	default:
		return fmt.Errorf("--format %q: want 007 or 006", *format)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s)
	return nil
}

type inspection struct {
	*token.Token
	Signature string `json:"signature"`
	IssuedAt  string `json:"issuedAt,omitempty"`
	ExpiresAt string `json:"expiresAt,omitempty"`
	// Verified is set when a certificate was given.
	Verified *bool  `json:"verified,omitempty"`
	Error    string `json:"error,omitempty"`
}

func tokenInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token inspect", stderr, tokenUsage)
	cert := fs.String("app-cert", "", "app certificate: also verify the signature")
	channel := fs.String("channel", "", "channel to verify against (default: the token's own; required for 006)")
	uid := fs.String("uid", "", "uid to verify against (default: the token's own)")
	account := fs.String("account", "", "account to verify against")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	t, err := token.Parse(pos[0])
	if err != nil {
		return fmt.Errorf("malformed token: %w", err)
	}
	out := inspection{Token: t, Signature: hex.EncodeToString(t.Signature)}
	switch t.Version {
	case token.Version007:
		out.IssuedAt = time.Unix(int64(t.IssueTs), 0).UTC().Format(time.RFC3339)
		if t.Expire != 0 {
			out.ExpiresAt = time.Unix(int64(t.IssueTs)+int64(t.Expire), 0).UTC().Format(time.RFC3339)
		}
	case token.Version006:
		out.ExpiresAt = time.Unix(int64(t.Expire), 0).UTC().Format(time.RFC3339)
	}
	if *cert != "" {
		c := token.Claims{AppID: t.AppID, AppCert: *cert, Channel: *channel, UID: *uid}
		if *account != "" {
			c.UID = *account
		}
		if rtc, ok := t.RTC(); ok && t.Version == token.Version007 {
			if c.Channel == "" {
				c.Channel = rtc.Channel
			}
			if c.UID == "" {
				c.UID = rtc.UID
			}
		}
		// Check the signature and claims as of the token's issue time, then
		// report expiry separately.
		at := time.Unix(int64(t.IssueTs), 0)
		if t.Version == token.Version006 {
			at = time.Unix(0, 0)
		}
		_, verr := t.Verify(c, at)
		ok := verr == nil
		out.Verified = &ok
		if verr != nil {
			out.Error = verr.Error()
		} else if _, err := t.Verify(c, time.Now()); err != nil {
			out.Error = err.Error()
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
