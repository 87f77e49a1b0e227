package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// bencher runs the rounds.
type bencher struct {
	self   string // this binary: the servers and the load
	perf   string // perf's path; "" when syscalls are not counted
	iperf3 string // iperf3's path; "" when there is no ceiling row
	rounds int
	dur    time.Duration
	warmup time.Duration

	notes []string
}

// startServer starts impl for p and returns it with its address.
func (b *bencher) startServer(impl string, p point) (*child, string, error) {
	args := []string{b.self, "server", "-impl", impl, "-size", strconv.Itoa(p.srvSize())}
	if p.kind == idlePoint {
		args = append(args, "-nofile", strconv.Itoa(p.conns+256))
	}
	if p.kind == httpPoint {
		args = append(args, "-http")
	}
	if p.kind == udpPoint {
		args = append(args, "-udp")
	}
	srv, err := startChild("server "+impl, 0, p.gomaxprocs(), args...)
	if err != nil {
		return nil, "", err
	}
	addr, err := srv.expect("", 15*time.Second)
	if err != nil {
		srv.kill()
		return nil, "", err
	}
	return srv, strings.TrimSpace(addr), nil
}

// loadRound measures impl at an echo or stream point.
func (b *bencher) loadRound(p point, impl string) sample {
	srv, addr, err := b.startServer(impl, p)
	if err != nil {
		return sample{err: err}
	}
	defer srv.kill()
	mode := "echo"
	switch p.kind {
	case streamPoint:
		mode = "stream"
	case httpPoint:
		mode = "http"
	case udpPoint:
		mode = "udp"
	}
	ld, err := startChild("load", 1, 1, b.self, "load", "-addr", addr, "-mode", mode,
		"-conns", strconv.Itoa(p.conns), "-pipeline", strconv.Itoa(p.depth), "-size", strconv.Itoa(p.size), "-path", p.path)
	if err != nil {
		return sample{err: err}
	}
	defer ld.kill()
	// Blame the server when it is the one that died.
	fail := func(err error) sample {
		time.Sleep(50 * time.Millisecond)
		if !srv.running() {
			err = srv.failure("exited")
		}
		return sample{err: err}
	}
	if _, err := ld.expect("ready", 2*time.Minute); err != nil {
		return fail(err)
	}
	time.Sleep(b.warmup)

	pid := srv.pid()
	if err := ld.send("start"); err != nil {
		return fail(err)
	}
	if _, err := ld.expect("started", 10*time.Second); err != nil {
		return fail(err)
	}
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return fail(err)
	}
	lcpu0, _ := cpuTicks(ld.pid())
	all0, allErr := busyTicks()
	w0 := time.Now()
	select {
	case <-time.After(b.dur):
	case <-srv.exited:
	case <-ld.exited:
	}
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return fail(srv.failure("exited"))
	}
	lcpu1, _ := cpuTicks(ld.pid())
	all1, allErr1 := busyTicks()
	w1 := time.Now()
	if err := ld.send("end"); err != nil {
		return fail(err)
	}
	line, err := ld.expect("result", 30*time.Second)
	if err != nil {
		return fail(err)
	}
	res, err := parseResult(line)
	if err != nil {
		return fail(err)
	}
	if res.err != "" {
		return fail(errors.New("load: " + res.err))
	}
	if res.ops == 0 {
		return fail(errors.New("load: no echo came back in the window"))
	}
	s := sample{
		loss:      res.lost / max(res.ops+res.lost, 1),
		opsPerSec: res.ops / res.secs,
		p50:       res.p50 / 1e3,
		p99:       res.p99 / 1e3,
		p999:      res.p999 / 1e3,
	}
	s.setCPU(cpu1-cpu0, lcpu1-lcpu0, all1-all0, errors.Join(allErr, allErr1) == nil, w1.Sub(w0))

	// Syscalls are counted in a window of their own after the main one:
	// the raw_syscalls tracepoint costs every syscall about 0.15 µs here,
	// which would charge the servers that make more of them.
	s.sysPerOp = math.NaN()
	if pc := b.startPerf(pid); pc != nil {
		mark := func() (float64, error) {
			if err := ld.send("mark"); err != nil {
				return 0, err
			}
			line, err := ld.expect("mark", 10*time.Second)
			if err != nil {
				return 0, err
			}
			return strconv.ParseFloat(strings.TrimPrefix(line, "mark ops="), 64)
		}
		m0, err := mark()
		if err != nil {
			pc.close()
			return fail(err)
		}
		time.Sleep(b.sysWindow())
		m1, err := mark()
		if err != nil {
			pc.close()
			return fail(err)
		}
		if n := b.stopPerf(pc); m1 > m0 {
			s.sysPerOp = n / (m1 - m0)
		}
	}
	return s
}

