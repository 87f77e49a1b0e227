//go:build linux

package main

import (
	"bytes"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	listenTCPRE = regexp.MustCompile(`(?m)\] listening on \[::\]:(\d+)$`)
	listenUDPRE = regexp.MustCompile(`(?m)\] listening on udp \[::\]:(\d+)$`)
)

// TestListenServesCurl gives curl a canned HTTP response through
// ksocket listen's stdin.
func TestListenServesCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed (Debian package curl; the test command installs it)")
	}
	const body = "hello from ksocket listen\n"
	const resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 26\r\nConnection: close\r\n\r\n" + body
	l := startKsocket(t, resp, "listen", "0")
	port := l.waitStderr(t, listenTCPRE)[1]
	cr := startCmd(t, exec.Command(curl, "-sS", "--noproxy", "*", "--max-time", "10", "http://127.0.0.1:"+port+"/some/path"), "").wait(t, 15*time.Second)
	if cr.code != 0 || cr.stdout != body {
		t.Errorf("curl: want exit 0 and body %q\n%v", body, cr)
	}
	r := l.wait(t, 10*time.Second)
	checkExit0(t, r)
	checkOnlyLogs(t, r)
	if !strings.HasPrefix(r.stdout, "GET /some/path HTTP/1.1\r\n") || !strings.Contains(r.stdout, "\r\nUser-Agent: curl/") {
		t.Errorf("listen did not print curl's request\n%v", r)
	}
}

// pattern is n bytes of every value, NUL included.
func pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return string(b)
}

var listenSendTests = []struct {
	name        string
	listenStdin string
	host        string   // what send dials
	msg         []string // send's MSG argument, if any
	sendStdin   string
	want        string // what listen receives
}{
	{"message argument", "from listener\n", "127.0.0.1", []string{"exact bytes, no newline"}, "", "exact bytes, no newline"},
	{"message with line ends", "from listener\n", "127.0.0.1", []string{"one\r\ntwo\n  "}, "", "one\r\ntwo\n  "},
	{"empty message", "from listener\n", "127.0.0.1", []string{""}, "", ""},
	{"stdin", "from listener\n", "127.0.0.1", nil, "from stdin\nsecond line\n", "from stdin\nsecond line\n"},
	{"large stdin both ways", pattern(300 << 10), "127.0.0.1", nil, pattern(256 << 10), pattern(256 << 10)},
	{"message argument ignores stdin", "from listener\n", "127.0.0.1", []string{"argument"}, "stdin", "argument"},
	{"host from the hosts file", "from listener\n", "localhost", []string{"via localhost"}, "", "via localhost"},
	{"IPv6", "from listener\n", "[::1]", []string{"via ::1"}, "", "via ::1"},
}

// TestListenSendTCP pairs ksocket listen with ksocket send: each gets the
// other's bytes exactly.
func TestListenSendTCP(t *testing.T) {
	t.Parallel()
	for _, tt := range listenSendTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.host == "[::1]" {
				listenIPv6(t).Close()
			}
			l := startKsocket(t, tt.listenStdin, "listen", "0")
			port := l.waitStderr(t, listenTCPRE)[1]
			s := runKsocket(t, tt.sendStdin, append([]string{"send", tt.host + ":" + port}, tt.msg...)...)
			checkExit0(t, s)
			if s.stdout != tt.listenStdin {
				t.Errorf("send printed %d bytes, want listen's %d bytes of stdin", len(s.stdout), len(tt.listenStdin))
			}
			if s.stderr != "" {
				t.Errorf("send wrote to stderr\n%v", s)
			}
			r := l.wait(t, 10*time.Second)
			checkExit0(t, r)
			checkOnlyLogs(t, r)
			if r.stdout != tt.want {
				if len(tt.want) < 100 {
					t.Errorf("listen printed %q, want %q", r.stdout, tt.want)
				} else {
					t.Errorf("listen printed %d bytes, want %d (equal: %v)", len(r.stdout), len(tt.want), r.stdout == tt.want)
				}
			}
		})
	}
}

var listenSendUDPTests = []struct {
	name      string
	msg       []string
	sendStdin string
	want      string
}{
	{"message argument", []string{"ping, no newline"}, "", "ping, no newline"},
	{"stdin", nil, "ping from stdin\n", "ping from stdin\n"},
}

// TestListenSendUDP pairs ksocket listen -u with ksocket send -u.
func TestListenSendUDP(t *testing.T) {
	t.Parallel()
	for _, tt := range listenSendUDPTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// listen's --timeout also bounds the wait for the first
			// datagram: leave send's start-up time to spare.
			l := startKsocket(t, "pong", "listen", "-u", "--timeout", "2s", "0")
			port := l.waitStderr(t, listenUDPRE)[1]
			s := runKsocket(t, tt.sendStdin, append([]string{"send", "-u", "--timeout", "1s", "127.0.0.1:" + port}, tt.msg...)...)
			checkExit0(t, s)
			if s.stdout != "pong" {
				t.Errorf("send printed %q, want %q\n%v", s.stdout, "pong", s)
			}
			r := l.wait(t, 10*time.Second)
			checkExit0(t, r)
			checkOnlyLogs(t, r)
			if r.stdout != tt.want {
				t.Errorf("listen printed %q, want %q", r.stdout, tt.want)
			}
		})
	}
}

