package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minirtc/minirtc/internal/config"
)

// instruction is one Dockerfile instruction with its arguments joined.
type instruction struct {
	cmd  string // upper case
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions (comments dropped,
// continuation lines joined) grouped by stage.
func parseDockerfile(src string) [][]instruction {
	var (
		stages [][]instruction
		cur    strings.Builder
		start  int
	)
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" || len(stages) == 0 {
			stages = append(stages, nil)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	sc := bufio.NewScanner(strings.NewReader(src))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// defaultPorts are the ports EXPOSE must list: the defaults of
// internal/config (HTTP and RTMP over TCP, WebRTC over UDP).
func defaultPorts(t *testing.T) (httpPort string, want []string) {
	t.Helper()
	def := config.Default()
	port := func(addr string) string {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("default address %q: %v", addr, err)
		}
		return p
	}
	httpPort = port(def.HTTP.Addr)
	return httpPort, []string{httpPort + "/tcp", port(def.RTMP.Addr) + "/tcp", port(def.WebRTC.UDPAddr) + "/udp"}
}

// checkDockerfile returns what the Dockerfile lacks of minirtc's
// essentials: several stages, a static (CGO_ENABLED=0) go build, a final
// stage that copies the binary from a build stage, runs as a non-root user,
// has a health check on /healthz and exposes the default ports.
func checkDockerfile(src, httpPort string, ports []string) []string {
	var problems []string
	stages := parseDockerfile(src)
	froms := 0
	for _, st := range stages {
		if len(st) > 0 && st[0].cmd == "FROM" {
			froms++
			image := strings.Fields(st[0].args)
			for _, f := range image {
				if strings.HasPrefix(f, "--") {
					continue
				}
				ref := f[strings.LastIndex(f, "/")+1:]
				if !strings.Contains(ref, ":") && !strings.Contains(ref, "@") || strings.HasSuffix(ref, ":latest") {
					problems = append(problems, fmt.Sprintf("line %d: FROM %s: pin the image tag", st[0].line, f))
				}
				break
			}
		}
	}
	if froms < 2 {
		return append(problems, "not a multi-stage build (want a build stage and a small final stage)")
	}
	static := false
	for _, st := range stages[:len(stages)-1] {
		cgoOff, builds := false, false
		for _, in := range st {
			if (in.cmd == "ENV" || in.cmd == "RUN" || in.cmd == "ARG") && strings.Contains(in.args, "CGO_ENABLED=0") {
				cgoOff = true
			}
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") && strings.Contains(in.args, "./cmd/minirtc") {
				builds = true
			}
		}
		static = static || (cgoOff && builds)
	}
	if !static {
		problems = append(problems, "no build stage runs go build ./cmd/minirtc with CGO_ENABLED=0")
	}
	final := stages[len(stages)-1]
	if strings.Contains(final[0].args, "golang") {
		problems = append(problems, "the final stage is based on a Go toolchain image")
	}
	var user, health, expose, entry, copyBin string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "HEALTHCHECK":
			health = in.args
		case "EXPOSE":
			expose += " " + in.args
		case "ENTRYPOINT", "CMD":
			entry += " " + in.args
		case "COPY":
			if strings.Contains(in.args, "--from=") && strings.Contains(in.args, "minirtc") {
				copyBin = in.args
			}
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		problems = append(problems, fmt.Sprintf("the final stage runs as root (USER %q)", user))
	}
	if health == "" || strings.EqualFold(strings.TrimSpace(health), "NONE") {
		problems = append(problems, "no HEALTHCHECK in the final stage")
	} else if !strings.Contains(health, ":"+httpPort+"/healthz") {
		problems = append(problems, fmt.Sprintf("HEALTHCHECK does not fetch /healthz on the default HTTP port %s", httpPort))
	}
	exposed := strings.Fields(expose)
	for i, p := range exposed {
		if !strings.Contains(p, "/") {
			exposed[i] = p + "/tcp"
		}
	}
	for _, p := range ports {
		if !slices.Contains(exposed, p) {
			problems = append(problems, fmt.Sprintf("EXPOSE lacks %s (a default port)", p))
		}
	}
	if copyBin == "" {
		problems = append(problems, "the final stage does not COPY --from a build stage the minirtc binary")
	}
	if !strings.Contains(entry, "minirtc") {
		problems = append(problems, "ENTRYPOINT/CMD does not run minirtc")
	}
	return problems
}

