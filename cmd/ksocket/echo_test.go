//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var echoListeningRE = regexp.MustCompile(`(?m)\] echo \((\w+)\): listening on (\S+)$`)

// echoEngineNames are the engine names the issue fixes, in help's order.
var echoEngineNames = []string{"berkeley", "gonet", "loop"}

// builtEngines are the engines this build of the command serves with; it
// must refuse the others by name.
func builtEngines() []string {
	var names []string
	for _, n := range echoEngineNames {
		if echoEngines[n] != nil {
			names = append(names, n)
		}
	}
	return names
}

// TestEchoEngineNames checks that the command has no engine outside the
// fixed names, and has the two that must exist.
func TestEchoEngineNames(t *testing.T) {
	for n := range echoEngines {
		if !slices.Contains(echoEngineNames, n) {
			t.Errorf("engine %q is not one of the fixed names %v", n, echoEngineNames)
		}
	}
	for _, n := range []string{"berkeley", "gonet"} {
		if echoEngines[n] == nil {
			t.Errorf("no %s engine", n)
		}
	}
}

// startEcho starts ksocket echo on addr and returns it with the address
// it logs.
func startEcho(t *testing.T, engine, addr string) (*proc, string) {
	t.Helper()
	p := startKsocket(t, "", "echo", "--engine", engine, "--addr", addr)
	m := p.waitStderr(t, echoListeningRE)
	if m[1] != engine {
		t.Errorf("log names engine %q, want %q", m[1], engine)
	}
	return p, m[2]
}

// stopEcho signals p and checks that it stops cleanly.
func stopEcho(t *testing.T, p *proc, sig os.Signal) {
	t.Helper()
	p.signal(t, sig)
	r := p.wait(t, 10*time.Second)
	checkExit0(t, r)
	checkOnlyLogs(t, r)
	if !strings.Contains(r.stderr, "echo: stopped") {
		t.Errorf("stderr does not log the stop\n%v", r)
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty\n%v", r)
	}
}

// TestEcho echoes messages from several Go net clients at once, then stops
// the server with a signal while one client is still connected.
func TestEcho(t *testing.T) {
	t.Parallel()
	for _, engine := range builtEngines() {
		for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
			t.Run(fmt.Sprintf("engine=%s/signal=%v", engine, sig), func(t *testing.T) {
				t.Parallel()
				p, addr := startEcho(t, engine, "127.0.0.1:0")
				if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
					t.Errorf("listening on %q, want 127.0.0.1 and the real port", addr)
				}
				var wg sync.WaitGroup
				for i := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := echoClient(addr, i); err != nil {
							t.Errorf("client %d: %v", i, err)
						}
					}()
				}
				wg.Wait()

				idle, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer idle.Close()
				if err := echoRoundTrip(idle, []byte("still here")); err != nil {
					t.Fatal(err)
				}
				stopEcho(t, p, sig)
			})
		}
	}
}

// echoClient sends messages of several sizes and checks each echo.
func echoClient(addr string, id int) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, n := range []int{1, 7, 64, 1500, 4096, 65536, 200000} {
		msg := bytes.Repeat([]byte{byte('a' + id)}, n)
		msg[0], msg[n-1] = byte(id), byte(n)
		if err := echoRoundTrip(c, msg); err != nil {
			return fmt.Errorf("%d bytes: %w", n, err)
		}
	}
	return nil
}

// echoRoundTrip writes msg and reads it back, both within 10 s.
func echoRoundTrip(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	werr := make(chan error, 1)
	go func() { // large messages: write while reading
		_, err := c.Write(msg)
		werr <- err
	}()
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(c, got)
	if err := <-werr; err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo differs from what was sent")
	}
	return nil
}

// TestEchoIPv6 serves on [::1] with each engine.
func TestEchoIPv6(t *testing.T) {
	t.Parallel()
	listenIPv6(t).Close()
	for _, engine := range builtEngines() {
		t.Run("engine="+engine, func(t *testing.T) {
			t.Parallel()
			p, addr := startEcho(t, engine, "[::1]:0")
			if err := echoClient(addr, 0); err != nil {
				t.Error(err)
			}
			stopEcho(t, p, syscall.SIGTERM)
		})
	}
}

// TestSendToEcho pairs ksocket send with ksocket echo: send shuts down
// writing, echo closes at EOF, and send prints the echo.
func TestSendToEcho(t *testing.T) {
	t.Parallel()
	for _, engine := range builtEngines() {
		t.Run("engine="+engine, func(t *testing.T) {
			t.Parallel()
			p, addr := startEcho(t, engine, "127.0.0.1:0")
			r := runKsocket(t, "", "send", addr, "echo me, exactly")
			checkExit0(t, r)
			if r.stdout != "echo me, exactly" {
				t.Errorf("send printed %q, want %q", r.stdout, "echo me, exactly")
			}
			big := pattern(512 << 10)
			r = runKsocket(t, big, "send", addr)
			checkExit0(t, r)
			if r.stdout != big {
				t.Errorf("send printed %d bytes, want the %d sent", len(r.stdout), len(big))
			}
			stopEcho(t, p, syscall.SIGTERM)
		})
	}
}

