package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

type pointKind int

const (
	echoPoint   pointKind = iota // request and response, -pipeline messages per write
	streamPoint                  // one writer and one reader per connection
	idlePoint                    // connections opened, proved with one echo, then held
	httpPoint                    // net/http GETs, one at a time per connection
	udpPoint                     // datagrams echoed: conns flows, depth in flight on each
)

// httpServers are the servers of the HTTP points: net/http on each.
var httpServers = []string{"net", "gonet"}

// udpServers are the servers of the UDP points. net-mmsg (Go net with
// x/net's recvmmsg and sendmmsg) is the reference floor; gonet-batch is
// gonet's ReadBatch and WriteBatch; berkeley batches with Recvmmsg, and
// berkeley-single calls Recvfrom and Sendto; loop is the UDP event loop.
var udpServers = []string{"net", "net-mmsg", "berkeley", "berkeley-single", "gonet", "gonet-batch", "loop"}

// point is one workload of the matrix.
type point struct {
	name       string // its -points name
	kind       pointKind
	conns      int
	depth      int    // messages per write (echo), or in flight (stream)
	size       int    // message size
	serverSize int    // the goroutine servers' -size, when it is not size
	procs      int    // the server's GOMAXPROCS; 0 means 1
	path       string // httpPoint: the URL path, whose response is size bytes
}

func (p point) gomaxprocs() int { return max(p.procs, 1) }

// atProcs returns p with the server at GOMAXPROCS=n, named p.name@n.
func (p point) atProcs(n int) point {
	if n > 1 {
		p.name = fmt.Sprintf("%s@%d", p.name, n)
	}
	p.procs = n
	return p
}

// defaultPoints is the whole matrix, in the order it runs and is reported.
var defaultPoints = []point{
	{name: "echo-c1", kind: echoPoint, conns: 1, depth: 1, size: 64},
	{name: "echo-c64", kind: echoPoint, conns: 64, depth: 1, size: 64},
	{name: "echo-c1000", kind: echoPoint, conns: 1000, depth: 1, size: 64},
	{name: "pipe-c1", kind: echoPoint, conns: 1, depth: 16, size: 64},
	{name: "pipe-c64", kind: echoPoint, conns: 64, depth: 16, size: 64},
	{name: "pipe-c1000", kind: echoPoint, conns: 1000, depth: 16, size: 64},
	{name: "echo4k-c64", kind: echoPoint, conns: 64, depth: 1, size: 4096},
	// The goroutine servers read into 16×serverSize bytes: 64 KiB, as gnet.
	{name: "stream", kind: streamPoint, conns: 1, depth: 16, size: 64 << 10, serverSize: 4096},
	{name: "idle", kind: idlePoint, conns: 10000, depth: 1, size: 64},
	{name: "http-13b", kind: httpPoint, conns: 64, depth: 1, size: 13, path: "/13b"},
	{name: "http-64k", kind: httpPoint, conns: 64, depth: 1, size: 64 << 10, path: "/64k"},
	{name: "http-file", kind: httpPoint, conns: 64, depth: 1, size: 1 << 20, path: "/file"},
	{name: "udp-f1", kind: udpPoint, conns: 1, depth: 1, size: 64},
	{name: "udp-f16", kind: udpPoint, conns: 16, depth: 8, size: 64},
	{name: "udp1200-f1", kind: udpPoint, conns: 1, depth: 1, size: 1200},
	{name: "udp1200-f16", kind: udpPoint, conns: 16, depth: 8, size: 1200},
}

// quickPoints are the points of --quick.
var quickPoints = []string{"echo-c1", "echo-c64", "pipe-c64", "stream", "idle"}

func (p point) srvSize() int {
	if p.serverSize > 0 {
		return p.serverSize
	}
	return p.size
}

// title names the workload in the tables.
func (p point) title() string {
	switch p.kind {
	case streamPoint:
		return fmt.Sprintf("%s, %s writes, echoed%s", plural(p.conns, "conn"), byteSize(p.size), p.procsNote())
	case idlePoint:
		return fmt.Sprintf("%d idle conns", p.conns)
	case httpPoint:
		return fmt.Sprintf("net/http, %s, %s%s", p.httpWhat(), plural(p.conns, "conn"), p.procsNote())
	case udpPoint:
		return fmt.Sprintf("%s datagrams, %s × %d in flight%s", byteSize(p.size), plural(p.conns, "flow"), p.depth, p.procsNote())
	}
	s := fmt.Sprintf("%s echo, %s", byteSize(p.size), plural(p.conns, "conn"))
	if p.depth > 1 {
		s += fmt.Sprintf(", %d-deep pipeline", p.depth)
	}
	return s + p.procsNote()
}

