package diag

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Upload is one LOG.uploadLogs body, already decoded and type-checked by the
// caller (the gateway); the strings are the client's and are never used in
// a path as they are.
type Upload struct {
	App        string
	Channel    string // may be empty: an upload before join (a failed join is worth a log)
	UID        uint32 // 0 when unknown
	SID        string
	SDKVersion string
	ClientType string
	Device     string
	OS         string
	ClientTS   int64  // client clock, unix ms
	Remote     string // client address as the server saw it
	Lines      []string
}

// LogFile describes one stored upload.
type LogFile struct {
	App      string    `json:"app"`
	Day      string    `json:"day"`  // yyyy-mm-dd (UTC, server clock)
	Name     string    `json:"name"` // file name in the day directory
	Channel  string    `json:"channel"`
	UID      uint32    `json:"uid"`
	Received time.Time `json:"received"`
	Size     int64     `json:"size"`
}

const (
	dayLayout = "2006-01-02"
	logExt    = ".log"
	maxAppDir = 64  // app ids used as directory names as they are
	maxAppID  = 128 // encoded, still a short directory name
	filePerm  = 0o640
	dirPerm   = 0o750
)

var b64 = base64.RawURLEncoding

// appDir is the directory of an app: the id itself when it is a plain token
// (what the store generates: 32 hex digits), else "_" + base64url(id), which
// no plain token starts with.
func appDir(app string) string {
	if len(app) > 0 && len(app) <= maxAppDir && strings.Trim(app, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == "" {
		return app
	}
	return "_" + b64.EncodeToString([]byte(app))
}

// logName is {base64url(channel)}_{uid}_{unixms}.log. The channel part may
// itself contain '_' (base64url), so names are parsed from the right.
func logName(channel string, uid uint32, ms int64) string {
	return b64.EncodeToString([]byte(channel)) + "_" + strconv.FormatUint(uint64(uid), 10) + "_" + strconv.FormatInt(ms, 10) + logExt
}

// parseLogName inverts logName; it accepts only canonical names.
func parseLogName(name string) (channel string, uid uint32, ms int64, ok bool) {
	rest, found := strings.CutSuffix(name, logExt)
	if !found {
		return "", 0, 0, false
	}
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return "", 0, 0, false
	}
	msText := rest[i+1:]
	rest = rest[:i]
	j := strings.LastIndexByte(rest, '_')
	if j < 0 {
		return "", 0, 0, false
	}
	u, err1 := strconv.ParseUint(rest[j+1:], 10, 32)
	m, err2 := strconv.ParseInt(msText, 10, 64)
	ch, err3 := b64.DecodeString(rest[:j])
	if err1 != nil || err2 != nil || err3 != nil || m < 0 || len(ch) > MaxChannelBytes {
		return "", 0, 0, false
	}
	if logName(string(ch), uint32(u), m) != name { // leading zeros, "+1", non-canonical base64
		return "", 0, 0, false
	}
	return string(ch), uint32(u), m, true
}

func validDay(day string) bool {
	t, err := time.Parse(dayLayout, day)
	return err == nil && t.Format(dayLayout) == day
}

type appDay struct{ app, day string }

type logRec struct {
	name string
	size int64
}

// dayUsage is the disk use of one app on one day, oldest file first.
type dayUsage struct {
	bytes int64
	files []logRec
}

