package shipcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// bookworm is the glibc of Debian 12, the builder image; Fluent Bit 5.1.1's image (Debian
// 13) has glibc 2.41, so a plugin within bookworm's versions also loads there.
var bookworm = GLIBCVersion{2, 36}

func TestParseGLIBCVersion(t *testing.T) {
	cases := []struct {
		name string
		want GLIBCVersion
		ok   bool
	}{
		{"GLIBC_2.34", GLIBCVersion{2, 34}, true},
		{"GLIBC_2.3.2", GLIBCVersion{2, 3}, true},
		{"GLIBC_2.38", GLIBCVersion{2, 38}, true},
		{"GLIBC_PRIVATE", GLIBCVersion{}, false},
		{"GCC_3.0", GLIBCVersion{}, false},
		{"", GLIBCVersion{}, false},
	}
	for _, tc := range cases {
		got, ok := ParseGLIBCVersion(tc.name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseGLIBCVersion(%q) = %v, %t; want %v, %t", tc.name, got, ok,
				tc.want, tc.ok)
		}
	}
	if !(GLIBCVersion{2, 36}).Less(GLIBCVersion{2, 38}) || bookworm.Less(GLIBCVersion{2, 9}) {
		t.Error("GLIBCVersion.Less orders minor versions as text, not as numbers")
	}
}

// pluginObject returns build/in_okta.so when it is newer than every source make so reads,
// else a fresh build in a temporary directory.
func pluginObject(t *testing.T) string {
	t.Helper()
	built := repoPath("build", "in_okta.so")
	if info, err := os.Stat(built); err == nil && !sourcesNewerThan(t, info.ModTime()) {
		return built
	}
	out := filepath.Join(t.TempDir(), "in_okta.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./plugin")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin failed: %v\n%s", err, msg)
	}
	return out
}

func sourcesNewerThan(t *testing.T, built time.Time) bool {
	newer := false
	for _, dir := range []string{"plugin", "internal", "go.mod", "go.sum"} {
		err := filepath.Walk(repoPath(dir), func(_ string, info os.FileInfo, err error) error {
			if err == nil && info.ModTime().After(built) {
				newer = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return newer
}

func TestPluginGLIBCVersions(t *testing.T) {
	so := pluginObject(t)
	required, err := RequiredGLIBC(so)
	if err != nil {
		t.Fatal(err)
	}
	if len(required) == 0 {
		t.Fatalf("%s needs no GLIBC_ symbol version; the symbol versions were not read", so)
	}
	for v, symbol := range required {
		if bookworm.Less(v) {
			t.Errorf("%s needs %s (symbol %s), newer than bookworm's glibc 2.36; build it on "+
				"Debian 12 as docker/Dockerfile does", so, v, symbol)
		}
	}
}