// httpWhat says what an HTTP point's response is.
func (p point) httpWhat() string {
	if p.path == "/file" {
		return byteSize(p.size) + " file (http.ServeFile)"
	}
	return byteSize(p.size) + " response"
}

// procsNote marks a point whose server runs at GOMAXPROCS above 1.
func (p point) procsNote() string {
	if p.gomaxprocs() == 1 {
		return ""
	}
	return fmt.Sprintf(", GOMAXPROCS=%d", p.gomaxprocs())
}

// label names the workload in the chart.
func (p point) label() string {
	switch p.kind {
	case streamPoint:
		return fmt.Sprintf("stream %s writes%s (msgs/s)", byteSize(p.size), p.procsNote())
	case idlePoint:
		return fmt.Sprintf("idle: RSS per conn at %d (lower is better)", p.conns)
	case httpPoint:
		return fmt.Sprintf("HTTP %s%s (req/s)", p.httpWhat(), p.procsNote())
	case udpPoint:
		return fmt.Sprintf("UDP %s, %s × %d%s (datagrams/s)", byteSize(p.size), plural(p.conns, "flow"), p.depth, p.procsNote())
	}
	s := fmt.Sprintf("%s echo, %s", byteSize(p.size), plural(p.conns, "conn"))
	if p.depth > 1 {
		s += fmt.Sprintf(", pipeline %d", p.depth)
	}
	return s + p.procsNote()
}

// sample is one round of one server at one point.
type sample struct {
	err            error
	opsPerSec      float64
	p50, p99, p999 float64 // µs; zero where not measured
	cpuPerOp       float64 // µs of server CPU
	sysPerOp       float64 // NaN without perf
	srvBusy        float64 // the server's CPU time over the window, 1 for one CPU
	loadBusy       float64 // the load's
	others         float64 // other processes' CPU time on CPUs 0 and 1, 2 for both; NaN where not measured
	rssBefore      int64   // bytes, idle point
	rssAfter       int64
	loss           float64 // udp: the share of datagrams that never came back
	handoff        float64 // ns for a cache line between CPUs 0 and 1 just before the round (handoff); 0 where not measured
}

// summary is the medians of one server's rounds at one point.
type summary struct {
	rounds, failed int
	lastErr        string
	ops            float64
	opsMin, opsMax float64
	p50, p99, p999 float64
	cpu, sys       float64
	srvBusy        float64
	loadBusy       float64
	rssBefore      float64
	rssAfter       float64
	perConn        float64 // bytes per idle connection
	loss           float64
}

func summarize(ss []sample, p point) summary {
	var s summary
	var ok []sample
	for _, x := range ss {
		s.rounds++
		if x.err != nil {
			s.failed++
			s.lastErr = x.err.Error()
			continue
		}
		ok = append(ok, x)
	}
	get := func(f func(sample) float64) float64 {
		v := make([]float64, 0, len(ok))
		for _, x := range ok {
			v = append(v, f(x))
		}
		return median(v)
	}
	s.ops = get(func(x sample) float64 { return x.opsPerSec })
	s.opsMin, s.opsMax = s.ops, s.ops
	for _, x := range ok {
		s.opsMin, s.opsMax = math.Min(s.opsMin, x.opsPerSec), math.Max(s.opsMax, x.opsPerSec)
	}
	s.p50 = get(func(x sample) float64 { return x.p50 })
	s.p99 = get(func(x sample) float64 { return x.p99 })
	s.p999 = get(func(x sample) float64 { return x.p999 })
	s.cpu = get(func(x sample) float64 { return x.cpuPerOp })
	s.sys = get(func(x sample) float64 { return x.sysPerOp })
	s.srvBusy = get(func(x sample) float64 { return x.srvBusy })
	s.loadBusy = get(func(x sample) float64 { return x.loadBusy })
	s.rssBefore = get(func(x sample) float64 { return float64(x.rssBefore) })
	s.rssAfter = get(func(x sample) float64 { return float64(x.rssAfter) })
	s.perConn = get(func(x sample) float64 { return float64(x.rssAfter-x.rssBefore) / float64(p.conns) })
	s.loss = get(func(x sample) float64 { return x.loss })
	return s
}

