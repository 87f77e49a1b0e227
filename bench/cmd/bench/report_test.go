package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var medianTests = []struct {
	in   []float64
	want float64
}{
	{[]float64{3}, 3},
	{[]float64{3, 1, 2}, 2},
	{[]float64{4, 1, 3, 2}, 2.5},
}

func TestMedian(t *testing.T) {
	for _, tt := range medianTests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
	if got := median([]float64{1, math.NaN(), 2, 7}); got != 2 {
		t.Errorf("median(1, NaN, 2, 7) = %v, want 2", got)
	}
	if got := median([]float64{math.NaN()}); !math.IsNaN(got) {
		t.Errorf("median(NaN) = %v, want NaN", got)
	}
}

var percentileTests = []struct {
	n    int
	p    float64
	want int64 // of samples 1..n ns
}{
	{100, 0.5, 50},
	{100, 0.99, 99},
	{1000, 0.999, 999},
	{10, 0.999, 10},
	{1, 0.5, 1},
}

func TestPercentileIsNearestRank(t *testing.T) {
	for _, tt := range percentileTests {
		s := make([]time.Duration, tt.n)
		for i := range s {
			s[i] = time.Duration(i + 1)
		}
		if got := percentile(s, tt.p); got != tt.want {
			t.Errorf("percentile(1..%d, %v) = %d, want %d", tt.n, tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %d, want 0", got)
	}
}

var formatTests = []struct {
	got, want string
}{
	{commas(1270000.4), "1,270,000"},
	{commas(999), "999"},
	{commas(math.NaN()), "n/a"},
	{micros(39.04), "39.0"},
	{micros(1234.5), "1234"},
	{perOp(0.042), "0.042"},
	{perOp(2.6), "2.60"},
	{human(1.27e6), "1.27M"},
	{human(86000), "86k"},
	{byteSize(65536), "64 KiB"},
	{byteSize(64), "64 B"},
	{oneLine("a\n  b\tc"), "a b c"},
}

func TestFormats(t *testing.T) {
	for _, tt := range formatTests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestNiceCeilCoversWithRoundTicks(t *testing.T) {
	for _, v := range []float64{0.3, 1, 17, 99, 250, 1.27e6, 2.9e6} {
		scale, ticks := niceCeil(v)
		if scale < v {
			t.Errorf("niceCeil(%v) = %v, below it", v, scale)
		}
		step := scale / float64(ticks)
		mant := step / math.Pow(10, math.Floor(math.Log10(step)))
		if math.Abs(mant-math.Round(mant*2)/2) > 1e-9 {
			t.Errorf("niceCeil(%v): step %v is not round", v, step)
		}
	}
}

// fakeResults is a small run: two peers and the loop engine at three points,
// with one failed round, and one server whose rounds spread.
func fakeResults() *results {
	pts := []point{defaultPoints[1], defaultPoints[4], defaultPoints[8]}
	r := &results{points: pts, impls: []string{"net", "gnet", "loop"}, command: "go run ./cmd/bench"}
	for round := range 3 {
		f := float64(round)
		r.add(pts[0], "net", sample{opsPerSec: 80e3 + f, p50: 400, p99: 1700, p999: 2500, cpuPerOp: 11, sysPerOp: 2.6})
		r.add(pts[0], "gnet", sample{opsPerSec: 90e3 + f, p50: 390, p99: 1600, p999: 2400, cpuPerOp: 10, sysPerOp: 2.4})
		r.add(pts[0], "loop", sample{opsPerSec: 95e3 + f, p50: 380, p99: 1500, p999: 2300, cpuPerOp: 8, sysPerOp: 0.4})
		r.add(pts[1], "net", sample{opsPerSec: []float64{1.2e6, 1.27e6, 1.3e6}[round], cpuPerOp: 0.7, sysPerOp: math.NaN()})
		r.add(pts[1], "gnet", sample{opsPerSec: 1.42e6, cpuPerOp: 0.6, sysPerOp: math.NaN()})
		r.add(pts[1], "loop", sample{opsPerSec: 1.40e6, cpuPerOp: 0.5, sysPerOp: math.NaN()})
		r.add(pts[2], "net", sample{rssBefore: 6 << 20, rssAfter: 6<<20 + 10000*9000})
		r.add(pts[2], "loop", sample{rssBefore: 8 << 20, rssAfter: 8<<20 + 10000*900})
	}
	r.add(pts[2], "gnet", sample{err: errors.New("server gnet: exited\nbadly | really")})
	return r
}

func TestMarkdownReport(t *testing.T) {
	var b bytes.Buffer
	fakeResults().writeMarkdown(&b)
	md := b.String()
	for _, want := range []string{
		"| 64 B echo, 64 conns | loop | 95,001 | +0%/+0% | 1.06× gnet |",
		"| loop, 64 B at 64 conns: ops/s ≥ net | 1.19× (95,001 vs 80,001 ops/s) | met |",
		"| loop, 64 B at 64 conns: syscalls/op ≤ 0.5 | 0.40 | met |",
		"| loop, 64 conns, 16-deep pipeline: ops/s ≥ 1.0× gnet (required) | 0.99× (1,400,000 vs 1,420,000 ops/s) | met (within the 0.95 floor) |",
		"| loop, 64 conns, 16-deep pipeline: ops/s ≥ 1.2× gnet (stretch) | 0.99× (1,400,000 vs 1,420,000 ops/s) | **missed** |",
		"| loop: RSS per idle conn ≤ 1 KiB at 10000 | 0.88 KiB | met |",
		"| gnet | failed: server gnet: exited badly \\| really | | |",
		"| 64 B echo, 64 conns, 16-deep pipeline | net | 1,270,000 | -6%/+2% |  | n/a | n/a | n/a | 0.70 | n/a |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| ") && strings.Count(line, " | ") < 2 {
			t.Errorf("short table row %q", line)
		}
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	fakeResults().writeSVG(&b)
	d := xml.NewDecoder(&b)
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// A background, 3 legend swatches, 3+3+2 bars.
	if rects != 1+3+8 {
		t.Errorf("SVG has %d rects, want %d", rects, 1+3+8)
	}
}

// TestHandoff: the cross-CPU hand-off is measured where there are two
// CPUs, and reported in the notes as median and range.
func TestHandoff(t *testing.T) {
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil || !cpus.IsSet(0) || !cpus.IsSet(1) {
		t.Skip("needs CPUs 0 and 1")
	}
	if runtime.GOMAXPROCS(0) < 2 { // go test -cpu 1
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	ns, err := handoff(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ns <= 0 || ns > 1e6 {
		t.Errorf("hand-off %v ns", ns)
	}
	r := fakeResults()
	for i, p := range r.points {
		r.add(p, "net", sample{handoff: float64(100 * (i + 1))})
	}
	var b bytes.Buffer
	r.writeMarkdown(&b)
	if want := "A cache line took a median of 200 ns (100 to 300)"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q", want)
	}
}
