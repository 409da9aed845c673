package shipcheck

import (
	"bufio"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func parseProjectDockerfile(t *testing.T) (build, runtime Stage) {
	t.Helper()
	stages, err := ParseDockerfile(repoPath("docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 {
		t.Fatalf("docker/Dockerfile has %d stages, want a builder and a runtime stage",
			len(stages))
	}
	return stages[0], stages[1]
}

func TestDockerfileBaseImages(t *testing.T) {
	build, runtime := parseProjectDockerfile(t)

	m := regexp.MustCompile(`^golang:(\d+)\.(\d+)(\.\d+)?-bookworm$`).FindStringSubmatch(build.Image)
	if m == nil {
		t.Fatalf("builder image %q, want golang:<version>-bookworm (Debian 12, glibc 2.36)",
			build.Image)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major != 1 || minor < 25 {
		t.Errorf("builder Go %s.%s, want 1.25 or later (go.mod)", m[1], m[2])
	}
	if build.Name == "" {
		t.Error("builder stage has no AS name for COPY --from")
	}
	if runtime.Image != "fluent/fluent-bit:5.1.1" {
		t.Errorf("runtime image %q, want fluent/fluent-bit:5.1.1", runtime.Image)
	}
}

// ciMakeTargets returns the targets of the make commands in .ci/run.
func ciMakeTargets(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(repoPath(".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "make" {
			targets = append(targets, fields[1:]...)
		}
	}
	return targets
}

// makePrerequisites returns the prerequisites of a Makefile rule for target.
func makePrerequisites(t *testing.T, target string) []string {
	t.Helper()
	file, err := os.Open(repoPath("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		name, rest, ok := strings.Cut(scanner.Text(), ":")
		if ok && strings.TrimSpace(name) == target && !strings.HasPrefix(rest, "=") {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("Makefile has no rule for %s", target)
	return nil
}

func TestDockerfileBuildsCITarget(t *testing.T) {
	build, _ := parseProjectDockerfile(t)
	var makeRuns []string
	for _, run := range build.Find("RUN") {
		if len(run.Args) > 0 && run.Args[0] == "make" {
			makeRuns = append(makeRuns, strings.Join(run.Args, " "))
		}
	}
	if !slices.Equal(makeRuns, []string{"make so"}) {
		t.Fatalf("builder make commands %q, want exactly [make so]", makeRuns)
	}

	targets := ciMakeTargets(t)
	if len(targets) == 0 {
		t.Fatal(".ci/run runs no make target")
	}
	for _, target := range targets {
		if target != "so" && !slices.Contains(makePrerequisites(t, target), "so") {
			t.Errorf(".ci/run builds make %s, which does not build so; the image would "+
				"ship a plugin CI never built", target)
		}
	}
}

func TestDockerfileCopiesBuildInputs(t *testing.T) {
	build, runtime := parseProjectDockerfile(t)
	ignore, err := os.ReadFile(repoPath(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	included := map[string]bool{}
	for _, line := range strings.Split(string(ignore), "\n") {
		if entry, ok := strings.CutPrefix(strings.TrimSpace(line), "!"); ok {
			included[strings.TrimSuffix(entry, "/")] = true
		}
	}

	copied := map[string]bool{}
	for _, stage := range []Stage{build, runtime} {
		for _, in := range stage.Find("COPY") {
			if in.Flags["from"] != "" {
				continue
			}
			for _, src := range in.Args[:len(in.Args)-1] {
				src = strings.TrimSuffix(src, "/")
				copied[src] = true
				if _, err := os.Stat(repoPath(src)); err != nil {
					t.Errorf("Dockerfile line %d copies %s, which is not in the repository",
						in.Line, src)
				}
				if !included[src] {
					t.Errorf("Dockerfile line %d copies %s, but .dockerignore leaves it out "+
						"of the build context; add !%s", in.Line, src, src)
				}
			}
		}
	}
	// make so rebuilds from the Go sources under plugin/ and internal/ and from go.mod and
	// go.sum; each must be in the builder stage.
	for _, input := range []string{"Makefile", "go.mod", "go.sum", "plugin", "internal"} {
		if !copied[input] {
			t.Errorf("the builder stage does not copy %s, which make so needs", input)
		}
	}
}

// pluginsFilePath returns the single shared object conf/plugins.yaml loads.
func pluginsFilePath(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(repoPath("conf", "plugins.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Plugins []string `yaml:"plugins"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Plugins) != 1 {
		t.Fatalf("conf/plugins.yaml lists %q, want one plugin", doc.Plugins)
	}
	return doc.Plugins[0]
}

func TestDockerfileRuntimeLayout(t *testing.T) {
	build, runtime := parseProjectDockerfile(t)
	workdir := "/"
	if w := build.Find("WORKDIR"); len(w) > 0 {
		workdir = w[len(w)-1].Args[0]
	}

	var soDest, confDest string
	for _, in := range runtime.Find("COPY") {
		src, dest := in.Args[0], in.Args[len(in.Args)-1]
		switch {
		case in.Flags["from"] == build.Name && path.Join(workdir, "build/in_okta.so") == src:
			soDest = dest
		case in.Flags["from"] == build.Name && !path.IsAbs(src) &&
			path.Join(workdir, src) == path.Join(workdir, "build/in_okta.so"):
			soDest = dest
		case in.Flags["from"] == "" && strings.TrimSuffix(src, "/") == "conf":
			confDest = strings.TrimSuffix(dest, "/")
		}
	}
	if soDest == "" {
		t.Fatalf("the runtime stage copies no build/in_okta.so (make so's output) from %s",
			build.Name)
	}
	if want := pluginsFilePath(t); soDest != want {
		t.Errorf("in_okta.so is copied to %s, but conf/plugins.yaml loads %s", soDest, want)
	}
	if confDest != "/fluent-bit/etc" {
		t.Errorf("conf/ is copied to %q, want /fluent-bit/etc", confDest)
	}

	cmd := runtime.Find("CMD")
	if len(cmd) != 1 || !cmd[0].Exec {
		t.Fatalf("the runtime stage needs one exec-form CMD, got %d", len(cmd))
	}
	if !slices.Equal(cmd[0].Args, []string{"-c", "/fluent-bit/etc/fluent-bit.yaml"}) {
		t.Errorf("CMD %q, want [-c /fluent-bit/etc/fluent-bit.yaml]", cmd[0].Args)
	}
	entry := runtime.Find("ENTRYPOINT")
	if len(entry) != 1 || !entry[0].Exec || !slices.Equal(entry[0].Args,
		[]string{"/fluent-bit/bin/fluent-bit"}) {
		t.Errorf("want the exec-form ENTRYPOINT [\"/fluent-bit/bin/fluent-bit\"], got %+v", entry)
	}
	config, ok := strings.CutPrefix(cmd[0].Args[1], confDest+"/")
	if !ok {
		t.Errorf("CMD names %s, outside the copied conf/", cmd[0].Args[1])
	} else if _, err := os.Stat(repoPath("conf", config)); err != nil {
		t.Errorf("CMD names %s, but conf/%s does not exist", cmd[0].Args[1], config)
	}

	// The official image is distroless: no shell runs a RUN or a shell-form command.
	if runs := runtime.Find("RUN"); len(runs) > 0 {
		t.Errorf("the runtime stage has RUN at line %d; the distroless image has no shell",
			runs[0].Line)
	}
}

func TestDockerfileUserVolumesAndSecrets(t *testing.T) {
	_, runtime := parseProjectDockerfile(t)

	users := runtime.Find("USER")
	if len(users) == 0 {
		t.Fatal("the runtime stage sets no USER, so Fluent Bit would run as root")
	}
	uid, _, _ := strings.Cut(users[len(users)-1].Args[0], ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %s, want a numeric non-root uid so runAsNonRoot can verify it", uid)
	}

	var volumes []string
	for _, in := range runtime.Find("VOLUME") {
		volumes = append(volumes, in.Args...)
	}
	env := runtime.Env()
	for name, writable := range pathVariables {
		value, ok := env[name]
		if !ok || !writable {
			continue
		}
		if !slices.ContainsFunc(volumes, func(v string) bool { return underDir(value, v) }) {
			t.Errorf("%s=%s is not on a VOLUME (%q); the data would live in the container "+
				"layer", name, value, volumes)
		}
	}
	for _, name := range []string{"OKTA_STATE_FILE", "FLB_STORAGE_PATH"} {
		if env[name] == "" {
			t.Errorf("the image sets no %s, which conf/fluent-bit.yaml needs", name)
		}
	}
	for _, name := range append(secretVariables, "OKTA_PRIVATE_KEY") {
		if _, ok := env[name]; ok {
			t.Errorf("the image sets %s; secrets come from the environment at run time", name)
		}
	}
	for _, in := range runtime.Find("COPY") {
		for _, src := range in.Args[:len(in.Args)-1] {
			if strings.Contains(src, "secret") || strings.HasSuffix(src, ".pem") {
				t.Errorf("Dockerfile line %d copies %s into the image; mount keys instead",
					in.Line, src)
			}
		}
	}
}