// TestListenUDPIdleTimeout ends listen -u after --timeout with no peer.
func TestListenUDPIdleTimeout(t *testing.T) {
	t.Parallel()
	r := runKsocket(t, "", "listen", "-u", "--timeout", "300ms", "0")
	checkExit0(t, r)
	checkOnlyLogs(t, r)
	if r.elapsed < 300*time.Millisecond || r.elapsed > 5*time.Second {
		t.Errorf("exited after %v with --timeout 300ms", r.elapsed)
	}
}

// TestListenUDPEndsAtStdinEOF: without --timeout, listen -u ends at stdin
// EOF, once the peer is known and stdin is sent.
func TestListenUDPEndsAtStdinEOF(t *testing.T) {
	t.Parallel()
	l := startKsocket(t, "pong", "listen", "-u", "0")
	port := l.waitStderr(t, listenUDPRE)[1]
	s := runKsocket(t, "", "send", "-u", "--timeout", "1s", "127.0.0.1:"+port, "ping")
	checkExit0(t, s)
	r := l.wait(t, 5*time.Second)
	checkExit0(t, r)
	if r.stdout != "ping" {
		t.Errorf("listen printed %q, want %q", r.stdout, "ping")
	}
}

// TestSendTimeoutOfSilence meets a server that answers part of a reply and
// then neither writes nor closes: send prints the part and ends after
// --timeout of silence.
func TestSendTimeoutOfSilence(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	got := make(chan string, 1)
	addr := rawServer(t, "tcp4", func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c) // until send shuts down writing
		got <- string(b)
		io.WriteString(c, "partial reply")
		<-hold
	})
	t.Cleanup(func() { close(hold) }) // before rawServer's cleanup waits
	r := runKsocket(t, "", "send", "--timeout", "500ms", addr, "hi there")
	checkExit0(t, r)
	if r.stdout != "partial reply" {
		t.Errorf("stdout %q, want %q", r.stdout, "partial reply")
	}
	if r.elapsed < 450*time.Millisecond || r.elapsed > 5*time.Second {
		t.Errorf("exited after %v with --timeout 500ms", r.elapsed)
	}
	select {
	case s := <-got:
		if s != "hi there" {
			t.Errorf("server received %q, want %q", s, "hi there")
		}
	case <-time.After(5 * time.Second):
		t.Error("the server saw no end of the message (no shutdown of writing?)")
	}
}

// TestSendUDPNoReply sends a datagram to a peer that never answers.
func TestSendUDPNoReply(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := runKsocket(t, "", "send", "-u", "--timeout", "300ms", pc.LocalAddr().String(), "datagram\x01")
	checkExit0(t, r)
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	buf := make([]byte, 100)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("datagram\x01")) {
		t.Errorf("peer got %q (%v), want %q", buf[:n], err, "datagram\x01")
	}
}

// TestListenSendErrors covers usage errors and runtime errors of listen
// and send.
func TestListenSendErrors(t *testing.T) {
	t.Parallel()
	refused, refusedUDP := refusedPort(t), refusedUDPPort(t)
	tcpBusy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcpBusy.Close() })
	udpBusy, err := net.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udpBusy.Close() })
	tcpPort := strings.TrimPrefix(tcpBusy.Addr().String(), "[::]:")
	udpPort := strings.TrimPrefix(udpBusy.LocalAddr().String(), "[::]:")

	usage := []struct {
		name string
		args []string
	}{
		{"listen without port", []string{"listen"}},
		{"listen port not a number", []string{"listen", "http"}},
		{"listen port out of range", []string{"listen", "65536"}},
		{"listen negative port", []string{"listen", "--", "-1"}},
		{"listen two ports", []string{"listen", "1", "2"}},
		{"listen flag after port", []string{"listen", "0", "-u"}},
		{"send without address", []string{"send"}},
		{"send without port", []string{"send", "127.0.0.1"}},
		{"send port out of range", []string{"send", "127.0.0.1:65536"}},
		{"send port not a number", []string{"send", "127.0.0.1:x"}},
		{"send two messages", []string{"send", "127.0.0.1:9", "a", "b"}},
		{"send bad timeout", []string{"send", "--timeout", "1", "127.0.0.1:9", "a"}},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkUsageError(t, runKsocket(t, "", tt.args...), tt.args[0])
		})
	}
	runtime := []struct {
		name string
		args []string
		want string
	}{
		{"send connection refused", []string{"send", "127.0.0.1:" + refused, "x"}, "connection refused"},
		{"send unresolvable host", []string{"send", "nosuch.invalid:80", "x"}, "nosuch.invalid"},
		{"send -u connection refused", []string{"send", "-u", "127.0.0.1:" + refusedUDP, "x"}, "connection refused"},
		{"send -u unresolvable host", []string{"send", "-u", "nosuch.invalid:80", "x"}, "nosuch.invalid"},
		{"listen port in use", []string{"listen", tcpPort}, "address already in use"},
		{"listen -u port in use", []string{"listen", "-u", udpPort}, "address already in use"},
	}
	for _, tt := range runtime {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runKsocket(t, "", tt.args...)
			line := checkRuntimeError(t, r, tt.args[0])
			if !strings.Contains(line, tt.want) {
				t.Errorf("error %q does not mention %q", line, tt.want)
			}
		})
	}
}
