package host_test

import (
	"fmt"
	"testing"

	"github.com/edgeaudit/fluent-bit-okta/tests/host/hostrun"
)

// BenchmarkHostThroughput measures records per second through the host:
// decode, JSON rendering and the output write, 1000 records per buffer.
func BenchmarkHostThroughput(b *testing.B) {
	total := b.N
	if total < 1000 {
		total = 1000
	}
	opts := hostrun.Options{
		Plugin: fakePlugin,
		Instances: []hostrun.Instance{fake("fake.0", "records_per_collect=1000",
			fmt.Sprintf("total_records=%d", total))},
		IntervalMS:       1,
		GraceMS:          1,
		StopAfterRecords: total,
		Out:              b.TempDir() + "/records.jsonl",
	}
	b.ResetTimer()
	res, err := hostrun.Run(b.Context(), hostPath, opts)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.ExitCode != 0 || res.Summary.Records != uint64(total) {
		b.Fatalf("exit code %d, %d records, want %d\n%s", res.ExitCode, res.Summary.Records,
			total, res.Stderr)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
}
