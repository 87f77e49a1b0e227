package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process pinned to one CPU, whose standard output is read as
// lines and whose standard error is kept for the error message.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{} // closed once the process has been waited for

	mu      sync.Mutex
	out     []string // standard output, by line
	next    int      // the first line expect has not looked at
	eof     bool
	notify  chan struct{} // a token whenever out or eof changes
	stderr  bytes.Buffer  // the first 256 KiB
	waitErr error
}

var (
	childrenMu sync.Mutex
	children   = map[*child]bool{}
)

// startChild runs argv with taskset on cpus 0 to procs-1 from first (a
// server at GOMAXPROCS=2 gets CPUs 0 and 1, the second shared with the
// load), with GOMAXPROCS=procs.
func startChild(name string, first, procs int, argv ...string) (*child, error) {
	cpus := strconv.Itoa(first)
	if procs > 1 {
		cpus = fmt.Sprintf("%d-%d", first, first+procs-1)
	}
	cmd := exec.Command("taskset", append([]string{"-c", cpus}, argv...)...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	// Do not outlive the harness, even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{}), notify: make(chan struct{}, 1)}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = (*stderrWriter)(c)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	childrenMu.Lock()
	children[c] = true
	childrenMu.Unlock()
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.out = append(c.out, sc.Text())
			c.mu.Unlock()
			c.poke()
		}
		io.Copy(io.Discard, stdout)
		err := cmd.Wait()
		c.mu.Lock()
		c.eof, c.waitErr = true, err
		c.mu.Unlock()
		close(c.exited)
		c.poke()
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) poke() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

type stderrWriter child

func (w *stderrWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := 256<<10 - w.stderr.Len(); room > 0 {
		w.stderr.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

// expect waits for a line of output that starts with prefix, skipping others.
func (c *child) expect(prefix string, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for c.next < len(c.out) {
			line := c.out[c.next]
			c.next++
			if strings.HasPrefix(line, prefix) {
				c.mu.Unlock()
				return line, nil
			}
		}
		eof := c.eof
		c.mu.Unlock()
		if eof {
			return "", c.failure(fmt.Sprintf("exited before saying %q", prefix))
		}
		select {
		case <-c.notify:
		case <-deadline.C:
			return "", c.failure(fmt.Sprintf("did not say %q within %v", prefix, timeout))
		}
	}
}

// output waits for the process to exit and returns all it printed.
func (c *child) output(timeout time.Duration) (string, error) {
	select {
	case <-c.exited:
	case <-time.After(timeout):
		return "", c.failure(fmt.Sprintf("still running after %v", timeout))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waitErr != nil {
		return "", c.failureLocked(c.waitErr.Error())
	}
	return strings.Join(c.out, "\n"), nil
}

func (c *child) send(line string) error {
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		return c.failure("gone: " + err.Error())
	}
	return nil
}

func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// kill ends the process and waits for it.
func (c *child) kill() {
	c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
	}
	childrenMu.Lock()
	delete(children, c)
	childrenMu.Unlock()
}

// killChildren kills every child still running: for an interrupt.
func killChildren() {
	childrenMu.Lock()
	defer childrenMu.Unlock()
	for c := range children {
		c.cmd.Process.Kill()
	}
}

// failure is an error naming c, with the line of its standard error that
// says most: a panic or fatal error, or else the last line.
func (c *child) failure(what string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failureLocked(what)
}

// Preconditions: c.mu is held.
func (c *child) failureLocked(what string) error {
	msg := c.name + ": " + what
	if c.eof && c.waitErr != nil && !strings.Contains(what, c.waitErr.Error()) {
		msg += " (" + c.waitErr.Error() + ")"
	}
	if line := tellingLine(c.stderr.String()); line != "" {
		msg += ": " + line
	}
	return errors.New(msg)
}

func tellingLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}
