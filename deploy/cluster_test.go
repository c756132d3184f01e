package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/minirtc/minirtc/internal/config"
)

// composeFile is the part of a Compose file the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// interpolate replaces Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}
// with vars[VAR] (the default when unset) and $$ with $, as docker compose
// would with those variables exported.
func interpolate(s string, vars map[string]string) string {
	re := regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := re.FindStringSubmatch(m)
		if v, ok := vars[sub[1]]; ok && v != "" {
			return v
		}
		if strings.HasSuffix(sub[2], "-") {
			return sub[3]
		}
		return ""
	})
}

// composeVars are the variables the cluster's compose file asks for.
var composeVars = map[string]string{
	"HOST_IP":         "192.0.2.10",
	"REDIS_PASSWORD":  "redis-password-of-test",
	"MINIRTC_API_KEY": "ops:0123456789abcdef0123",
}

// checkCompose returns what is wrong with the cluster's compose file (its
// text, in directory dir): it must parse; every MINIRTC_ variable must be a
// configuration key and each node's settings must validate; the nodes must be
// built from the repository's Dockerfile; each node must listen on the ports
// it publishes (same number inside and out), with distinct host ports, node
// ids and advertised addresses, and a health check on its own HTTP port; and
// Redis must not be published.
func checkCompose(src, dir string) []string {
	var problems []string
	var cf composeFile
	if err := yaml.Unmarshal([]byte(interpolate(src, composeVars)), &cf); err != nil {
		return []string{"not YAML: " + err.Error()}
	}
	keys := map[string]bool{}
	def := config.Default()
	for _, f := range def.Fields() {
		keys[config.EnvName(f.Path)] = true
	}
	hostPorts := map[string]string{} // "8081/tcp" -> service
	ids, adverts := map[string]string{}, map[string]string{}
	nodes := 0
	names := make([]string, 0, len(cf.Services))
	for name := range cf.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		svc := cf.Services[name]
		bad := func(format string, args ...any) {
			problems = append(problems, name+": "+fmt.Sprintf(format, args...))
		}
		for _, p := range svc.Ports {
			host, _ := portMapping(p)
			if prev, dup := hostPorts[host]; dup {
				bad("host port %s is also published by %s", host, prev)
			}
			hostPorts[host] = name
		}
		if !strings.Contains(svc.Image, "minirtc") && svc.Build == nil {
			if strings.HasPrefix(svc.Image, "redis:") && len(svc.Ports) > 0 {
				bad("publishes Redis (%v): keep it on the compose network", svc.Ports)
			}
			continue
		}
		nodes++
		if svc.Build == nil {
			bad("not built from the repository's Dockerfile (no build:)")
		} else {
			df := svc.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			ctxDir := filepath.Join(dir, svc.Build.Context)
			if _, err := os.Stat(filepath.Join(ctxDir, "go.mod")); err != nil {
				bad("build context %s is not the repository root", svc.Build.Context)
			}
			if abs, _ := filepath.Abs(filepath.Join(ctxDir, df)); abs != repoDockerfile() {
				bad("builds %s, not the repository's Dockerfile", filepath.Join(svc.Build.Context, df))
			}
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			if strings.HasPrefix(k, config.EnvPrefix) && !keys[k] {
				bad("%s is not a configuration key (config.EnvName of a YAML path)", k)
			}
			env[k] = v
		}
		cfg := config.Default()
		if err := cfg.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
			bad("%v", err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			bad("%v", err)
		}
		if !cfg.Cluster.Enabled() {
			bad("cluster mode is off (no %s)", config.EnvName("cluster.redis"))
		}
		if cfg.Cluster.NodeID == "" {
			bad("no %s", config.EnvName("cluster.nodeId"))
		} else if prev, dup := ids[cfg.Cluster.NodeID]; dup {
			bad("node id %s is also %s's", cfg.Cluster.NodeID, prev)
		}
		ids[cfg.Cluster.NodeID] = name
		if cfg.PublicHost == "" {
			bad("no %s", config.EnvName("publicHost"))
		}
		published := map[string]bool{}
		for _, p := range svc.Ports {
			host, inside := portMapping(p)
			if host != inside {
				bad("publishes %s: a node must listen on the port number it is reached at", p)
			}
			published[inside] = true
		}
		httpPort := port(cfg.HTTP.Addr)
		for _, want := range []string{httpPort + "/tcp", port(cfg.RTMP.Addr) + "/tcp", port(cfg.WebRTC.UDPAddr) + "/udp"} {
			if !published[want] {
				bad("listens on %s but does not publish it under the same number", want)
			}
		}
		adv := cfg.Cluster.Advertise
		if adv == "" {
			adv = "http://" + net.JoinHostPort(cfg.PublicHost, httpPort)
		}
		if !strings.HasSuffix(strings.TrimSuffix(adv, "/"), ":"+httpPort) {
			bad("advertises %s, not its HTTP port %s", adv, httpPort)
		}
		if prev, dup := adverts[adv]; dup {
			bad("advertises %s like %s", adv, prev)
		}
		adverts[adv] = name
		if !strings.Contains(strings.Join(svc.Healthcheck.Test, " "), ":"+httpPort+"/healthz") {
			bad("its health check %v does not fetch /healthz on its HTTP port %s", svc.Healthcheck.Test, httpPort)
		}
	}
	if nodes < 3 {
		problems = append(problems, fmt.Sprintf("%d minirtc nodes, want 3", nodes))
	}
	return problems
}

