package host_test

import (
	"os"
	"strings"
	"testing"

	"github.com/edgeaudit/fluent-bit-okta/tests/host/hostrun"
)

// eventTime is "d7 00" plus seconds and nanoseconds, 1747210365.118.
const eventTime = "d700" + "6824507d" + "07088980"

// The first collect returns the raw buffer, later ones one normal record, so
// every case ends after that record whether or not the raw buffer was valid.
func runRaw(t *testing.T, raw string, rawRecords int) (*hostrun.Result, []string) {
	t.Helper()
	res := run(t, hostrun.Options{
		Instances: []hostrun.Instance{fake("fake.0", "raw_hex="+raw, "records_per_collect=1",
			"total_records=1")},
		StopAfterRecords: rawRecords + 1,
	})
	data, err := os.ReadFile(res.Out)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	return res, lines
}

func TestDecoderAcceptsValidBuffers(t *testing.T) {
	cases := []struct {
		name    string
		raw     string
		records int
		want    []string // substrings of the raw buffer's JSON lines, in order
	}{
		{"v1 integer time", "92cd04d280", 1,
			[]string{`"time":{"sec":1234,"nsec":0},"metadata":null,"record":{}`}},
		{"v1 float time", "92cb3ff800000000000080", 1,
			[]string{`"time":{"sec":1,"nsec":500000000}`}},
		{"v2 event time", "9292" + eventTime + "80" + "80", 1,
			[]string{`"time":{"sec":1747210365,"nsec":118000000},"metadata":{},"record":{}`}},
		{"v2 metadata", "9292" + eventTime + "81a16da176" + "80", 1,
			[]string{`"metadata":{"m":"v"}`}},
		{"integer range", "920182a175cfffffffffffffffffa169d38000000000000000", 1,
			[]string{`"record":{"u":18446744073709551615,"i":-9223372036854775808}`}},
		{"float round trip", "920181a166cb3fb999999999999a", 1,
			[]string{`"record":{"f":0.10000000000000001}`}},
		{"nil bool array", "920183a16ec0a162c3a16192" + "01a178", 1,
			[]string{`"record":{"n":null,"b":true,"a":[1,"x"]}`}},
		{"string escapes", "920181a173a5" + "010a225c2f", 1,
			[]string{`"record":{"s":"\u0001\n\"\\/"}`}},
		{"utf8 passes", "920181a173a5" + "c3a9e29c93", 1,
			[]string{`"record":{"s":"é✓"}`}},
		{"two records", "9201" + "80" + "9202" + "80", 2,
			[]string{`"sec":1,`, `"sec":2,`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, lines := runRaw(t, tc.raw, tc.records)
			if res.ExitCode != 0 {
				t.Fatalf("exit code = %d, want 0\n%s", res.ExitCode, res.Stderr)
			}
			if len(lines) != tc.records+1 {
				t.Fatalf("got %d lines, want %d: %v", len(lines), tc.records+1, lines)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d = %s\nwant it to contain %s", i, lines[i], w)
				}
			}
		})
	}
}

func TestDecoderRejectsInvalidBuffers(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		why  string // part of the host's diagnostic
	}{
		{"negative time", "92ff80", "timestamp has msgpack type"},
		{"ext 0 with 4 bytes", "92d6000000000180", "exactly 8 bytes"},
		{"timestamp ext -1", "92d6ff6824993d80", "ext type -1"},
		{"group marker", "9292d700ffffffff000000008080", "group marker"},
		{"header of 3", "9293018080" + "80", "header array has 3 elements"},
		{"root of 3", "93018080", "not a 2-element array"},
		{"root not array", "80", "not a 2-element array"},
		{"body not map", "920101", "body has msgpack type"},
		{"metadata not map", "9292010180", "metadata has msgpack type"},
		{"integer key", "92018101" + "01", "keys must be strings"},
		{"invalid utf8", "920181a16ba1ff", "invalid UTF-8"},
		{"overlong utf8", "920181a16ba2c0af", "invalid UTF-8"},
		{"surrogate utf8", "920181a16ba3eda080", "invalid UTF-8"},
		{"nan", "920181a166cb7ff8000000000000", "no JSON representation"},
		{"bin value", "920181a162c40100", "bin value"},
		{"ext value", "920181a165d40100", "ext type 1 value"},
		{"truncated", "920181a16b", "truncated"},
		{"trailing garbage", "920180c1", "not valid msgpack"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, lines := runRaw(t, tc.raw, 0)
			if res.ExitCode != 3 {
				t.Errorf("exit code = %d, want 3\n%s", res.ExitCode, res.Stderr)
			}
			if res.Summary.InvalidBuffers != 1 {
				t.Errorf("invalid_buffers = %d, want 1", res.Summary.InvalidBuffers)
			}
			if len(lines) != 1 || !strings.Contains(lines[0], `"label":"fake.0"`) {
				t.Errorf("output = %v, want only the normal record", lines)
			}
			if !strings.Contains(res.Stderr, tc.why) {
				t.Errorf("stderr lacks %q:\n%s", tc.why, res.Stderr)
			}
		})
	}
}
