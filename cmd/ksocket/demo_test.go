//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/resolv"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

var (
	listeningRE = regexp.MustCompile(`(?m)^TCP server: listening on 0\.0\.0\.0:(\d+)$`)
	uuidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

var demoClientTests = []struct {
	name  string
	args  []string
	msg   string
	reply string
}{
	{"default reply", nil, "hello from a client", "Hello from WSK!"},
	{"reply flag", []string{"--reply", "Bonjour, WSK"}, "hello from a client", "Bonjour, WSK"},
	{"message with spaces and punctuation", nil, "  ¡hola, señor!  ", "Hello from WSK!"},
}

// TestDemoOfflineClient runs the README's main-job command: the embedded
// httpbin, then the server with the demo as its own client.
func TestDemoOfflineClient(t *testing.T) {
	t.Parallel()
	for _, tt := range demoClientTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"demo", "--offline", "--port", "0", "--client", tt.msg}, tt.args...)
			r := runKsocket(t, "", args...)
			checkExit0(t, r)
			checkDemoOutput(t, r, tt.msg, tt.reply)
			logs, _ := splitLog(t, r.stderr)
			if len(logs) == 0 || !strings.Contains(r.stderr, "offline: using the embedded httpbin") {
				t.Errorf("stderr does not log the offline fallback\n%v", r)
			}
		})
	}
}

// TestDemoURL points --url at an httpbin on loopback, so the HTTP client
// takes the network path instead of the embedded one.
func TestDemoURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(httpbin.New())
	defer srv.Close()
	r := runKsocket(t, "", "demo", "--url", srv.URL+"/uuid", "--port", "0", "--client", "hi")
	checkExit0(t, r)
	checkDemoOutput(t, r, "hi", "Hello from WSK!")
	if strings.Contains(r.stderr, "embedded httpbin") {
		t.Errorf("demo fell back to the embedded httpbin although --url was reachable\n%v", r)
	}
}

// TestDemoFallback falls back to the embedded httpbin when the default URL
// cannot be reached, and says so in one log line.
func TestDemoFallback(t *testing.T) {
	t.Parallel()
	t.Run("unresolvable", func(t *testing.T) {
		t.Parallel()
		checkDemoFallback(t, ksocketCmd("demo", "--port", "0", "--client", "hi"))
	})
	t.Run("connection refused", func(t *testing.T) {
		// httpbin.org is 127.0.0.1 in a hosts file of this test's, where
		// nothing listens on port 80.
		t.Parallel()
		if c, err := net.DialTimeout("tcp4", "127.0.0.1:80", time.Second); err == nil {
			c.Close()
			t.Skip("something listens on 127.0.0.1:80")
		}
		hosts := filepath.Join(t.TempDir(), "hosts")
		if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost httpbin.org\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := ksocketCmd("demo", "--port", "0", "--client", "hi")
		cmd.Env = append(os.Environ(), "KSOCKET_HOSTS="+hosts)
		line := checkDemoFallback(t, cmd)
		if !strings.Contains(line, "connection refused") {
			t.Errorf("fallback line %q does not give the reason", line)
		}
	})
}

func checkDemoFallback(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	r := startCmd(t, cmd, "").wait(t, 20*time.Second)
	checkExit0(t, r)
	checkDemoOutput(t, r, "hi", "Hello from WSK!")
	var fallback []string
	for _, l := range lines(r.stderr) {
		if strings.Contains(l, "falling back to the embedded httpbin") {
			fallback = append(fallback, l)
		}
	}
	if len(fallback) != 1 || !strings.Contains(fallback[0], defaultDemoURL+" cannot be reached") {
		t.Fatalf("want one log line saying %s cannot be reached and the demo falls back\n%v", defaultDemoURL, r)
	}
	return fallback[0]
}

// checkDemoOutput checks the demo's stdout line by line, and that stderr
// holds only log lines.
func checkDemoOutput(t *testing.T, r result, msg, reply string) {
	t.Helper()
	checkOnlyLogs(t, r)
	rest, ok := strings.CutPrefix(r.stdout, "TCP client:\n")
	if !ok {
		t.Fatalf("stdout does not start with the 'TCP client:' line\n%v", r)
	}
	br := bufio.NewReader(strings.NewReader(rest))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("stdout has no HTTP response after 'TCP client:': %v\n%v", err, r)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("response body: %v\n%v", err, r)
	}
	if resp.Proto != "HTTP/1.1" || resp.StatusCode != 200 {
		t.Errorf("response %s %s, want HTTP/1.1 200", resp.Proto, resp.Status)
	}
	var v struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal(body, &v); err != nil || !uuidRE.MatchString(v.UUID) {
		t.Errorf("body %q is not JSON with a uuid (err %v)", body, err)
	}
	tail, _ := io.ReadAll(br)
	after := string(tail)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		after = strings.TrimPrefix(after, "\n") // the demo ends the body's line
	}
	if n := strings.Count(r.stdout, "TCP server: listening on"); n != 1 {
		t.Errorf("%d 'listening on' lines, want exactly one\n%v", n, r)
	}
	got := lines(after)
	if len(got) != 3 {
		t.Fatalf("after the response, want 3 lines (listening, server, client), got %q\n%v", got, r)
	}
	m := listeningRE.FindStringSubmatch(got[0])
	if m == nil {
		t.Errorf("line %q, want 'TCP server: listening on 0.0.0.0:PORT'", got[0])
	} else if p, _ := strconv.Atoi(m[1]); p < 1 || p > 65535 {
		t.Errorf("listening on port %s, want the real port chosen", m[1])
	}
	if want := "TCP server: " + strings.TrimRight(msg, "\r\n"); got[1] != want {
		t.Errorf("server line %q, want %q", got[1], want)
	}
	if want := "TCP client: " + reply; got[2] != want {
		t.Errorf("client line %q, want %q", got[2], want)
	}
}