// median returns the median of v's numbers, skipping NaNs (figures a round
// could not measure); NaN if there are none.
func median(v []float64) float64 {
	v = slices.DeleteFunc(slices.Clone(v), math.IsNaN)
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// percentile returns the nearest-rank p-th percentile of sorted, in ns.
func percentile(sorted []time.Duration, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*p)) - 1
	return sorted[max(0, min(len(sorted)-1, i))].Nanoseconds()
}

// results is everything a run measured, and how.
type results struct {
	points  []point
	impls   []string                       // servers, in alternation order
	samples map[string]map[string][]sample // point name → server → rounds

	command string // how to rerun it
	header  []string
	setup   string
	notes   []string
}

func (r *results) add(p point, impl string, s sample) {
	if r.samples == nil {
		r.samples = map[string]map[string][]sample{}
	}
	if r.samples[p.name] == nil {
		r.samples[p.name] = map[string][]sample{}
	}
	r.samples[p.name][impl] = append(r.samples[p.name][impl], s)
}

// servers returns the servers measured at p, in alternation order.
func (r *results) servers(p point) []string {
	var out []string
	for _, impl := range append(slices.Clone(r.impls), "net-mmsg", "berkeley-single", "gonet-batch", "iperf3") {
		if _, ok := r.samples[p.name][impl]; ok {
			out = append(out, impl)
		}
	}
	return out
}

func (r *results) summary(p point, impl string) (summary, bool) {
	ss, ok := r.samples[p.name][impl]
	if !ok {
		return summary{}, false
	}
	s := summarize(ss, p)
	return s, s.failed < s.rounds
}

// bestPeer returns the peer with the most ops/s at p.
func (r *results) bestPeer(p point) (string, float64) {
	best, ops := "", 0.0
	for _, impl := range peers {
		if s, ok := r.summary(p, impl); ok && s.ops > ops {
			best, ops = impl, s.ops
		}
	}
	return best, ops
}

func isPeer(impl string) bool { return slices.Contains(peers, impl) || impl == "iperf3" }