// sysWindow is how long syscalls are counted for, after each round's window.
func (b *bencher) sysWindow() time.Duration {
	return min(max(b.dur/4, 100*time.Millisecond), time.Second)
}

// startPerf starts counting pid's syscalls (perf enabled and acknowledged),
// or returns nil when perf is off or has just failed (which turns it off,
// with a note).
func (b *bencher) startPerf(pid int) *perfCounter {
	if b.perf == "" {
		return nil
	}
	pc, err := startPerf(b.perf, pid)
	if err == nil {
		err = pc.enable()
	}
	if err != nil {
		b.perfFailed(err)
		return nil
	}
	return pc
}

// stopPerf returns the count of a perfCounter from startPerf, NaN for none.
func (b *bencher) stopPerf(pc *perfCounter) float64 {
	if pc == nil {
		return math.NaN()
	}
	if err := pc.disable(); err != nil {
		b.perfFailed(err)
		return math.NaN()
	}
	n, err := pc.count()
	if err != nil {
		b.perfFailed(err)
		return math.NaN()
	}
	return n
}

func (b *bencher) perfFailed(err error) {
	b.perf = ""
	msg := "perf failed, so syscalls/op is not measured from here on: " + oneLine(err.Error())
	b.notes = append(b.notes, msg)
	fmt.Fprintln(os.Stderr, "bench: "+msg)
}

// loadResult is a load generator's "result" line.
type loadResult struct {
	ops, secs      float64
	p50, p99, p999 float64 // ns
	lost           float64 // udp: datagrams that never came back
	err            string
}

func parseResult(line string) (loadResult, error) {
	var r loadResult
	line, r.err, _ = strings.Cut(line, " err=")
	for _, f := range strings.Fields(strings.TrimPrefix(line, "result")) {
		k, v, _ := strings.Cut(f, "=")
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return r, fmt.Errorf("load: bad result %q", line)
		}
		switch k {
		case "ops":
			r.ops = x
		case "ns":
			r.secs = x / 1e9
		case "p50":
			r.p50 = x
		case "p99":
			r.p99 = x
		case "p999":
			r.p999 = x
		case "lost":
			r.lost = x
		}
	}
	if r.secs <= 0 {
		return r, fmt.Errorf("load: bad result %q", line)
	}
	return r, nil
}

// idleRound opens p.conns connections to impl, proves each with one echo,
// and measures how much the server's resident set grew.
func (b *bencher) idleRound(p point, impl string) sample {
	srv, addr, err := b.startServer(impl, p)
	if err != nil {
		return sample{err: err}
	}
	defer srv.kill()
	time.Sleep(100 * time.Millisecond)
	before, err := vmRSS(srv.pid())
	if err != nil {
		return sample{err: err}
	}
	ld, err := startChild("load", 1, 1, b.self, "load", "-addr", addr, "-mode", "idle",
		"-conns", strconv.Itoa(p.conns), "-size", strconv.Itoa(p.size))
	if err != nil {
		return sample{err: err}
	}
	defer ld.kill()
	if _, err := ld.expect("ready", 2*time.Minute); err != nil {
		if !srv.running() {
			err = srv.failure("exited")
		}
		return sample{err: err}
	}
	time.Sleep(200 * time.Millisecond) // let the server settle
	after, err := vmRSS(srv.pid())
	if err != nil || !srv.running() {
		return sample{err: srv.failure("exited")}
	}
	return sample{rssBefore: before, rssAfter: after, sysPerOp: math.NaN(), others: math.NaN()}
}

