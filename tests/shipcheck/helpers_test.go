package shipcheck

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the repository root, two levels above this package.
var repoRoot = func() string {
	root, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return root
}()

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{repoRoot}, parts...)...)
}

// yamlDocuments decodes every document of a YAML file into a node, failing the test on a
// syntax error.
func yamlDocuments(t *testing.T, path string) []*yaml.Node {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not valid YAML: %v", path, err)
		}
		docs = append(docs, &node)
	}
	if len(docs) == 0 {
		t.Fatalf("%s holds no YAML document", path)
	}
	return docs
}

// envReference matches ${VAR} in a Fluent Bit configuration.
var envReference = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// envReferences returns the variables a Fluent Bit configuration text uses, ignoring
// comment lines.
func envReferences(text string) []string {
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range envReference.FindAllStringSubmatch(line, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				out = append(out, m[1])
			}
		}
	}
	return out
}

// underDir reports whether path is dir or lies below it; both are absolute slash paths.
func underDir(path, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// Environment variables of the pipelines whose values are paths, and whether the path must
// be writable (checkpoint, chunks, archive) or only readable (keys, certificates).
var pathVariables = map[string]bool{
	"OKTA_PRIVATE_KEY_FILE": false,
	"OKTA_STATE_FILE":       true,
	"FLB_STORAGE_PATH":      true,
	"OKTA_ARCHIVE_PATH":     true,
	"FORWARD_CA_FILE":       false,
	"FORWARD_CERT_FILE":     false,
	"FORWARD_KEY_FILE":      false,
}

// secretVariables must never get a value in an image or a manifest; they come from a Secret
// or the caller's environment.
var secretVariables = []string{"TAEGIS_INTEGRATION_KEY", "FORWARD_SHARED_KEY"}