func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	httpPort, ports := defaultPorts(t)
	for _, p := range checkDockerfile(string(src), httpPort, ports) {
		t.Error("Dockerfile: " + p)
	}
	// The data directory the image sets must be a volume owned by the user.
	stages := parseDockerfile(string(src))
	var dataDir, volume string
	for _, in := range stages[len(stages)-1] {
		if v, ok := strings.CutPrefix(in.args, config.EnvName("dataDir")+"="); in.cmd == "ENV" && ok {
			dataDir = strings.Fields(v)[0]
		}
		if in.cmd == "VOLUME" {
			volume += in.args
		}
	}
	if dataDir == "" || !strings.Contains(volume, `"`+dataDir+`"`) {
		t.Errorf("Dockerfile: %s (%q) should be set and be a VOLUME (%s)", config.EnvName("dataDir"), dataDir, volume)
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "minirtc-data", "**/node_modules"} {
		if !slices.Contains(strings.Fields(string(ignore)), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}

// TestDockerfileChecker shows checkDockerfile catches what it is for.
func TestDockerfileChecker(t *testing.T) {
	good := `FROM golang:1.26 AS build
ENV CGO_ENABLED=0
RUN go build -o /out/minirtc ./cmd/minirtc
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/minirtc /minirtc
USER 65532
EXPOSE 8080/tcp 1935 \
  8443/udp
HEALTHCHECK CMD ["/wget", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/minirtc"]
`
	cases := []struct {
		name, src, want string
	}{
		{"good", good, ""},
		{"single stage", "FROM golang:1.26\nRUN CGO_ENABLED=0 go build ./cmd/minirtc\n", "multi-stage"},
		{"cgo", strings.Replace(good, "ENV CGO_ENABLED=0\n", "", 1), "CGO_ENABLED=0"},
		{"root", strings.Replace(good, "USER 65532", "USER root", 1), "runs as root"},
		{"no user", strings.Replace(good, "USER 65532\n", "", 1), "runs as root"},
		{"no healthcheck", strings.Replace(good, "HEALTHCHECK", "# HEALTHCHECK", 1), "no HEALTHCHECK"},
		{"udp missing", strings.Replace(good, "8443/udp", "", 1), "8443/udp"},
		{"unpinned", strings.Replace(good, "golang:1.26", "golang", 1), "pin the image tag"},
		{"latest", strings.Replace(good, "static-debian12:nonroot", "static-debian12:latest", 1), "pin the image tag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := strings.Join(checkDockerfile(c.src, "8080", []string{"8080/tcp", "1935/tcp", "8443/udp"}), "; ")
			if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
				t.Fatalf("problems %q, want one about %q", got, c.want)
			}
		})
	}
}

// unit is a parsed systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", path, i+1, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// last is the effective value of a single-valued key ("" when unset).
func (u unit) last(section, key string) (string, bool) {
	vs, ok := u[section][key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, "minirtc.service")
	for _, kv := range []struct{ key, want string }{
		{"DynamicUser", "yes"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"StateDirectory", "minirtc"},
		{"ConfigurationDirectory", "minirtc"},
		{"RestrictNamespaces", "yes"},
		{"MemoryDenyWriteExecute", "yes"},
		{"SystemCallArchitectures", "native"},
	} {
		got, ok := u.last("Service", kv.key)
		if !ok || got != kv.want {
			t.Errorf("minirtc.service: %s=%q (set: %v), want %q", kv.key, got, ok, kv.want)
		}
	}
	exec, _ := u.last("Service", "ExecStart")
	if !strings.Contains(exec, " serve ") || !strings.Contains(exec, "--config /etc/minirtc/") {
		t.Errorf("ExecStart %q should run serve with a config in /etc/minirtc (ConfigurationDirectory)", exec)
	}
	if fams, _ := u.last("Service", "RestrictAddressFamilies"); strings.Contains(fams, "AF_PACKET") || fams == "" {
		t.Errorf("RestrictAddressFamilies=%q", fams)
	}

	// The drop-in grants the one capability for low ports, nothing else.
	d := parseUnit(t, "minirtc-low-ports.conf")
	if len(d) != 1 || len(d["Service"]) != 2 {
		t.Fatalf("minirtc-low-ports.conf sets %v, want only the two capability keys", d)
	}
	for _, key := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if got, _ := d.last("Service", key); got != "CAP_NET_BIND_SERVICE" {
			t.Errorf("minirtc-low-ports.conf: %s=%q, want CAP_NET_BIND_SERVICE", key, got)
		}
	}
}

