package shipcheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// realHost matches hosts of real Okta orgs and of Secureworks Taegis. Examples use the
// reserved .example domain (RFC 2606) instead.
var realHost = regexp.MustCompile(`(?i)\b[a-z0-9-]+\.(okta|oktapreview|okta-emea|okta-gov)\.com\b` +
	`|\bokta\.mil\b|\bsecureworks\.com\b|\btaegis\.secureworks\b`)

func TestRealHostPattern(t *testing.T) {
	for _, s := range []string{"https://acme.okta.com", "acme.oktapreview.com",
		"https://api.delta.taegis.secureworks.com/graphql", "acme.okta-emea.com"} {
		if !realHost.MatchString(s) {
			t.Errorf("realHost misses %s", s)
		}
	}
	for _, s := range []string{"https://your-org.okta.example", "ingest.taegis.example",
		"okta.logs.read", "https://<org>.okta.com"} {
		if realHost.MatchString(s) {
			t.Errorf("realHost matches %s, which is no real host", s)
		}
	}
}

// yamlValues returns every scalar of a YAML node tree; comments are not scalars.
func yamlValues(n *yaml.Node) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, yamlValues(c)...)
	}
	return out
}

// TestNoRealHostInDocker checks every value in docker/ (comments may name the form of a real
// host, such as https://<org>.okta.com, for the reader).
func TestNoRealHostInDocker(t *testing.T) {
	files := 0
	err := filepath.WalkDir(repoPath("docker"), func(file string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		var values []string
		switch filepath.Ext(file) {
		case ".yaml", ".yml":
			for _, doc := range yamlDocuments(t, file) {
				values = append(values, yamlValues(doc)...)
			}
		default:
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			for _, line := range strings.Split(string(data), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(line), "#") {
					values = append(values, line)
				}
			}
		}
		for _, v := range values {
			if m := realHost.FindString(v); m != "" {
				t.Errorf("%s points at the real host %s; use a .example placeholder", file, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("found only %d files under docker/", files)
	}
}
