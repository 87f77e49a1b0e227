//go:build linux

package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "server":
			serverMain(os.Args[2:])
			return
		case "load":
			loadMain(os.Args[2:])
			return
		}
	}
	runMain(os.Args[1:])
}

const usage = `bench [flags]                       compare the servers (this is what 'ksocket bench' runs)
bench server -impl NAME [-size N]   run one echo server; prints its address
bench load -addr HOST:PORT [flags]  run the load generator; driven through stdin

Each server runs alone on CPU 0 with GOMAXPROCS=1 (taskset), under a Go net
load generator on CPU 1. With -procs 1,2 every point but idle runs again
with the server at GOMAXPROCS=2 on CPUs 0 and 1: its second P shares CPU 1
with the load, as a server does whose cores are all busy. Rounds alternate between the servers, starting with
a different one each round; after -warmup of load, one -duration window is
measured, and the report gives the median of every figure over the rounds.
Before each round it times a cache line's passage between CPUs 0 and 1
(the progress line's hand-off): on a VM that moves with where the host runs
the two vCPUs, and the GOMAXPROCS=2 figures move with it.

Servers: net (a goroutine per connection), gnet (v2, one event loop,
edge-triggered), and ksocket's berkeley, gonet and loop engines. The peers
are net and gnet; each engine's ops/s is also given as a ratio to the
better of the two.

Points (-points):
  echo-c1, echo-c64, echo-c1000   64 B echo at 1, 64 and 1000 connections:
                                  each connection writes a message and reads
                                  its echo before the next
  pipe-c1, pipe-c64, pipe-c1000   the same with 16 messages in one write,
                                  read back before the next write
  echo4k-c64                      4 KiB echo at 64 connections
  stream                          one connection, 64 KiB writes, echoed: a
                                  writer keeps 16 of them in flight and a
                                  reader counts what comes back; iperf3
                                  (one-way, same pinning) is the ceiling
  idle                            RSS per idle connection: the server's
                                  VmRSS before and after -idle-conns
                                  connections, each proved with one echo
  http-13b, http-64k, http-file   net/http served by net and by gonet (the
                                  other servers sit these out): a 13 B and
                                  a 64 KiB response, and a 1 MiB file with
                                  http.ServeFile, at 64 keep-alive
                                  connections, one GET at a time on each
  udp-f1, udp-f16                 64 B datagrams echoed: 1 flow with 1 in
  udp1200-f1, udp1200-f16         flight, and 16 flows with 8 in flight
                                  each; 1,200 B (a QUIC-sized datagram) in
                                  the udp1200 points. Servers: net and gonet
                                  (ReadFrom, then WriteTo), net-mmsg (x/net's
                                  recvmmsg and sendmmsg, 64 a call: the
                                  reference floor), gonet-batch (ReadBatch
                                  and WriteBatch), berkeley (Recvmmsg and
                                  Sendmmsg), berkeley-single (Recvfrom,
                                  then Sendto) and loop (loop.ListenPacket);
                                  gnet sits these out.
                                  Also reported: the share of datagrams lost

Measured per server and point: ops/s; p50, p99 and p99.9 round-trip latency
(write of a batch to the last byte of its echo, at the load); server CPU
µs per op (utime+stime from /proc/PID/stat); CPU busy of server and load;
syscalls per op (perf stat -e raw_syscalls:sys_enter -p PID; Debian
linux-perf), counted in a window of its own just after the main one (a
quarter as long, 0.1 to 1 s), as the tracepoint slows every syscall.

The full matrix takes about 15 minutes; --quick about one.`

