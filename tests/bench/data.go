package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// writeData writes the gnuplot data files: one row per second of each run, the lag of every
// live-tail event, and the soak's samples. NaN marks a second without a value.
func writeData(dir string, res *results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, b := range res.Backfills {
		err := writeTable(filepath.Join(dir, b.Name+".dat"),
			"# t_s events_per_s requests requests_last_60s queued_mib rss_mib",
			len(b.Series), func(i int) string {
				r := b.Series[i]
				return fmt.Sprintf("%d %d %d %d %.3f %.1f", r.T, r.Events, r.Requests,
					r.RequestsMin, r.QueuedMiB, r.RSSMiB)
			})
		if err != nil {
			return err
		}
	}
	for _, l := range []*liveResult{res.Live, res.Soak} {
		err := writeTable(filepath.Join(dir, l.Name+".dat"),
			"# t_s events_per_s requests requests_last_60s max_lag_s rss_mib",
			len(l.Series), func(i int) string {
				r := l.Series[i]
				return fmt.Sprintf("%d %d %d %d %s %.1f", r.T, r.Events, r.Requests,
					r.RequestsMin, num(r.Lag), r.RSSMiB)
			})
		if err != nil {
			return err
		}
		err = writeTable(filepath.Join(dir, l.Name+"-lag.dat"), "# t_s lag_s late",
			len(l.Lags), func(i int) string {
				p := l.Lags[i]
				late := 0
				if p.Late {
					late = 1
				}
				return fmt.Sprintf("%.3f %.3f %d", p.T, p.Lag, late)
			})
		if err != nil {
			return err
		}
		err = writeTable(filepath.Join(dir, l.Name+"-proc.dat"),
			"# t_s rss_mib hwm_mib threads cpu_s load1", len(l.Samples), func(i int) string {
				s := l.Samples[i]
				return fmt.Sprintf("%.1f %.1f %.1f %d %.2f %.2f", s.T, float64(s.RSSKiB)/1024,
					float64(s.HWMKiB)/1024, s.Threads, s.CPUSeconds, s.Load1)
			})
		if err != nil {
			return err
		}
	}
	return nil
}

func writeTable(path, header string, n int, row func(int) string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, header)
	for i := range n {
		fmt.Fprintln(w, row(i))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// num formats a value for gnuplot, which reads NaN as a missing point.
func num(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return fmt.Sprintf("%.3f", v)
}