// verifyUnit runs systemd-analyze verify on a copy of the unit (and its
// drop-ins) whose ExecStart points at a stand-in executable, since the real
// binary is not installed here. It returns the diagnostics about the unit.
func verifyUnit(t *testing.T, unitText string, dropIns map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "minirtc")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unitText = strings.ReplaceAll(unitText, "/usr/local/bin/minirtc", bin)
	if err := os.WriteFile(filepath.Join(dir, "minirtc.service"), []byte(unitText), 0o644); err != nil {
		t.Fatal(err)
	}
	if len(dropIns) > 0 {
		dd := filepath.Join(dir, "minirtc.service.d")
		if err := os.Mkdir(dd, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, text := range dropIns {
			if err := os.WriteFile(filepath.Join(dd, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command("systemd-analyze", "verify", filepath.Join(dir, "minirtc.service"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var diags []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, dir) || strings.Contains(line, "minirtc") {
			diags = append(diags, strings.ReplaceAll(line, dir+"/", ""))
		}
	}
	if err != nil {
		diags = append(diags, "systemd-analyze verify: "+err.Error())
	}
	return strings.Join(diags, "\n")
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unitText, err := os.ReadFile("minirtc.service")
	if err != nil {
		t.Fatal(err)
	}
	lowPorts, err := os.ReadFile("minirtc-low-ports.conf")
	if err != nil {
		t.Fatal(err)
	}
	if d := verifyUnit(t, string(unitText), nil); d != "" {
		t.Errorf("minirtc.service:\n%s", d)
	}
	if d := verifyUnit(t, string(unitText), map[string]string{"low-ports.conf": string(lowPorts)}); d != "" {
		t.Errorf("minirtc.service with minirtc-low-ports.conf:\n%s", d)
	}
	// The check itself: a misspelt and a mistyped directive are reported.
	for _, bad := range []string{"ProtectSytem=strict", "ProtectSystem=stricter"} {
		broken := strings.Replace(string(unitText), "ProtectSystem=strict", bad, 1)
		if d := verifyUnit(t, broken, nil); d == "" {
			t.Errorf("systemd-analyze verify found nothing wrong with %s", bad)
		}
	}
}

// maxExposure is the highest "systemd-analyze security" exposure level the
// unit may have, times ten (the unit rates 1.4 with systemd 252, 1.6 with
// the low-ports drop-in).
const maxExposure = 20

// TestSystemdExposure keeps the unit's hardening from eroding: systemd's
// own rating of the unit, with the low-ports drop-in, stays at or below 2.0.
func TestSystemdExposure(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unitText, err := os.ReadFile("minirtc.service")
	if err != nil {
		t.Fatal(err)
	}
	lowPorts, err := os.ReadFile("minirtc-low-ports.conf")
	if err != nil {
		t.Fatal(err)
	}
	rate := func(unitText string) (string, error) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "minirtc.service.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "minirtc.service.d", "low-ports.conf"), lowPorts, 0o644); err != nil {
			t.Fatal(err)
		}
		unit := filepath.Join(dir, "minirtc.service")
		if err := os.WriteFile(unit, []byte(unitText), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("systemd-analyze", "security", "--offline=true",
			"--threshold="+strconv.Itoa(maxExposure), "--no-pager", unit).CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], err
	}
	summary, err := rate(string(unitText))
	if err != nil && strings.Contains(summary, "unrecognized option") {
		t.Skip("this systemd-analyze cannot rate unit files offline")
	}
	t.Log(summary)
	if err != nil {
		t.Errorf("exposure above %.1f: %s (%v)", float64(maxExposure)/10, summary, err)
	}
	// The check itself: without the sandboxing the rating fails.
	var loose []string
	for _, line := range strings.Split(string(unitText), "\n") {
		if strings.HasPrefix(line, "Protect") || strings.HasPrefix(line, "Private") || strings.HasPrefix(line, "SystemCall") ||
			strings.HasPrefix(line, "Restrict") || strings.HasPrefix(line, "CapabilityBoundingSet") {
			continue
		}
		loose = append(loose, line)
	}
	if _, err := rate(strings.Join(loose, "\n")); err == nil {
		t.Error("a unit without its sandboxing still passed the exposure threshold")
	}
}

func TestExampleConfig(t *testing.T) {
	cfg := config.Default()
	if err := cfg.LoadFile("minirtc.yml"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, "minirtc.service")
	state, _ := u.last("Service", "StateDirectory")
	if cfg.DataDir != "/var/lib/"+state {
		t.Errorf("dataDir %q is not the unit's state directory /var/lib/%s", cfg.DataDir, state)
	}
	if cfg.HTTP.TLSCert == "" || cfg.PublicHost == "" || len(cfg.WebRTC.PublicIPs) == 0 {
		t.Errorf("the production example should set TLS, publicHost and webrtc.publicIPs")
	}
	// TLS files come from the unit's LoadCredential entries.
	creds := map[string]bool{}
	for _, lc := range u["Service"]["LoadCredential"] {
		name, _, _ := strings.Cut(lc, ":")
		creds["/run/credentials/minirtc.service/"+name] = true
	}
	for _, f := range []string{cfg.HTTP.TLSCert, cfg.HTTP.TLSKey} {
		if !creds[f] {
			t.Errorf("%s is not a credential the unit loads (%v)", f, u["Service"]["LoadCredential"])
		}
	}
	// A port below 1024 needs the low-ports drop-in, which must exist.
	_, p, _ := net.SplitHostPort(cfg.HTTP.Addr)
	if n, _ := strconv.Atoi(p); n < 1024 {
		if _, err := os.Stat("minirtc-low-ports.conf"); err != nil {
			t.Errorf("http.addr %s needs the low-ports drop-in: %v", cfg.HTTP.Addr, err)
		}
	}
}