func runMain(args []string) {
	var names []string
	for _, p := range defaultPoints {
		names = append(names, p.name)
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	implsFlag := fs.String("impls", strings.Join(serverImpls, ","), "servers, in alternation order")
	pointsFlag := fs.String("points", "all", "workloads, comma-separated, or all: "+strings.Join(names, ","))
	rounds := fs.Int("rounds", 5, "alternating rounds per point")
	dur := fs.Duration("duration", 3*time.Second, "measured window of each round")
	warmup := fs.Duration("warmup", 500*time.Millisecond, "load before each window")
	idleConns := fs.Int("idle-conns", 10000, "connections at the idle point")
	quick := fs.Bool("quick", false, "about a minute: -points "+strings.Join(quickPoints, ",")+" -rounds 3 -duration 300ms -warmup 150ms\n(flags given explicitly win)")
	out := fs.String("out", "bench-results.md", "also write the markdown report to this file (\"\" for none)")
	svgOut := fs.String("svg", "bench-results.svg", "write the SVG chart to this file (\"\" for none)")
	conns := fs.String("conns", "", "instead of -points: echo points at these connection counts, e.g. 1,64")
	depth := fs.Int("pipeline", 1, "messages per write at the -conns points")
	size := fs.Int("size", 64, "message size at the -conns points")
	procsFlag := fs.String("procs", "1", "the servers' GOMAXPROCS, comma-separated: at 2 a server runs on CPUs 0 and 1,\nsharing CPU 1 with the load; the idle point runs at 1 only")
	parseFlags(fs, args, usage)

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		if !set["points"] {
			*pointsFlag = strings.Join(quickPoints, ",")
		}
		if !set["rounds"] {
			*rounds = 3
		}
		if !set["duration"] {
			*dur = 300 * time.Millisecond
		}
		if !set["warmup"] {
			*warmup = 150 * time.Millisecond
		}
	}
	switch {
	case *rounds < 1:
		fatalf("-rounds must be at least 1")
	case *dur < 100*time.Millisecond:
		fatalf("-duration must be at least 100ms")
	case *warmup < 0:
		fatalf("-warmup must not be negative")
	case *idleConns < 1:
		fatalf("-idle-conns must be at least 1")
	case *depth < 1 || *size < 1:
		fatalf("-pipeline and -size must be at least 1")
	}
	impls := splitList(*implsFlag)
	for _, impl := range impls {
		if !slices.Contains(serverImpls, impl) {
			fatalf("-impls: unknown server %q: want some of %s", impl, strings.Join(serverImpls, ","))
		}
	}
	if len(impls) == 0 {
		fatalf("-impls: no servers")
	}
	var points []point
	if set["conns"] {
		for _, c := range splitList(*conns) {
			n, err := strconv.Atoi(c)
			if err != nil || n < 1 {
				fatalf("-conns: %q is not a connection count", c)
			}
			p := point{name: fmt.Sprintf("echo-c%d-p%d-s%d", n, *depth, *size), kind: echoPoint, conns: n, depth: *depth, size: *size}
			// One of the matrix's points keeps its name, so its goals are checked.
			if i := slices.IndexFunc(defaultPoints, func(q point) bool {
				return q.kind == echoPoint && q.conns == p.conns && q.depth == p.depth && q.size == p.size
			}); i >= 0 {
				p = defaultPoints[i]
			}
			if !slices.ContainsFunc(points, func(q point) bool { return q.name == p.name }) {
				points = append(points, p)
			}
		}
	} else {
		var err error
		if points, err = selectPoints(*pointsFlag, *idleConns); err != nil {
			fatalf("-points: %v", err)
		}
	}

	points = withProcs(points, *procsFlag)

	b := &bencher{rounds: *rounds, dur: *dur, warmup: *warmup}
	b.checkTools(points)
	var err error
	if b.self, err = os.Executable(); err != nil {
		fatalf("%v", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		killChildren()
		fmt.Fprintln(os.Stderr, "\nbench: interrupted")
		os.Exit(130)
	}()

	r := &results{points: points, impls: impls, command: "cd bench && go run ./cmd/bench"}
	if len(args) > 0 {
		r.command += " " + strings.Join(args, " ")
	}
	r.header = machine()
	r.setup = fmt.Sprintf("Each server runs alone on CPU 0 with GOMAXPROCS=1 (at points marked GOMAXPROCS=2, on CPUs 0 and 1, the second shared with the load); the Go net load generator runs on CPU 1. "+
		"Rounds alternate between the servers: %d rounds of %v after %v of warm-up, at each point; figures are medians over the rounds, and \"spread\" is how far the slowest and the fastest round of ops/s were from that median. "+
		"Latency is per round trip at the load, from the write of a batch to the last byte of its echo. "+
		"Server CPU is utime+stime from /proc/PID/stat over the same window; syscalls are raw_syscalls:sys_enter from perf stat, counted in a window of %v just after it, since the tracepoint slows every syscall. "+
		"\"vs best peer\" is ops/s against the faster of Go net and gnet at that point. "+
		"Unpipelined points are bound by the load generator (2 cores), so CPU/op and syscalls/op are what separate the servers there.",
		*rounds, *dur, *warmup, b.sysWindow())
	b.run(r)
	r.notes = append(b.notes, r.notes...)

	var md bytes.Buffer
	r.writeMarkdown(&md)
	fmt.Print("\n" + md.String())
	if *out != "" {
		if err := os.WriteFile(*out, md.Bytes(), 0o644); err != nil {
			fatalf("%v", err)
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", *out)
	}
	if *svgOut != "" {
		var svg bytes.Buffer
		r.writeSVG(&svg)
		if err := os.WriteFile(*svgOut, svg.Bytes(), 0o644); err != nil {
			fatalf("%v", err)
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", *svgOut)
	}
}

// withProcs returns each point once per GOMAXPROCS in list ("1,2"); the
// idle point, which measures memory, only at 1.
func withProcs(points []point, list string) []point {
	var procs []int
	for _, f := range splitList(list) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 2 {
			fatalf("-procs: %q: want 1 or 2 (the server's CPUs are 0 and 1)", f)
		}
		if !slices.Contains(procs, n) {
			procs = append(procs, n)
		}
	}
	if len(procs) == 0 {
		fatalf("-procs: no GOMAXPROCS given")
	}
	var out []point
	for _, p := range points {
		for _, n := range procs {
			if p.kind == idlePoint && n > 1 {
				continue
			}
			out = append(out, p.atProcs(n))
		}
	}
	return out
}

// checkTools checks for taskset, two CPUs, perf and iperf3: the first two
// are required, the others only drop what they measure.
func (b *bencher) checkTools(points []point) {
	if _, err := exec.LookPath("taskset"); err != nil {
		fatalf("taskset not found: it pins the servers to CPU 0 and the load to CPU 1 (Debian: apt-get install util-linux)")
	}
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil || !cpus.IsSet(0) || !cpus.IsSet(1) {
		fatalf("needs CPUs 0 and 1 (the server's and the load's), and this process may not use both (%d CPUs allowed)", cpus.Count())
	}
	perf, err := probePerf()
	if err != nil {
		b.notes = append(b.notes, oneLine(err.Error())+": syscalls/op not measured.")
		fmt.Fprintf(os.Stderr, "bench: %s: syscalls/op not measured\n", oneLine(err.Error()))
	}
	b.perf = perf
	if slices.ContainsFunc(points, func(p point) bool { return p.kind == streamPoint }) {
		if b.iperf3, err = exec.LookPath("iperf3"); err != nil {
			b.notes = append(b.notes, "iperf3 not found (Debian: apt-get install iperf3): the stream point has no ceiling row.")
			fmt.Fprintln(os.Stderr, "bench: iperf3 not found (Debian: apt-get install iperf3): the stream point has no ceiling row")
		}
	}
}

// run measures every point, alternating the servers round by round.
func (b *bencher) run(r *results) {
	type job struct {
		p     point
		round int
		impl  string
	}
	var jobs []job
	for _, p := range r.points {
		servers := slices.Clone(r.impls)
		if p.kind == httpPoint {
			servers = slices.DeleteFunc(servers, func(s string) bool { return !slices.Contains(httpServers, s) })
		}
		if p.kind == udpPoint {
			servers = udpImpls(servers)
		}
		if p.kind == streamPoint && b.iperf3 != "" {
			servers = append(servers, "iperf3")
		}
		for round := range b.rounds {
			for k := range servers {
				// Start each round with the next server, so that none always follows the same one.
				jobs = append(jobs, job{p, round, servers[(k+round)%len(servers)]})
			}
		}
	}
	start := time.Now()
	var handoffErr error
	for i, j := range jobs {
		ho, err := handoff(200 * time.Millisecond)
		if err != nil && handoffErr == nil {
			handoffErr = err
			r.notes = append(r.notes, "The cross-CPU hand-off was not measured: "+err.Error())
		}
		var s sample
		switch {
		case j.impl == "iperf3":
			s = b.iperf3Round(j.p)
		case j.p.kind == idlePoint:
			s = b.idleRound(j.p, j.impl)
		default:
			s = b.loadRound(j.p, j.impl)
		}
		s.handoff = ho
		r.add(j.p, j.impl, s)

		// Progress: one line per round.
		elapsed := time.Since(start)
		left := time.Duration(float64(elapsed) / float64(i+1) * float64(len(jobs)-i-1))
		var what string
		switch {
		case s.err != nil:
			what = "FAILED: " + oneLine(s.err.Error())
		case j.p.kind == idlePoint:
			sum := summarize(r.samples[j.p.name][j.impl], j.p)
			what = fmt.Sprintf("%7s/conn  (median %s)", kib(float64(s.rssAfter-s.rssBefore)/float64(j.p.conns)), kib(sum.perConn))
		default:
			sum := summarize(r.samples[j.p.name][j.impl], j.p)
			what = fmt.Sprintf("%7s ops/s  (median %s)", human(s.opsPerSec), human(sum.ops))
			if j.p.kind == streamPoint {
				what += fmt.Sprintf("  %.1f Gbit/s", s.opsPerSec*float64(j.p.size)*8/1e9)
			}
			if s.others > 0.1 {
				what += fmt.Sprintf("  [others took %.0f%% of CPUs 0-1]", s.others/2*100)
			}
			if ho > 0 {
				what += fmt.Sprintf("  [hand-off %.0f ns]", ho)
			}
		}
		fmt.Fprintf(os.Stderr, "[%*d/%d %s, ~%s left] %-10s round %d/%d  %-8s %s\n",
			len(strconv.Itoa(len(jobs))), i+1, len(jobs), clock(elapsed), clock(left), j.p.name, j.round+1, b.rounds, j.impl, what)
	}
}

// udpImpls returns the UDP points' servers for the -impls chosen: each
// chosen one that has a UDP echo, with its other form after it (net
// brings net-mmsg, gonet gonet-batch, berkeley berkeley-single).
func udpImpls(impls []string) []string {
	var out []string
	for _, impl := range impls {
		if !slices.Contains(udpServers, impl) {
			continue
		}
		out = append(out, impl)
		for _, form := range []string{"-mmsg", "-batch", "-single"} {
			if slices.Contains(udpServers, impl+form) {
				out = append(out, impl+form)
			}
		}
	}
	return out
}

// selectPoints parses -points.
func selectPoints(spec string, idleConns int) ([]point, error) {
	var out []point
	names := splitList(spec)
	if len(names) == 1 && names[0] == "all" {
		names = nil
		for _, p := range defaultPoints {
			names = append(names, p.name)
		}
	}
	for _, name := range names {
		i := slices.IndexFunc(defaultPoints, func(p point) bool { return p.name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown point %q (see --help)", name)
		}
		p := defaultPoints[i]
		if p.kind == idlePoint {
			p.conns = idleConns
		}
		if !slices.ContainsFunc(out, func(q point) bool { return q.name == name }) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no points")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// machine describes where the run happened, for the report's header.
func machine() []string {
	var h []string
	var u unix.Utsname
	kernel := "?"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	h = append(h, fmt.Sprintf("%s, Linux %s, %s × %d CPUs, %s", time.Now().UTC().Format("2006-01-02 15:04 UTC"), kernel, model, runtime.NumCPU(), runtime.Version()))
	var deps []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/panjf2000/gnet/v2" {
				deps = append(deps, "gnet "+d.Version)
			}
		}
	}
	if rev, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		c := "ksocket " + strings.TrimSpace(string(rev))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			c += " with local changes"
		}
		deps = append([]string{c}, deps...)
	}
	if len(deps) > 0 {
		h = append(h, strings.Join(deps, ", "))
	}
	return h
}

// clock formats d as m:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