// sanitizeLine makes one line safe to store one per line and to print on a
// terminal: valid UTF-8, no control characters (CR, LF, ESC… become escapes),
// at most maxLen bytes (cut at a rune boundary, with a mark).
func sanitizeLine(s string, maxLen int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	cut := 0
	if len(s) > maxLen {
		n := maxLen
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		cut = len(s) - n
		s = s[:n]
	}
	clean := true
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			clean = false
			break
		}
	}
	if !clean {
		var b strings.Builder
		for _, r := range s {
			switch {
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r < 0x20 && r != '\t' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029':
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	if cut > 0 {
		s += fmt.Sprintf(" …[%d bytes cut]", cut)
	}
	return s
}

type logHeader struct {
	App        string `json:"app"`
	Channel    string `json:"channel"`
	UID        uint32 `json:"uid"`
	SID        string `json:"sid,omitempty"`
	SDKVersion string `json:"sdkVersion,omitempty"`
	ClientType string `json:"clientType,omitempty"`
	Device     string `json:"device,omitempty"`
	OS         string `json:"os,omitempty"`
	ClientTS   int64  `json:"clientTs,omitempty"`
	Received   string `json:"received"`
	Remote     string `json:"remote,omitempty"`
	Lines      int    `json:"lines"`
}

// WriteLog stores one upload as a new file and returns it. The first line of
// the file is a JSON header (identity, device, receive time); each client
// line follows on its own line, sanitized. To stay within AppDayBytes the
// oldest files of the app's day are removed first.
func (s *Store) WriteLog(u Upload) (LogFile, error) {
	if s.cfg.Dir == "" {
		return LogFile{}, errors.New("diag: log uploads are disabled (no directory configured)")
	}
	if u.App == "" || len(u.App) > maxAppID {
		return LogFile{}, fmt.Errorf("%w: app id must be 1..%d bytes (got %d)", ErrInvalid, maxAppID, len(u.App))
	}
	if len(u.Channel) > MaxChannelBytes {
		return LogFile{}, fmt.Errorf("%w: channel is %d bytes, at most %d", ErrInvalid, len(u.Channel), MaxChannelBytes)
	}
	if len(u.Lines) > s.cfg.MaxLogLines {
		return LogFile{}, fmt.Errorf("%w: %d lines, at most %d", ErrTooLarge, len(u.Lines), s.cfg.MaxLogLines)
	}
	var total int64
	for _, l := range u.Lines {
		total += int64(len(l))
	}
	if total > s.cfg.MaxLogBytes {
		return LogFile{}, fmt.Errorf("%w: %d bytes of lines, at most %d", ErrTooLarge, total, s.cfg.MaxLogBytes)
	}

	now := s.cfg.Now()
	hdr, _ := json.Marshal(logHeader{App: u.App, Channel: u.Channel, UID: u.UID, SID: u.SID, SDKVersion: u.SDKVersion,
		ClientType: u.ClientType, Device: u.Device, OS: u.OS, ClientTS: u.ClientTS,
		Received: now.UTC().Format(time.RFC3339Nano), Remote: u.Remote, Lines: len(u.Lines)})
	var body bytes.Buffer
	body.Grow(len(hdr) + int(total) + len(u.Lines) + 64)
	body.Write(hdr)
	body.WriteByte('\n')
	for _, l := range u.Lines {
		body.WriteString(sanitizeLine(l, s.cfg.MaxLineBytes))
		body.WriteByte('\n')
	}
	size := int64(body.Len())

	s.logMu.Lock()
	defer s.logMu.Unlock()
	if err := os.MkdirAll(s.cfg.Dir, dirPerm); err != nil {
		return LogFile{}, fmt.Errorf("diag: create log directory: %w", err)
	}
	root, err := os.OpenRoot(s.cfg.Dir)
	if err != nil {
		return LogFile{}, fmt.Errorf("diag: open log directory: %w", err)
	}
	defer func() { _ = root.Close() }() // a directory handle: nothing to flush

	day := now.UTC().Format(dayLayout)
	dir := path.Join(appDir(u.App), day)
	usage, err := s.usageLocked(root, u.App, day)
	if err != nil {
		return LogFile{}, err
	}
	for usage.bytes+size > s.cfg.AppDayBytes && len(usage.files) > 0 {
		old := usage.files[0]
		if err := root.Remove(path.Join(dir, old.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return LogFile{}, fmt.Errorf("diag: prune %s: %w", old.name, err)
		}
		usage.files = usage.files[1:]
		usage.bytes -= old.size
		s.log.Debug("log pruned", "app", u.App, "day", day, "file", old.name, "size", old.size)
	}
	if err := root.MkdirAll(dir, dirPerm); err != nil {
		return LogFile{}, fmt.Errorf("diag: create %s: %w", dir, err)
	}
	ms := now.UnixMilli()
	var f *os.File
	var name string
	for range 1000 { // same member, same millisecond: the next free one
		name = logName(u.Channel, u.UID, ms)
		f, err = root.OpenFile(path.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
		ms++
	}
	if err != nil {
		return LogFile{}, fmt.Errorf("diag: create log file: %w", err)
	}
	_, werr := f.Write(body.Bytes())
	cerr := f.Close()
	if werr != nil || cerr != nil {
		_ = root.Remove(path.Join(dir, name))
		return LogFile{}, fmt.Errorf("diag: write %s: %w", name, errors.Join(werr, cerr))
	}
	usage.files = append(usage.files, logRec{name: name, size: size})
	usage.bytes += size
	return LogFile{App: u.App, Day: day, Name: name, Channel: u.Channel, UID: u.UID,
		Received: time.UnixMilli(ms).UTC(), Size: size}, nil
}

// usageLocked returns the app's disk use for day, scanning the directory the
// first time that day; a new day also applies the retention. s.logMu held.
func (s *Store) usageLocked(root *os.Root, app, day string) (*dayUsage, error) {
	key := appDay{app, day}
	if u := s.usage[key]; u != nil {
		return u, nil
	}
	for k := range s.usage {
		if k.day != day {
			delete(s.usage, k)
		}
	}
	s.pruneDaysLocked(root, day)
	u := &dayUsage{}
	files, err := listLogs(root, app, day)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		u.files = append(u.files, logRec{name: f.Name, size: f.Size})
		u.bytes += f.Size
	}
	s.usage[key] = u
	return u, nil
}

// pruneDaysLocked removes the day directories, of every app, that fell out
// of the retention; it runs on the first upload of each day. Entries that
// are not day directories are left alone.
func (s *Store) pruneDaysLocked(root *os.Root, today string) {
	if s.prunedDay == today {
		return
	}
	s.prunedDay = today
	t, _ := time.Parse(dayLayout, today)
	oldest := t.AddDate(0, 0, -(s.cfg.RetentionDays - 1)).Format(dayLayout)
	for _, app := range readDir(root, ".") {
		if !app.IsDir() {
			continue
		}
		for _, e := range readDir(root, app.Name()) {
			if !e.IsDir() || !validDay(e.Name()) || e.Name() >= oldest {
				continue
			}
			if err := root.RemoveAll(path.Join(app.Name(), e.Name())); err != nil {
				s.log.Warn("cannot remove old logs", "dir", app.Name(), "day", e.Name(), "err", err)
			} else {
				s.log.Debug("old logs removed", "dir", app.Name(), "day", e.Name())
			}
		}
	}
}

func readDir(root *os.Root, name string) []fs.DirEntry {
	d, err := root.Open(name)
	if err != nil {
		return nil
	}
	defer func() { _ = d.Close() }() // a directory handle: nothing to flush
	entries, _ := d.ReadDir(-1)
	return entries
}

// listLogs lists the uploads of app on day, oldest first; files whose names
// are not ours are ignored.
func listLogs(root *os.Root, app, day string) ([]LogFile, error) {
	d, err := root.Open(path.Join(appDir(app), day))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("diag: list logs: %w", err)
	}
	entries, err := d.ReadDir(-1)
	_ = d.Close() // a directory handle: nothing to flush
	if err != nil {
		return nil, fmt.Errorf("diag: list logs: %w", err)
	}
	var out []LogFile
	for _, e := range entries {
		ch, uid, ms, ok := parseLogName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, LogFile{App: app, Day: day, Name: e.Name(), Channel: ch, UID: uid,
			Received: time.UnixMilli(ms).UTC(), Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b LogFile) int {
		if c := a.Received.Compare(b.Received); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// Logs lists the uploads of app on day (yyyy-mm-dd), oldest first.
func (s *Store) Logs(app, day string) ([]LogFile, error) {
	if s.cfg.Dir == "" || app == "" || !validDay(day) {
		return nil, nil
	}
	root, err := os.OpenRoot(s.cfg.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("diag: open log directory: %w", err)
	}
	defer func() { _ = root.Close() }() // a directory handle: nothing to flush
	return listLogs(root, app, day)
}

// ReadLog returns the content of one upload listed by Logs. Names that Logs
// could not have returned are ErrNotFound, whatever exists on disk.
func (s *Store) ReadLog(app, day, name string) ([]byte, error) {
	if _, _, _, ok := parseLogName(name); !ok || s.cfg.Dir == "" || app == "" || !validDay(day) {
		return nil, ErrNotFound
	}
	root, err := os.OpenRoot(s.cfg.Dir)
	if err != nil {
		return nil, ErrNotFound
	}
	defer func() { _ = root.Close() }() // a directory handle: nothing to flush
	b, err := root.ReadFile(path.Join(appDir(app), day, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("diag: read log: %w", err)
	}
	return b, nil
}