// writeMarkdown writes the report.
func (r *results) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "# ksocket bench\n\n")
	fmt.Fprintf(w, "`%s`\n\n", r.command)
	for _, h := range r.header {
		fmt.Fprintf(w, "%s  \n", h)
	}
	fmt.Fprintf(w, "\n%s\n", r.setup)

	var echo, stream, idle, web, udp []point
	for _, p := range r.points {
		switch p.kind {
		case udpPoint:
			udp = append(udp, p)
		case httpPoint:
			web = append(web, p)
		case echoPoint:
			echo = append(echo, p)
		case streamPoint:
			stream = append(stream, p)
		case idlePoint:
			idle = append(idle, p)
		}
	}
	if len(echo) > 0 {
		fmt.Fprintf(w, "\n## Echo\n\n")
		fmt.Fprintf(w, "| workload | server | ops/s | spread | vs best peer | p50 µs | p99 µs | p99.9 µs | server CPU µs/op | syscalls/op | CPU busy, server/load |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, p := range echo {
			for _, impl := range r.servers(p) {
				s, ok := r.summary(p, impl)
				if !ok {
					fmt.Fprintf(w, "| %s | %s | failed: %s | | | | | | | | |\n", p.title(), impl, mdEscape(s.lastErr))
					continue
				}
				fmt.Fprintf(w, "| %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.title(), impl,
					commas(s.ops), failedMark(s), spread(s), r.vsPeer(p, impl, s), micros(s.p50), micros(s.p99), micros(s.p999),
					fixed(s.cpu), perOp(s.sys), busy(s))
			}
		}
	}
	if len(web) > 0 {
		fmt.Fprintf(w, "\n## HTTP\n\n")
		fmt.Fprintf(w, "The same net/http handler served by net and by gonet; the load makes one GET at a time on each keep-alive connection and reads the whole response. "+
			"The file is served with http.ServeFile, where net uses sendfile(2) and gonet the ring's splice op at GOMAXPROCS=1, sendfile(2) at 2.\n\n")
		fmt.Fprintf(w, "| workload | server | req/s | spread | vs net | p50 µs | p99 µs | server CPU µs/req | syscalls/req | CPU busy, server/load |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, p := range web {
			for _, impl := range r.servers(p) {
				s, ok := r.summary(p, impl)
				if !ok {
					fmt.Fprintf(w, "| %s | %s | failed: %s | | | | | | | |\n", p.title(), impl, mdEscape(s.lastErr))
					continue
				}
				fmt.Fprintf(w, "| %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |\n", p.title(), impl,
					commas(s.ops), failedMark(s), spread(s), r.vsPeer(p, impl, s), micros(s.p50), micros(s.p99), fixed(s.cpu), perOp(s.sys), busy(s))
			}
		}
	}
	if len(udp) > 0 {
		fmt.Fprintf(w, "\n## UDP\n\n")
		fmt.Fprintf(w, "Each flow is a connected socket of the load that keeps its datagrams in flight and sends one more for each echo, in batches (recvmmsg, and one sendmsg with UDP_SEGMENT that the kernel cuts into separate datagrams), "+
			"so the server is what limits the rate. A flow that hears nothing for %v counts its datagrams in flight as lost and sends new ones. "+
			"net-mmsg, Go net with x/net's recvmmsg and sendmmsg 64 at a time, is the reference floor for a Go server; the other batching servers also take 64 a call.\n\n", udpFlowTimeout)
		fmt.Fprintf(w, "| workload | server | datagrams/s | spread | vs net | vs net-mmsg | p50 µs | p99 µs | server CPU µs/datagram | syscalls/datagram | lost | CPU busy, server/load |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, p := range udp {
			ref, haveRef := r.summary(p, "net-mmsg")
			for _, impl := range r.servers(p) {
				s, ok := r.summary(p, impl)
				if !ok {
					fmt.Fprintf(w, "| %s | %s | failed: %s | | | | | | | | | |\n", p.title(), impl, mdEscape(s.lastErr))
					continue
				}
				vsRef := ""
				if haveRef && impl != "net-mmsg" && ref.ops > 0 {
					vsRef = fmt.Sprintf("%.2f×", s.ops/ref.ops)
				}
				fmt.Fprintf(w, "| %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %.2f%% | %s |\n", p.title(), impl,
					commas(s.ops), failedMark(s), spread(s), r.vsPeer(p, impl, s), vsRef, micros(s.p50), micros(s.p99), fixed(s.cpu), perOp(s.sys), s.loss*100, busy(s))
			}
		}
	}
	for _, p := range stream {
		fmt.Fprintf(w, "\n## Stream: %s\n\n", p.title())
		fmt.Fprintf(w, "The load keeps %d messages in flight and counts what comes back, so the server receives and sends every byte. "+
			"iperf3 is one-way (its client on CPU 1 sends, its server on CPU 0 receives, %s writes): the ceiling for one direction. "+
			"An echo can pass it, since its two directions spread loopback's work over both CPUs.\n\n", p.depth, byteSize(p.size))
		fmt.Fprintf(w, "| server | Gbit/s each way | %s msgs/s | spread | vs best peer | vs iperf3 | server CPU µs/msg | syscalls/msg | CPU busy, server/load |\n", byteSize(p.size))
		fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		ceiling, haveCeiling := r.summary(p, "iperf3")
		for _, impl := range r.servers(p) {
			s, ok := r.summary(p, impl)
			if !ok {
				fmt.Fprintf(w, "| %s | failed: %s | | | | | | | |\n", impl, mdEscape(s.lastErr))
				continue
			}
			vsIperf := ""
			if haveCeiling && impl != "iperf3" && ceiling.ops > 0 {
				vsIperf = fmt.Sprintf("%.2f×", s.ops/ceiling.ops)
			}
			fmt.Fprintf(w, "| %s | %.1f | %s%s | %s | %s | %s | %s | %s | %s |\n", impl,
				s.ops*float64(p.size)*8/1e9, commas(s.ops), failedMark(s), spread(s), r.vsPeer(p, impl, s), vsIperf, fixed(s.cpu), perOp(s.sys), busy(s))
		}
	}
	for _, p := range idle {
		fmt.Fprintf(w, "\n## Idle connections: %d\n\n", p.conns)
		fmt.Fprintf(w, "| server | RSS before | RSS with the conns | RSS per conn |\n")
		fmt.Fprintf(w, "|---|---:|---:|---:|\n")
		for _, impl := range r.servers(p) {
			s, ok := r.summary(p, impl)
			if !ok {
				fmt.Fprintf(w, "| %s | failed: %s | | |\n", impl, mdEscape(s.lastErr))
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s%s |\n", impl, mib(s.rssBefore), mib(s.rssAfter), kib(s.perConn), failedMark(s))
		}
	}
	if goals := r.goals(); len(goals) > 0 {
		fmt.Fprintf(w, "\n## Goals (issue 6)\n\n")
		fmt.Fprintf(w, "Parity goals allow a 0.95 floor.\n\n")
		fmt.Fprintf(w, "| goal | measured | verdict |\n|---|---|---|\n")
		for _, g := range goals {
			fmt.Fprintf(w, "| %s | %s | %s |\n", g[0], g[1], g[2])
		}
	}
	notes := slices.Clone(r.notes)
	if n := r.quietNote(); n != "" {
		notes = append(notes, n)
	}
	if n := r.handoffNote(); n != "" {
		notes = append(notes, n)
	}
	for _, p := range r.points {
		for _, impl := range r.servers(p) {
			if s, _ := r.summary(p, impl); s.failed > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: %d of %d rounds failed; the last: %s", p.name, impl, s.failed, s.rounds, s.lastErr))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", mdEscape(n))
		}
	}
}

