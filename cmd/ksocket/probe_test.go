//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func kernelRelease(t *testing.T) string {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// TestProbeJSON checks the shape of probe --json and that it matches the
// backend the tests asked for.
func TestProbeJSON(t *testing.T) {
	t.Parallel()
	r := runKsocket(t, "", "probe", "--json")
	checkExit0(t, r)
	if r.stderr != "" {
		t.Errorf("stderr not empty\n%v", r)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%v", err, r)
	}
	for _, k := range []string{"kernel", "backend", "reason", "errno", "setup_flags", "ops"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("no %q in %s", k, r.stdout)
		}
	}
	var p struct {
		Kernel     string            `json:"kernel"`
		Backend    string            `json:"backend"`
		Reason     string            `json:"reason"`
		Errno      string            `json:"errno"`
		SetupFlags []string          `json:"setup_flags"`
		Ops        map[string]string `json:"ops"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(r.stdout)))
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("fields of the wrong type: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Errorf("more than one JSON value on stdout")
	}
	if string(raw["setup_flags"]) == "null" {
		t.Errorf("setup_flags is null, want a list")
	}
	if want := kernelRelease(t); p.Kernel != want {
		t.Errorf("kernel %q, want uname's %q", p.Kernel, want)
	}
	if p.Backend != "uring" && p.Backend != "epoll" {
		t.Errorf("backend %q, want uring or epoll", p.Backend)
	}
	if wantBackend != "" && p.Backend != wantBackend {
		t.Errorf("backend %q, but KSOCKET_BACKEND=%s", p.Backend, wantBackend)
	}
	if p.Reason == "" {
		t.Errorf("no reason for the backend")
	}
	if p.Errno != "" && !regexp.MustCompile(`^E[A-Z0-9]+$`).MatchString(p.Errno) {
		t.Errorf("errno %q, want an errno name such as EPERM", p.Errno)
	}
	if p.Backend == "uring" && (p.Errno != "" || len(p.SetupFlags) == 0) {
		t.Errorf("uring with errno %q and setup flags %q", p.Errno, p.SetupFlags)
	}
	var ring int
	for name, how := range p.Ops {
		switch how {
		case "ring":
			ring++
		case "syscall":
		default:
			t.Errorf("ops[%q] = %q, want ring or syscall", name, how)
		}
	}
	for _, op := range []string{"socket", "connect", "accept", "send", "recv", "close"} {
		if _, ok := p.Ops[op]; !ok {
			t.Errorf("ops has no %q: %v", op, p.Ops)
		}
	}
	if p.Backend == "epoll" && ring > 0 {
		t.Errorf("epoll backend with %d ops on the ring: %v", ring, p.Ops)
	}
	if p.Backend == "uring" && ring == 0 {
		t.Errorf("uring backend with no ops on the ring: %v", p.Ops)
	}
}

// TestProbeText checks the human-readable probe.
func TestProbeText(t *testing.T) {
	t.Parallel()
	r := runKsocket(t, "", "probe")
	checkExit0(t, r)
	for _, want := range []string{"kernel:       " + kernelRelease(t) + "\n", "io_uring:     ", "backend:      ", "ring ops:     ", "syscalls:     "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout has no %q\n%v", want, r)
		}
	}
	if wantBackend != "" && !strings.Contains(r.stdout, "backend:      "+wantBackend+" (") {
		t.Errorf("stdout does not show backend %s\n%v", wantBackend, r)
	}
	// On the uring backend: "restricted: yes" with the allowed ops, or
	// "restricted: no (why)".
	if strings.Contains(r.stdout, "backend:      uring") {
		yes := strings.Contains(r.stdout, "restricted:   yes\n") && strings.Contains(r.stdout, "allowed ops:  ")
		no := regexp.MustCompile(`restricted:   no \(.+\)\n`).MatchString(r.stdout)
		if yes == no {
			t.Errorf("stdout says neither \"restricted: yes\" with the allowed ops nor \"restricted: no (why)\"\n%v", r)
		}
		if no {
			t.Logf("the ring runs unrestricted here: %s", r.stdout)
		}
		if !regexp.MustCompile(`\npolled wait:  (on|off \(.+\))\n`).MatchString(r.stdout) {
			t.Errorf("stdout says neither \"polled wait: on\" nor \"polled wait: off (why)\"\n%v", r)
		}
	}
}

// TestBadBackend runs commands with a KSOCKET_BACKEND that names no
// backend: probe says why, and exits 1.
func TestBadBackend(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"probe"}, {"probe", "--json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			cmd := ksocketCmd(args...)
			cmd.Env = append(os.Environ(), "KSOCKET_BACKEND=bogus")
			r := startCmd(t, cmd, "").wait(t, 10*time.Second)
			checkNoCrash(t, r)
			if r.code != 1 {
				t.Errorf("exit %d, want 1\n%v", r.code, r)
			}
			if !strings.Contains(r.stdout+r.stderr, "KSOCKET_BACKEND") {
				t.Errorf("output does not say KSOCKET_BACKEND is wrong\n%v", r)
			}
		})
	}
	t.Run("get", func(t *testing.T) {
		t.Parallel()
		cmd := ksocketCmd("get", "http://127.0.0.1:"+refusedPort(t)+"/")
		cmd.Env = append(os.Environ(), "KSOCKET_BACKEND=bogus")
		r := startCmd(t, cmd, "").wait(t, 10*time.Second)
		if line := checkRuntimeError(t, r, "get"); !strings.Contains(line, "KSOCKET_BACKEND") {
			t.Errorf("error %q does not say KSOCKET_BACKEND is wrong", line)
		}
	})
}

// TestVersion prints one line.
func TestVersion(t *testing.T) {
	t.Parallel()
	r := runKsocket(t, "", "version")
	checkExit0(t, r)
	if !regexp.MustCompile(`^ksocket \d+\.\d+\.\d+\S* .*go1\.\d+\S*\n$`).MatchString(r.stdout) {
		t.Errorf("version %q, want 'ksocket X.Y.Z ... goN.M' on one line", r.stdout)
	}
	checkUsageError(t, runKsocket(t, "", "version", "extra"), "version")
}
