package main

import (
	"fmt"
	"html"
	"io"
	"math"
)

// serverColors are the chart's colors, one per server.
var serverColors = map[string]string{
	"net":      "#4e79a7",
	"gnet":     "#f28e2b",
	"berkeley": "#e15759",
	"gonet":    "#b07aa1",
	"loop":     "#59a14f",
	"iperf3":   "#9d9d9d",
}

// writeSVG draws one panel per workload, each with its own scale: a bar per
// server at its median, and a whisker from its slowest round to its fastest.
func (r *results) writeSVG(w io.Writer) {
	const (
		cols   = 3
		panelW = 340
		panelH = 250
		top    = 70 // title and legend
		left   = 58 // y-axis labels
		right  = 12
		ptop   = 34 // panel title
		pbot   = 22 // server names
	)
	rows := (len(r.points) + cols - 1) / cols
	width, height := cols*panelW, top+rows*panelH+10
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="%d" y="22" font-size="15" font-weight="bold">ksocket bench: ops/s per workload (higher is better)</text>`+"\n", 12)
	fmt.Fprintf(w, `<text x="%d" y="40" fill="#555">%s</text>`+"\n", 12, esc("Medians over alternating rounds; whiskers span the slowest and fastest round. Each panel has its own scale."))
	x := 12
	for _, impl := range append(append([]string{}, r.impls...), "iperf3") {
		if !r.measured(impl) {
			continue
		}
		fmt.Fprintf(w, `<rect x="%d" y="50" width="12" height="12" fill="%s"/><text x="%d" y="60">%s</text>`+"\n", x, color(impl), x+16, esc(impl))
		x += 24 + 7*len(impl) + 12
	}

	for i, p := range r.points {
		ox, oy := (i%cols)*panelW, top+(i/cols)*panelH
		plotX, plotY := ox+left, oy+ptop
		plotW, plotH := panelW-left-right, panelH-ptop-pbot
		fmt.Fprintf(w, `<g><text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", ox+10, oy+20, esc(p.label()))

		type bar struct {
			impl          string
			mid, lo, hi   float64
			failed, valid bool
		}
		var bars []bar
		most := 0.0
		for _, impl := range r.servers(p) {
			b := bar{impl: impl}
			var v []float64
			for _, s := range r.samples[p.name][impl] {
				if s.err != nil {
					continue
				}
				if p.kind == idlePoint {
					v = append(v, float64(s.rssAfter-s.rssBefore)/float64(p.conns)/1024)
				} else {
					v = append(v, s.opsPerSec)
				}
			}
			if len(v) == 0 {
				b.failed = true
			} else {
				b.valid = true
				b.mid, b.lo, b.hi = median(v), v[0], v[0]
				for _, x := range v {
					b.lo, b.hi = math.Min(b.lo, x), math.Max(b.hi, x)
				}
				most = math.Max(most, b.hi)
			}
			bars = append(bars, b)
		}
		scale, ticks := niceCeil(most)
		// Grid and axis labels.
		for k := 0; k <= ticks; k++ {
			v := scale * float64(k) / float64(ticks)
			y := float64(plotY+plotH) - float64(plotH)*float64(k)/float64(ticks)
			fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e4e4e4"/>`+"\n", plotX, y, plotX+plotW, y)
			label := human(v)
			if p.kind == idlePoint {
				label = fmt.Sprintf("%.3g KiB", v)
			}
			fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", plotX-4, y+4, esc(label))
		}
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`+"\n", plotX, plotY+plotH, plotX+plotW, plotY+plotH)
		if len(bars) == 0 {
			fmt.Fprintf(w, "</g>\n")
			continue
		}
		slot := float64(plotW) / float64(len(bars))
		bw := slot * 0.7
		yOf := func(v float64) float64 { return float64(plotY+plotH) - float64(plotH)*v/scale }
		for j, b := range bars {
			bx := float64(plotX) + slot*float64(j) + (slot-bw)/2
			cx := bx + bw/2
			fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>`+"\n", cx, plotY+plotH+14, esc(b.impl))
			if b.failed {
				fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#c00">failed</text>`+"\n", cx, plotY+plotH-6)
				continue
			}
			y := yOf(b.mid)
			fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
				bx, y, bw, float64(plotY+plotH)-y, color(b.impl), esc(fmt.Sprintf("%s: median %g, range %g–%g", b.impl, b.mid, b.lo, b.hi)))
			if b.hi > b.lo {
				fmt.Fprintf(w, `<path d="M%.1f %.1fV%.1fM%.1f %.1fh8M%.1f %.1fh8" stroke="#222" fill="none"/>`+"\n",
					cx, yOf(b.lo), yOf(b.hi), cx-4, yOf(b.lo), cx-4, yOf(b.hi))
			}
			val := human(b.mid)
			if p.kind == idlePoint {
				val = fmt.Sprintf("%.2f", b.mid)
			}
			fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", cx, math.Min(y, yOf(b.hi))-4, esc(val))
		}
		fmt.Fprintf(w, "</g>\n")
	}
	fmt.Fprintf(w, "</svg>\n")
}

// measured reports whether impl ran at any point.
func (r *results) measured(impl string) bool {
	for _, m := range r.samples {
		if _, ok := m[impl]; ok {
			return true
		}
	}
	return false
}

func color(impl string) string {
	if c, ok := serverColors[impl]; ok {
		return c
	}
	return "#777"
}

// niceCeil rounds v, with a little headroom for the value labels, up to 1,
// 2, 2.5 or 5 times a power of ten, and gives a number of gridlines that
// fall on round values.
func niceCeil(v float64) (float64, int) {
	if v <= 0 || math.IsNaN(v) {
		return 1, 4
	}
	v *= 1.12
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []struct {
		scale float64
		ticks int
	}{{1, 5}, {2, 4}, {2.5, 5}, {5, 5}} {
		if m.scale*p >= v {
			return m.scale * p, m.ticks
		}
	}
	return 10 * p, 5
}

func esc(s string) string { return html.EscapeString(s) }