// portMapping splits a short Compose port ("8081:8081/udp") into the host
// and container sides, each with its protocol.
func portMapping(p string) (host, inside string) {
	spec, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	parts := strings.Split(spec, ":")
	inside = parts[len(parts)-1] + "/" + proto
	host = inside
	if len(parts) > 1 {
		host = parts[len(parts)-2] + "/" + proto
	}
	return host, inside
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func repoDockerfile() string {
	abs, _ := filepath.Abs(filepath.Join("..", "Dockerfile"))
	return abs
}

func TestClusterCompose(t *testing.T) {
	src, err := os.ReadFile("cluster/compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkCompose(string(src), "cluster") {
		t.Error("cluster/compose.yml: " + p)
	}
}

// TestClusterComposeChecker shows checkCompose catches what it is for.
func TestClusterComposeChecker(t *testing.T) {
	src, err := os.ReadFile("cluster/compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	good := string(src)
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown variable", "MINIRTC_CLUSTER_LEASE_TTL:", "MINIRTC_CLUSTER_LEASE_TIME:", "not a configuration key"},
		{"bad value", "MINIRTC_CLUSTER_LEASE_TTL: 10s", "MINIRTC_CLUSTER_LEASE_TTL: 10", "not a duration"},
		{"host port collision", `"8082:8082/tcp"`, `"8081:8082/tcp"`, "also published"},
		{"inside differs", `"8443:8443/udp"`, `"8443:8444/udp"`, "same number"},
		{"same node id", "MINIRTC_CLUSTER_NODE_ID: n3", "MINIRTC_CLUSTER_NODE_ID: n2", "also n2"},
		{"other dockerfile", "dockerfile: Dockerfile", "dockerfile: deploy/Dockerfile", "not the repository's Dockerfile"},
		{"other context", "context: ../..", "context: ..", "not the repository root"},
		{"redis published", "    image: redis:7.4\n", "    image: redis:7.4\n    ports: [\"6379:6379\"]\n", "publishes Redis"},
		{"health check port", "http://127.0.0.1:8082/healthz", "http://127.0.0.1:8080/healthz", "health check"},
		{"not yaml", "services:", "services: [", "not YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.from) {
				t.Fatalf("compose.yml no longer has %q", c.from)
			}
			got := strings.Join(checkCompose(strings.Replace(good, c.from, c.to, 1), "cluster"), "; ")
			if !strings.Contains(got, c.want) {
				t.Fatalf("problems %q, want one about %q", got, c.want)
			}
		})
	}
}

// markdownBlocks returns the sh blocks of the section under heading ("## "
// level) of a Markdown file, in order, each as its non-empty lines.
func markdownBlocks(t *testing.T, path, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## "+heading+"\n")
	if i < 0 {
		t.Fatalf("%s has no section %q", path, heading)
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:j+3]
	}
	var blocks [][]string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(s, -1) {
		var lines []string
		for _, l := range strings.Split(m[1], "\n") {
			if strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
		blocks = append(blocks, lines)
	}
	return blocks
}

// needClusterTool skips the test without tool, or fails it when
// MINIRTC_REQUIRE_REDIS=1 (CI), where the cluster's tests must run.
func needClusterTool(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("MINIRTC_REQUIRE_REDIS") == "1" {
			t.Fatalf("%s not found and MINIRTC_REQUIRE_REDIS=1", tool)
		}
		t.Skipf("%s not installed", tool)
	}
}

