//go:build linux

package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the tests run this binary as "bench server" and "bench load".
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startSelf runs this test binary as bench with args, and returns it with
// a reader of its output.
func startSelf(t *testing.T, args ...string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BENCH_TEST_MAIN=1", "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, in, bufio.NewReader(out)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading a line: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestEveryServerEchoes(t *testing.T) {
	for _, impl := range serverImpls {
		t.Run("impl="+impl, func(t *testing.T) {
			_, _, out := startSelf(t, "server", "-impl", impl)
			addr := readLine(t, out)
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := bytes.Repeat([]byte("0123456789abcdef"), 64)
			for range 3 {
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				back := make([]byte, len(msg))
				if _, err := io.ReadFull(c, back); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(back, msg) {
					t.Fatalf("echo differs")
				}
			}
		})
	}
}

// TestEveryUDPServerEchoes: every UDP server sends each datagram back
// whole, to its sender, and keeps datagrams apart.
func TestEveryUDPServerEchoes(t *testing.T) {
	for _, impl := range udpServers {
		t.Run("impl="+impl, func(t *testing.T) {
			_, _, out := startSelf(t, "server", "-udp", "-impl", impl)
			addr := readLine(t, out)
			for _, size := range []int{1, 64, 1200, 9000} {
				c, err := net.Dial("udp4", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				msgs := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size)}
				for _, m := range msgs {
					if _, err := c.Write(m); err != nil {
						t.Fatal(err)
					}
				}
				for range msgs {
					back := make([]byte, size+1)
					n, err := c.Read(back)
					if err != nil {
						t.Fatalf("%d B: %v", size, err)
					}
					if n != size || !bytes.Equal(back[:n], msgs[0]) && !bytes.Equal(back[:n], msgs[1]) {
						t.Fatalf("%d B: the echo was %d B, not a datagram sent", size, n)
					}
				}
			}
		})
	}
}

func TestLoadProtocol(t *testing.T) {
	for _, mode := range []string{"echo", "stream", "udp"} {
		t.Run("mode="+mode, func(t *testing.T) {
			srvArgs := []string{"server", "-impl", "net"}
			if mode == "udp" {
				srvArgs = append(srvArgs, "-udp")
			}
			_, _, srvOut := startSelf(t, srvArgs...)
			addr := readLine(t, srvOut)
			_, in, out := startSelf(t, "load", "-addr", addr, "-mode", mode, "-conns", "4", "-pipeline", "4", "-size", "512")
			if got := readLine(t, out); got != "ready" {
				t.Fatalf("load said %q, want ready", got)
			}
			io.WriteString(in, "start\n")
			if got := readLine(t, out); got != "started" {
				t.Fatalf("load said %q, want started", got)
			}
			time.Sleep(200 * time.Millisecond)
			io.WriteString(in, "end\n")
			res, err := parseResult(readLine(t, out))
			if err != nil {
				t.Fatal(err)
			}
			if res.err != "" || res.ops == 0 || res.secs < 0.1 {
				t.Errorf("result %+v, want ops in about 0.2s and no error", res)
			}
			io.WriteString(in, "mark\n")
			if got := readLine(t, out); !strings.HasPrefix(got, "mark ops=") {
				t.Errorf("load said %q, want mark ops=N", got)
			}
			if mode != "stream" && (res.p50 == 0 || res.p99 < res.p50 || res.p999 < res.p99) {
				t.Errorf("latencies %+v, want 0 < p50 ≤ p99 ≤ p99.9", res)
			}
		})
	}
}

var selectPointsTests = []struct {
	spec  string
	want  []string
	fails bool
}{
	{"all", []string{"echo-c1", "echo-c64", "echo-c1000", "pipe-c1", "pipe-c64", "pipe-c1000", "echo4k-c64", "stream", "idle", "http-13b", "http-64k", "http-file",
		"udp-f1", "udp-f16", "udp1200-f1", "udp1200-f16"}, false},
	{"echo-c64, idle,echo-c64", []string{"echo-c64", "idle"}, false},
	{"echo-c2", nil, true},
	{",", nil, true},
}

func TestSelectPoints(t *testing.T) {
	for _, tt := range selectPointsTests {
		pts, err := selectPoints(tt.spec, 500)
		if (err != nil) != tt.fails {
			t.Errorf("selectPoints(%q): err %v", tt.spec, err)
			continue
		}
		var got []string
		for _, p := range pts {
			got = append(got, p.name)
			if p.kind == idlePoint && p.conns != 500 {
				t.Errorf("idle point has %d conns, want 500", p.conns)
			}
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("selectPoints(%q) = %v, want %v", tt.spec, got, tt.want)
		}
	}
}

func TestParseResult(t *testing.T) {
	r, err := parseResult("result ops=100 ns=2000000000 p50=39000 p99=90000 p999=120000 samples=100 err=read tcp: connection reset by peer")
	if err != nil {
		t.Fatal(err)
	}
	if r.ops != 100 || r.secs != 2 || r.p50 != 39000 || r.p999 != 120000 || r.err != "read tcp: connection reset by peer" {
		t.Errorf("parseResult = %+v", r)
	}
	if _, err := parseResult("result ops=x"); err == nil {
		t.Error("parseResult of garbage: no error")
	}
}