// iperf3Round measures the machine's ceiling for the stream point: iperf3,
// one-way, its server on CPU 0 and its client on CPU 1, with the point's
// write size.
func (b *bencher) iperf3Round(p point) sample {
	port, err := freePort()
	if err != nil {
		return sample{err: err}
	}
	srv, err := startChild("iperf3 server", 0, 1, b.iperf3, "-s", "-1", "-p", port, "--forceflush")
	if err != nil {
		return sample{err: err}
	}
	defer srv.kill()
	if _, err := srv.expect("Server listening", 10*time.Second); err != nil {
		return sample{err: err}
	}
	// iperf3 takes whole seconds: the window is the part after the warm-up,
	// and the syscall window follows it.
	secs := int(math.Ceil((b.warmup + b.dur + b.sysWindow() + 200*time.Millisecond).Seconds()))
	cli, err := startChild("iperf3", 1, 1, b.iperf3, "-c", "127.0.0.1", "-p", port, "-J", "-i", "0.1",
		"-l", strconv.Itoa(p.size), "-t", strconv.Itoa(secs))
	if err != nil {
		return sample{err: err}
	}
	defer cli.kill()
	time.Sleep(b.warmup)
	pid := srv.pid()
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return sample{err: srv.failure("exited")}
	}
	lcpu0, _ := cpuTicks(cli.pid())
	all0, allErr := busyTicks()
	w0 := time.Now()
	time.Sleep(b.dur)
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return sample{err: srv.failure("exited")}
	}
	lcpu1, _ := cpuTicks(cli.pid())
	all1, allErr1 := busyTicks()
	w1 := time.Now()
	sys, sysSecs := math.NaN(), 0.0
	if pc := b.startPerf(pid); pc != nil {
		t := time.Now()
		time.Sleep(b.sysWindow())
		sysSecs = time.Since(t).Seconds()
		sys = b.stopPerf(pc)
	}
	out, err := cli.output(time.Duration(secs)*time.Second + 30*time.Second)
	if err != nil {
		return sample{err: err}
	}
	var rep struct {
		Intervals []struct {
			Sum struct {
				Start, End float64
				Bytes      float64
			}
		}
		Error string
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return sample{err: fmt.Errorf("iperf3 -J: %v", err)}
	}
	if rep.Error != "" {
		return sample{err: errors.New("iperf3: " + rep.Error)}
	}
	var bytes, span float64
	for _, iv := range rep.Intervals {
		if iv.Sum.Start >= b.warmup.Seconds()-0.01 && iv.Sum.End <= (b.warmup+b.dur).Seconds()+0.01 {
			bytes += iv.Sum.Bytes
			span += iv.Sum.End - iv.Sum.Start
		}
	}
	if bytes == 0 || span == 0 {
		return sample{err: errors.New("iperf3: nothing moved after the warm-up")}
	}
	s := sample{opsPerSec: bytes / span / float64(p.size)}
	s.setCPU(cpu1-cpu0, lcpu1-lcpu0, all1-all0, errors.Join(allErr, allErr1) == nil, w1.Sub(w0))
	s.sysPerOp = sys / (s.opsPerSec * sysSecs)
	return s
}

// setCPU sets the CPU figures from the CPU ticks of the server, the load
// and (if allOK) all of CPUs 0 and 1 over a window; opsPerSec must be set.
func (s *sample) setCPU(srvTicks, loadTicks, allTicks int64, allOK bool, window time.Duration) {
	secs := window.Seconds()
	s.cpuPerOp = float64(srvTicks) / ticksPerSecond * 1e6 / (s.opsPerSec * secs)
	s.srvBusy = float64(srvTicks) / ticksPerSecond / secs
	s.loadBusy = float64(loadTicks) / ticksPerSecond / secs
	s.others = math.NaN()
	if allOK {
		s.others = max(0, float64(allTicks-srvTicks-loadTicks)/ticksPerSecond/secs)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}