// quietNote says how much of CPUs 0 and 1 other processes took during the
// measured windows.
func (r *results) quietNote() string {
	var v []float64
	for _, byImpl := range r.samples {
		for _, ss := range byImpl {
			for _, s := range ss {
				if s.err == nil && !math.IsNaN(s.others) {
					v = append(v, s.others/2)
				}
			}
		}
	}
	if len(v) == 0 {
		return ""
	}
	most := slices.Max(v)
	n := fmt.Sprintf("Other processes took a median of %.1f%% (at most %.0f%%) of CPUs 0 and 1 during the measured windows", median(v)*100, most*100)
	if most > 0.05 {
		return n + ": the machine was not quiet, so these figures are noisy."
	}
	return n + "."
}

// handoffNote gives the range of the cross-CPU hand-off measured before
// the rounds (handoff).
func (r *results) handoffNote() string {
	var v []float64
	for _, byImpl := range r.samples {
		for _, ss := range byImpl {
			for _, s := range ss {
				if s.handoff > 0 {
					v = append(v, s.handoff)
				}
			}
		}
	}
	if len(v) == 0 {
		return ""
	}
	return fmt.Sprintf("A cache line took a median of %.0f ns (%.0f to %.0f) to pass between CPUs 0 and 1, measured before each round. "+
		"On a VM it changes with where the host runs the two vCPUs; where it is high, points at GOMAXPROCS=2 gain less from the second CPU.",
		median(v), slices.Min(v), slices.Max(v))
}

// vsPeer gives a ksocket engine's ops/s as a ratio to the best peer's.
func (r *results) vsPeer(p point, impl string, s summary) string {
	if isPeer(impl) {
		return ""
	}
	best, ops := r.bestPeer(p)
	if ops == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f× %s", s.ops/ops, best)
}