// TestDemoWithNetcat serves a real nc: the test waits for the listening
// line (not nc -z, which would use up the demo's one client).
func TestDemoWithNetcat(t *testing.T) {
	t.Parallel()
	// OpenBSD's nc by its own name: "nc" may be another netcat (the
	// alternatives system), whose handling of EOF differs.
	nc, err := exec.LookPath("nc.openbsd")
	if err != nil {
		t.Skip("nc.openbsd not found: install Debian's netcat-openbsd (scripts/test.sh does)")
	}
	demo := startKsocket(t, "", "demo", "--offline", "--port", "0")
	port := demo.waitStdout(t, listeningRE)[1]
	ncr := startCmd(t, exec.Command(nc, "127.0.0.1", port), "hello from nc\n").wait(t, 10*time.Second)
	if ncr.code != 0 || ncr.stdout != "Hello from WSK!" {
		t.Errorf("nc: want exit 0 and stdout %q\n%v", "Hello from WSK!", ncr)
	}
	r := demo.wait(t, 10*time.Second)
	checkExit0(t, r)
	checkOnlyLogs(t, r)
	if !strings.Contains(r.stdout, "\nTCP server: hello from nc\n") {
		t.Errorf("demo did not print the client's message\n%v", r)
	}
	if n := strings.Count(r.stdout, "TCP server: listening on"); n != 1 {
		t.Errorf("%d 'listening on' lines, want exactly one\n%v", n, r)
	}
	if !strings.Contains(r.stderr, "nc 127.0.0.1 "+port) {
		t.Errorf("demo did not say how to connect with nc\n%v", r)
	}
}

// TestDemoNoFallback fails on the default URL: httpbin.org is not in the
// test hosts file, and the resolver has no DNS (or, once it has, the test
// resolv.conf names a dead loopback address), so nothing leaves the machine.
func TestDemoNoFallback(t *testing.T) {
	t.Parallel()
	if resolv.LookupDNSFunc == nil {
		t.Log("the resolver has no DNS: httpbin.org fails in the hosts file")
	} else {
		t.Logf("the resolver has DNS: httpbin.org fails at the dead nameserver %s", deadNameserver)
	}
	r := runKsocket(t, "", "demo", "--no-fallback")
	line := checkRuntimeError(t, r, "demo")
	if !strings.Contains(line, "httpbin.org") {
		t.Errorf("error %q does not name the host", line)
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty\n%v", r)
	}
}

// TestDemoBadInput covers the demo's usage and runtime errors.
func TestDemoBadInput(t *testing.T) {
	t.Parallel()
	refused := "http://127.0.0.1:" + refusedPort(t) + "/uuid"
	usage := []struct {
		name string
		args []string
	}{
		{"port out of range", []string{"--port", "65536"}},
		{"negative port", []string{"--port", "-1"}},
		{"positional argument", []string{"--offline", "extra"}},
		{"bad timeout", []string{"--timeout", "soon"}},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkUsageError(t, runKsocket(t, "", append([]string{"demo"}, tt.args...)...), "demo")
		})
	}
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	t.Run("port in use", func(t *testing.T) {
		t.Parallel()
		port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
		r := runKsocket(t, "", "demo", "--offline", "--port", port, "--client", "x")
		if line := checkRuntimeError(t, r, "demo"); !strings.Contains(line, "address already in use") {
			t.Errorf("error %q does not say the port is in use", line)
		}
	})
	runtime := []struct {
		name, url, want string
	}{
		{"connection refused", refused, "connection refused"},
		{"unknown scheme", "ftp://127.0.0.1/uuid", "ftp"},
		{"https", "https://127.0.0.1/uuid", "https"},
		{"malformed", "http://[::1/uuid", "malformed"},
		{"unresolvable", "http://nosuch.invalid/uuid", "nosuch.invalid"},
	}
	for _, tt := range runtime {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runKsocket(t, "", "demo", "--url", tt.url, "--port", "0", "--client", "x")
			line := checkRuntimeError(t, r, "demo")
			if !strings.Contains(line, tt.want) {
				t.Errorf("error %q does not mention %q", line, tt.want)
			}
			if strings.Contains(r.stderr, "embedded httpbin") {
				t.Errorf("a --url of the user's fell back to the embedded httpbin\n%v", r)
			}
		})
	}
}
