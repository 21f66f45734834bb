// Command plot-throughput draws P1 (entries/s) against tree size from the CSV
// that `trialog-bench -large -csv FILE` writes, as an SVG line chart.
//
//	go run ./scripts/plot-throughput docs/perf/large.csv docs/perf/throughput.svg
package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: plot-throughput IN.csv OUT.svg")
		os.Exit(2)
	}
	if err := plot(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "plot-throughput: %v\n", err)
		os.Exit(1)
	}
}

type point struct{ size, rate, p99 float64 }

func plot(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return err
	}
	var pts []point
	for i, r := range rows {
		if i == 0 {
			continue // header: tree_size,p1_entries_per_s,p50_ms,p99_ms
		}
		if len(r) < 4 {
			return fmt.Errorf("line %d: want 4 columns", i+1)
		}
		var p point
		for j, dst := range []*float64{&p.size, &p.rate, nil, &p.p99} {
			if dst == nil {
				continue
			}
			if *dst, err = strconv.ParseFloat(r[j], 64); err != nil {
				return fmt.Errorf("line %d: %v", i+1, err)
			}
		}
		pts = append(pts, p)
	}
	if len(pts) == 0 {
		return fmt.Errorf("%s has no data", in)
	}
	const w, h, left, right, top, bottom = 640.0, 360.0, 70.0, 20.0, 40.0, 50.0
	maxX, maxY := 0.0, 0.0
	for _, p := range pts {
		maxX, maxY = max(maxX, p.size), max(maxY, p.rate)
	}
	maxY = niceCeil(maxY * 1.1)
	x := func(v float64) float64 { return left + (w-left-right)*v/maxX }
	y := func(v float64) float64 { return h - bottom - (h-top-bottom)*v/maxY }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="14">P1: entries/s end to end (512 clients waiting for proofs) by tree size</text>`+"\n", left)
	for i := 0; i <= 5; i++ {
		v := maxY * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), w-right, y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.0f</text>`+"\n", left-6, y(v)+4, v)
	}
	for _, p := range pts {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(p.size), h-bottom+18, human(p.size))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">tree size (entries)</text>`+"\n", (left+w-right)/2, h-10)
	var path strings.Builder
	for i, p := range pts {
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%.1f,%.1f ", cmd, x(p.size), y(p.rate))
	}
	fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="#1f5fa8" stroke-width="2"/>`+"\n", strings.TrimSpace(path.String()))
	for _, p := range pts {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="#1f5fa8"/>`+"\n", x(p.size), y(p.rate))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#1f5fa8">%.0f/s, p99 %.0f ms</text>`+"\n", x(p.size), y(p.rate)-10, p.rate, p.p99)
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

func niceCeil(v float64) float64 {
	step := 1000.0
	for v/step > 10 {
		step *= 10
	}
	return float64(int(v/step)+1) * step
}

func human(n float64) string {
	switch {
	case n >= 1e6:
		return strconv.FormatFloat(n/1e6, 'f', -1, 64) + "M"
	case n >= 1e3:
		return strconv.FormatFloat(n/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}