// TestEchoUnavailableEngine refuses an engine that is not built, or not
// an engine at all, naming the ones there are.
func TestEchoUnavailableEngine(t *testing.T) {
	t.Parallel()
	names := []string{"bogus", "Berkeley", "net", ""}
	for _, n := range echoEngineNames {
		if echoEngines[n] == nil {
			names = append(names, n)
		}
	}
	available := "available: " + strings.Join(builtEngines(), ", ")
	for _, engine := range names {
		t.Run("engine="+engine, func(t *testing.T) {
			t.Parallel()
			r := runKsocket(t, "", "echo", "--addr", "127.0.0.1:0", "--engine", engine)
			line := checkUsageError(t, r, "echo")
			if !strings.Contains(line, strconv.Quote(engine)) || !strings.HasSuffix(line, available) {
				t.Errorf("error %q does not name the engine and end with %q", line, available)
			}
		})
	}
}

// TestEchoUsageErrors covers echo's command-line mistakes.
func TestEchoUsageErrors(t *testing.T) {
	t.Parallel()
	usage := []struct {
		name string
		args []string
	}{
		{"missing addr", []string{"echo"}},
		{"missing addr with engine", []string{"echo", "--engine", "gonet"}},
		{"empty addr", []string{"echo", "--addr", ""}},
		{"positional argument", []string{"echo", "--addr", "127.0.0.1:0", "extra"}},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkUsageError(t, runKsocket(t, "", tt.args...), "echo")
		})
	}
}

// TestEchoBadAddr refuses addresses it cannot serve on, with each engine:
// exit 1 and one error line (as a usage or a runtime error), without ever
// listening.
func TestEchoBadAddr(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	// 65536 more than a free port: an engine that wraps the port around
	// binds that free one, never a fixed port.
	free, _ := strconv.Atoi(refusedPort(t))
	tests := []struct {
		name, addr, want string
	}{
		{"address in use", busy.Addr().String(), "address already in use"},
		{"no port", "127.0.0.1", "port"},
		{"port out of range", "127.0.0.1:" + strconv.Itoa(65536+free), "port"},
		{"unresolvable host", "nosuch.invalid:0", "nosuch.invalid"},
	}
	for _, engine := range builtEngines() {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("engine=%s/%s", engine, tt.name), func(t *testing.T) {
				t.Parallel()
				r := startKsocket(t, "", "echo", "--engine", engine, "--addr", tt.addr).wait(t, 5*time.Second)
				checkNoCrash(t, r)
				_, other := splitLog(t, r.stderr)
				if len(other) == 2 && other[1] == "see 'ksocket echo --help'" {
					other = other[:1]
				}
				if r.code != 1 || len(other) != 1 || !strings.HasPrefix(other[0], "ksocket echo: ") {
					t.Fatalf("want exit 1 and one error line\n%v", r)
				}
				if !strings.Contains(strings.ToLower(other[0]), tt.want) {
					t.Errorf("error %q does not mention %q", other[0], tt.want)
				}
				if strings.Contains(r.stderr, "listening") {
					t.Errorf("listened on a bad address\n%v", r)
				}
			})
		}
	}
}

// TestEchoUDP echoes datagrams of several sizes from several net clients
// at once through `ksocket echo --udp`, on every engine, then stops it.
func TestEchoUDP(t *testing.T) {
	t.Parallel()
	for _, engine := range echoEngineNames {
		t.Run("engine="+engine, func(t *testing.T) {
			t.Parallel()
			p := startKsocket(t, "", "echo", "--engine", engine, "--udp", "--addr", "127.0.0.1:0")
			m := p.waitStderr(t, echoListeningRE)
			addr, ok := strings.CutSuffix(m[2], "/udp")
			if m[1] != engine || !ok {
				t.Fatalf("log line names %q at %q, want %s and an address ending in /udp", m[1], m[2], engine)
			}
			var wg sync.WaitGroup
			for id := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("udp4", addr)
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					for _, n := range []int{0, 1, 64, 1200, 8000, 65000} {
						msg := bytes.Repeat([]byte{byte('a' + id)}, n)
						got := make([]byte, 65536)
						var k int
						// UDP may drop a datagram: try a few times.
						for try := 0; try < 5; try++ {
							c.Write(msg)
							c.SetReadDeadline(time.Now().Add(time.Second))
							if k, err = c.Read(got); err == nil {
								break
							}
						}
						if err != nil || !bytes.Equal(got[:k], msg) {
							t.Errorf("client %d, %d bytes: %d back, %v", id, n, k, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			stopEcho(t, p, syscall.SIGTERM)
		})
	}
}