// TestClusterREADMEPlainCommands runs the plain-commands section of
// cluster/README.md verbatim, as a user pastes it into a shell in an empty
// directory with minirtc on the PATH: Redis and three nodes on loopback, the
// check (each /healthz, and GET /rest/v1/nodes through another node than the
// first), and the stop. It runs in a network namespace of its own, so the
// fixed ports are free, and asserts the check printed three healthy nodes and
// a node list of n1, n2 and n3, and that every process exited when stopped.
func TestClusterREADMEPlainCommands(t *testing.T) {
	for _, tool := range []string{"redis-server", "redis-cli", "curl", "unshare", "ip", "bash", "go"} {
		needClusterTool(t, tool)
	}
	blocks := markdownBlocks(t, "cluster/README.md", "Plain commands")
	if len(blocks) != 3 {
		t.Fatalf("the section has %d sh blocks, want 3 (start, check, stop)", len(blocks))
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "minirtc"), "./cmd/minirtc")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	const mark = "=== README block "
	var script strings.Builder
	for i, b := range blocks {
		fmt.Fprintf(&script, "echo '%s%d'\n%s\n", mark, i+1, strings.Join(b, "\n"))
	}
	script.WriteString("echo '" + mark + "done'\n")
	scriptPath := filepath.Join(dir, "readme.sh")
	if err := os.WriteFile(scriptPath, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "bash", "-c", `ip link set lo up && set -e && . "$0"`, scriptPath)
	cmd.Dir = work
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "REDISCLI_AUTH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+dir)
	outPath := filepath.Join(dir, "out.txt")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	runErr := cmd.Run()
	// Whatever the README's stop block left running is a failure; end it.
	leftover := syscall.Kill(-cmd.Process.Pid, 0) == nil
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	got, _ := os.ReadFile(outPath)
	logs := func() string {
		var b strings.Builder
		for _, f := range []string{"redis/redis.log", "n1/minirtc.log", "n2/minirtc.log", "n3/minirtc.log"} {
			l, _ := os.ReadFile(filepath.Join(work, f))
			fmt.Fprintf(&b, "--- %s\n%s", f, l)
		}
		return b.String()
	}
	if runErr != nil {
		t.Fatalf("README commands failed: %v\n%s\n%s", runErr, got, logs())
	}
	text := string(got)
	check := between(text, mark+"2\n", mark+"3\n")
	var health []map[string]any
	var nodes struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		Total int `json:"total"`
	}
	for _, line := range strings.Split(check, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if _, ok := m["items"]; ok {
			if err := json.Unmarshal([]byte(line), &nodes); err != nil {
				t.Fatal(err)
			}
			continue
		}
		health = append(health, m)
	}
	if len(health) != 3 {
		t.Fatalf("the check printed %d /healthz answers, want 3:\n%s", len(health), check)
	}
	for i, h := range health {
		if h["status"] != "ok" {
			t.Errorf("/healthz of node %d: %v", i+1, h)
		}
		if want := "127.0.0.1:808" + strconv.Itoa(i+1); !strings.Contains(fmt.Sprint(h["listeners"]), want) {
			t.Errorf("/healthz answer %d is not node %d's (%s): %v", i+1, i+1, want, h["listeners"])
		}
	}
	var ids []string
	for _, it := range nodes.Items {
		ids = append(ids, it.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"n1", "n2", "n3"}) || nodes.Total != 3 {
		t.Fatalf("GET /rest/v1/nodes lists %v (total %d), want n1, n2, n3:\n%s\n%s", ids, nodes.Total, check, logs())
	}
	if !strings.Contains(text, mark+"done") {
		t.Fatalf("the stop block did not finish:\n%s", text)
	}
	if leftover {
		t.Errorf("processes of the README were still running after its stop block:\n%s", logs())
	}
	// Each node saw SIGTERM and shut down; Redis saved and exited.
	l := logs()
	for _, want := range []string{"n1/minirtc.log\n", "n2/minirtc.log\n", "n3/minirtc.log\n"} {
		if !strings.Contains(l, want+"") {
			continue
		}
	}
	if n := strings.Count(l, "msg=stopped"); n != 3 {
		t.Errorf("%d nodes logged a clean stop, want 3:\n%s", n, l)
	}
	for _, want := range []string{"ready to exit"} {
		if !strings.Contains(l, want) {
			t.Errorf("logs lack %q:\n%s", want, l)
		}
	}
}

// between is the text of s after from and before to ("" when absent).
func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, to)
	return rest
}
