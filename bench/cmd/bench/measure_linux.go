package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTicks returns the utime+stime of every thread of pid, live or exited,
// from /proc/PID/stat, in clock ticks (USER_HZ, which is 100 on Linux).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)  // field 14, utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return u + st, nil
}

const ticksPerSecond = 100 // USER_HZ

// busyTicks returns the user, nice, system and steal time of CPUs 0 and 1
// from /proc/stat: everything that ran there but interrupts, which the
// kernel charges to no process.
func busyTicks() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || (f[0] != "cpu0" && f[0] != "cpu1") {
			continue
		}
		for _, i := range []int{1, 2, 3, 8} { // user nice system steal
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %q: %w", line, err)
			}
			sum += v
		}
	}
	return sum, nil
}

// vmRSS returns the resident set of pid in bytes, from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmRSS: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// perfCounter counts the syscalls a process makes, with
// "perf stat -e raw_syscalls:sys_enter -p PID", started with the counter off
// and switched on and off through perf's control pipe (perf 5.9+), so that
// its window is the load's.
type perfCounter struct {
	cmd      *exec.Cmd
	ctl, ack *os.File // our ends of the control and acknowledgement pipes
	out      bytes.Buffer
}

func startPerf(perf string, pid int) (*perfCounter, error) {
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	p := &perfCounter{ctl: ctlW, ack: ackR}
	// ExtraFiles become descriptors 3 and 4 in perf.
	p.cmd = exec.Command(perf, "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-D", "-1", "--control", "fd:3,4", "-p", strconv.Itoa(pid))
	p.cmd.ExtraFiles = []*os.File{ctlR, ackW}
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = p.cmd.Start()
	ctlR.Close()
	ackW.Close()
	if err != nil {
		ctlW.Close()
		ackR.Close()
		return nil, err
	}
	return p, nil
}

func (p *perfCounter) enable() error  { return p.command("enable") }
func (p *perfCounter) disable() error { return p.command("disable") }

// command sends a control command and waits for perf's "ack".
func (p *perfCounter) command(c string) error {
	if _, err := io.WriteString(p.ctl, c+"\n"); err != nil {
		return p.failure(c, err)
	}
	p.ack.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := p.ack.Read(buf)
	if err != nil {
		return p.failure(c, err)
	}
	if !strings.HasPrefix(string(buf[:n]), "ack") {
		return p.failure(c, fmt.Errorf("answered %q", buf[:n]))
	}
	return nil
}

func (p *perfCounter) failure(c string, err error) error {
	p.close()
	return fmt.Errorf("perf stat --control %s: %v: %s", c, err, tellingLine(p.out.String()))
}

// count stops perf and returns what it counted while enabled.
func (p *perfCounter) count() (float64, error) {
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
	p.ctl.Close()
	p.ack.Close()
	for _, line := range strings.Split(p.out.String(), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 || f[2] != "raw_syscalls:sys_enter" {
			continue
		}
		if f[0] == "<not counted>" { // the process never ran while counted
			return 0, nil
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("perf stat: %q: %w", line, err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("perf stat: no count: %s", tellingLine(p.out.String()))
}

func (p *perfCounter) close() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
	p.ctl.Close()
	p.ack.Close()
}

// probePerf checks that perf can count raw_syscalls:sys_enter here, and
// says why not when it cannot.
func probePerf() (string, error) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return "", errors.New("perf not found (Debian: apt-get install linux-perf)")
	}
	out, err := exec.Command(perf, "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-D", "-1", "--control", "fd:0", "--", "true").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s stat -e raw_syscalls:sys_enter --control fails (needs perf 5.9+ and tracepoint access, e.g. root or kernel.perf_event_paranoid ≤ -1): %s", perf, tellingLine(string(out)))
	}
	return perf, nil
}