// goals checks issue 6's goals against what was measured: rows of goal,
// measurement and verdict.
func (r *results) goals() [][3]string {
	pt := func(name string) (point, bool) {
		i := slices.IndexFunc(r.points, func(p point) bool { return p.name == name })
		if i < 0 {
			return point{}, false
		}
		return r.points[i], true
	}
	var rows [][3]string
	// ratio compares impl's ops/s at the point with peer's.
	ratio := func(goal, name, impl, peer string, want, floor float64) {
		p, ok := pt(name)
		if !ok {
			return
		}
		a, okA := r.summary(p, impl)
		b, okB := r.summary(p, peer)
		if !okA || !okB || b.ops == 0 {
			return
		}
		x := a.ops / b.ops
		rows = append(rows, [3]string{goal, fmt.Sprintf("%.2f× (%s vs %s ops/s)", x, commas(a.ops), commas(b.ops)), verdict(x >= want, x >= floor)})
	}
	ratio("loop, 64 B at 64 conns: ops/s ≥ net", "echo-c64", "loop", "net", 1, 0.95)
	if p, ok := pt("echo-c64"); ok {
		if s, ok := r.summary(p, "loop"); ok && !math.IsNaN(s.sys) {
			rows = append(rows, [3]string{"loop, 64 B at 64 conns: syscalls/op ≤ 0.5", perOp(s.sys), verdict(s.sys <= 0.5, s.sys <= 0.5)})
		}
	}
	ratio("loop, 64 conns, 16-deep pipeline: ops/s ≥ 1.0× gnet (required)", "pipe-c64", "loop", "gnet", 1, 0.95)
	ratio("loop, 64 conns, 16-deep pipeline: ops/s ≥ 1.2× gnet (stretch)", "pipe-c64", "loop", "gnet", 1.2, 1.2)
	if p, ok := pt("echo-c1"); ok {
		if n, ok := r.summary(p, "net"); ok && n.p50 > 0 {
			for _, impl := range []string{"loop", "berkeley", "gonet"} {
				if s, ok := r.summary(p, impl); ok {
					x := s.p50 / n.p50
					rows = append(rows, [3]string{impl + ", 1 conn ping-pong: p50 ≤ net's",
						fmt.Sprintf("%s vs %s µs (%.2f×)", micros(s.p50), micros(n.p50), x), verdict(x <= 1, x <= 1/0.95)})
				}
			}
		}
	}
	if p, ok := pt("idle"); ok {
		if s, ok := r.summary(p, "loop"); ok {
			rows = append(rows, [3]string{fmt.Sprintf("loop: RSS per idle conn ≤ 1 KiB at %d", p.conns), kib(s.perConn), verdict(s.perConn <= 1024, s.perConn <= 1024)})
		}
	}
	for _, impl := range []string{"berkeley", "gonet"} {
		ratio(impl+", 1 conn: ops/s ≥ 1.0× net", "echo-c1", impl, "net", 1, 0.95)
		ratio(impl+", 64 conns: ops/s ≥ 1.0× net", "echo-c64", impl, "net", 1, 0.95)
	}
	return rows
}

func verdict(met, withinFloor bool) string {
	switch {
	case met:
		return "met"
	case withinFloor:
		return "met (within the 0.95 floor)"
	}
	return "**missed**"
}

// spread is how far the slowest and the fastest round were from the
// median, in percent of it: the noise at that point. It is empty for one
// round.
func spread(s summary) string {
	if s.rounds-s.failed < 2 || s.ops <= 0 {
		return ""
	}
	pct := func(v float64) int { return int(math.Round((v/s.ops - 1) * 100)) }
	return fmt.Sprintf("%+d%%/%+d%%", pct(s.opsMin), pct(s.opsMax))
}

// busy gives the CPU time of the server and the load over the window, as a
// share of one CPU each.
func busy(s summary) string {
	if math.IsNaN(s.srvBusy) || math.IsNaN(s.loadBusy) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%% / %.0f%%", s.srvBusy*100, s.loadBusy*100)
}

func failedMark(s summary) string {
	if s.failed > 0 {
		return fmt.Sprintf(" (%d/%d rounds failed)", s.failed, s.rounds)
	}
	return ""
}

// commas formats a rate as an integer with thousands separators.
func commas(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// micros formats a latency in µs.
func micros(v float64) string {
	switch {
	case math.IsNaN(v) || v == 0:
		return "n/a"
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func fixed(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

// perOp formats a count per op, with a third decimal below 0.1.
func perOp(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v < 0.1:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func kib(bytes float64) string {
	if math.IsNaN(bytes) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f KiB", bytes/1024)
}

func mib(bytes float64) string {
	if math.IsNaN(bytes) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
}

// byteSize formats a message size: 64 B, 4 KiB.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// human formats a rate briefly: 812k, 1.27M.
func human(v float64) string {
	switch {
	case v >= 10e6:
		return fmt.Sprintf("%.0fM", v/1e6)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 10e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func mdEscape(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }

// oneLine folds s onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
