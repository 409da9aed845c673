package shipcheck

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeaudit/fluent-bit-okta/tests/confcheck"
)

var update = flag.Bool("update", false, "rewrite docker/k8s/pipeline-configmap.yaml from conf/")

// Kubernetes objects, reduced to the fields the checks read.
type (
	manifest struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Replicas *int `yaml:"replicas"`
			Strategy struct {
				Type string `yaml:"type"`
			} `yaml:"strategy"`
			Template struct {
				Spec podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               podSecurity `yaml:"securityContext"`
		InitContainers                []container `yaml:"initContainers"`
		Containers                    []container `yaml:"containers"`
		Volumes                       []volume    `yaml:"volumes"`
	}
	podSecurity struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    *int  `yaml:"runAsUser"`
		FSGroup      *int  `yaml:"fsGroup"`
	}
	container struct {
		Name          string   `yaml:"name"`
		Image         string   `yaml:"image"`
		RestartPolicy string   `yaml:"restartPolicy"`
		Args          []string `yaml:"args"`
		EnvFrom       []struct {
			ConfigMapRef *struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				SecretKeyRef *struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe   *probe `yaml:"livenessProbe"`
		ReadinessProbe  *probe `yaml:"readinessProbe"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	}
)

// loadManifests decodes every document of every YAML file in docker/k8s.
func loadManifests(t *testing.T) map[string][]manifest {
	t.Helper()
	files, err := filepath.Glob(repoPath("docker", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in docker/k8s: %v", err)
	}
	out := map[string][]manifest{}
	for _, file := range files {
		for i, doc := range yamlDocuments(t, file) {
			var m manifest
			if err := doc.Decode(&m); err != nil {
				t.Fatalf("%s document %d: %v", file, i+1, err)
			}
			if m.Kind != "Kustomization" && (m.APIVersion == "" || m.Kind == "" ||
				m.Metadata.Name == "") {
				t.Errorf("%s document %d lacks apiVersion, kind or metadata.name", file, i+1)
			}
			out[filepath.Base(file)] = append(out[filepath.Base(file)], m)
		}
	}
	return out
}

func findObject(all map[string][]manifest, kind, name string) *manifest {
	for _, docs := range all {
		for i := range docs {
			if docs[i].Kind == kind && docs[i].Metadata.Name == name {
				return &docs[i]
			}
		}
	}
	return nil
}

func TestPipelineConfigMap(t *testing.T) {
	want, err := RenderPipelineConfigMap(repoPath("conf"))
	if err != nil {
		t.Fatal(err)
	}
	file := repoPath("docker", "k8s", "pipeline-configmap.yaml")
	if *update {
		if err := os.WriteFile(file, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is out of date with conf/; run go test ./tests/shipcheck "+
			"-run TestPipelineConfigMap -update", file)
	}

	// The rendered copy must describe the same pipeline as conf/fluent-bit.yaml.
	cm := findObject(loadManifests(t), "ConfigMap", PipelineConfigMapName)
	if cm == nil {
		t.Fatalf("no ConfigMap %s in docker/k8s", PipelineConfigMapName)
	}
	copied := filepath.Join(t.TempDir(), "fluent-bit.yaml")
	if err := os.WriteFile(copied, []byte(cm.Data["fluent-bit.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	inPod, err := confcheck.ParseYAML(copied)
	if err != nil {
		t.Fatal(err)
	}
	original, err := confcheck.ParseYAML(repoPath("conf", "fluent-bit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if inPod.Service["http_listen"] != "0.0.0.0" {
		t.Errorf("http_listen in the ConfigMap is %q; kubelet probes need 0.0.0.0",
			inPod.Service["http_listen"])
	}
	delete(inPod.Service, "http_listen")
	delete(original.Service, "http_listen")
	if !equalPipelines(inPod, original) {
		t.Error("the ConfigMap's fluent-bit.yaml differs from conf/fluent-bit.yaml beyond " +
			"http_listen")
	}
}

func equalPipelines(a, b *confcheck.Pipeline) bool {
	equalPlugins := func(x, y []confcheck.Plugin) bool {
		return slices.EqualFunc(x, y, func(p, q confcheck.Plugin) bool {
			if p.Name != q.Name || len(p.Properties) != len(q.Properties) {
				return false
			}
			for key, values := range p.Properties {
				if !slices.Equal(values, q.Properties[key]) {
					return false
				}
			}
			return true
		})
	}
	if len(a.Service) != len(b.Service) {
		return false
	}
	for key, value := range a.Service {
		if b.Service[key] != value {
			return false
		}
	}
	return equalPlugins(a.Inputs, b.Inputs) && equalPlugins(a.Filters, b.Filters) &&
		equalPlugins(a.Outputs, b.Outputs)
}

func TestKustomizationResourcesExist(t *testing.T) {
	file := repoPath("docker", "k8s", "kustomization.yaml")
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yamlDocuments(t, file)[0].Decode(&k); err != nil {
		t.Fatal(err)
	}
	if len(k.Resources) == 0 {
		t.Fatal("kustomization.yaml lists no resources")
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(repoPath("docker", "k8s", r)); err != nil {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}
}

// collector returns the Fluent Bit container of a Deployment: a container or native sidecar
// that runs the project image.
func collector(t *testing.T, d *manifest) (c *container, sidecar bool) {
	t.Helper()
	spec := &d.Spec.Template.Spec
	for i := range spec.InitContainers {
		if strings.HasPrefix(spec.InitContainers[i].Image, "okta-fluent-bit") {
			return &spec.InitContainers[i], true
		}
	}
	for i := range spec.Containers {
		if strings.HasPrefix(spec.Containers[i].Image, "okta-fluent-bit") {
			return &spec.Containers[i], false
		}
	}
	t.Fatalf("Deployment %s runs no okta-fluent-bit image", d.Metadata.Name)
	return nil, false
}

func TestDeployments(t *testing.T) {
	all := loadManifests(t)
	cases := []struct{ file, name string }{
		{"deployment.yaml", "okta-fluent-bit"},
		{"sidecar.yaml", "example-app"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			d := findObject(map[string][]manifest{tc.file: all[tc.file]}, "Deployment", tc.name)
			if d == nil {
				t.Fatalf("no Deployment %s in %s", tc.name, tc.file)
			}
			c, sidecar := collector(t, d)
			if tc.file == "sidecar.yaml" && (!sidecar || c.RestartPolicy != "Always") {
				t.Error("the collector is not a native sidecar (an init container with " +
					"restartPolicy Always)")
			}
			if tc.file == "sidecar.yaml" && len(d.Spec.Template.Spec.Containers) == 0 {
				t.Error("the sidecar example has no app container")
			}
			checkDeployment(t, all, d, c)
		})
	}
}

func checkDeployment(t *testing.T, all map[string][]manifest, d *manifest, c *container) {
	// Two pollers on one org deliver each event twice, and a rolling update would briefly
	// run two; both also share one checkpoint volume.
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Error("replicas must be 1")
	}
	if d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("strategy %q, want Recreate", d.Spec.Strategy.Type)
	}

	spec := d.Spec.Template.Spec
	volumes := map[string]volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	if len(c.Args) != 2 || c.Args[0] != "-c" {
		t.Fatalf("args %q, want [-c <config file>]", c.Args)
	}
	configDir, configName := path.Split(c.Args[1])
	var pipeline *manifest
	writable := map[string]bool{}
	var mounts []string
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Errorf("volumeMount %s names no volume", m.Name)
			continue
		}
		mounts = append(mounts, m.MountPath)
		writable[m.MountPath] = !m.ReadOnly && v.PersistentVolumeClaim != nil
		if v.ConfigMap != nil && path.Clean(m.MountPath) == path.Clean(configDir) {
			pipeline = findObject(all, "ConfigMap", v.ConfigMap.Name)
		}
		if underDir("/fluent-bit/plugins/in_okta.so", m.MountPath) {
			t.Errorf("volumeMount %s hides the plugin the image installs", m.MountPath)
		}
		if v.PersistentVolumeClaim != nil &&
			findObject(all, "PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName) == nil {
			t.Errorf("volume %s claims %s, which no manifest defines", v.Name,
				v.PersistentVolumeClaim.ClaimName)
		}
	}
	if pipeline == nil {
		t.Fatalf("no ConfigMap is mounted at %s, the directory of %s", configDir, c.Args[1])
	}
	text, ok := pipeline.Data[configName]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", pipeline.Metadata.Name, configName)
	}
	checkPipelineFiles(t, pipeline, text)

	env := collectorEnv(t, all, c)
	used := map[string]bool{}
	for _, name := range envReferences(text) {
		used[name] = true
		if _, ok := env[name]; !ok {
			t.Errorf("%s uses ${%s}, which the container does not set", configName, name)
		}
	}
	for name, mustWrite := range pathVariables {
		value, ok := env[name]
		ok = ok && used[name]
		if !ok {
			continue
		}
		i := slices.IndexFunc(mounts, func(m string) bool { return underDir(value, m) })
		switch {
		case i < 0:
			t.Errorf("%s=%s lies on no volume mount", name, value)
		case mustWrite && !writable[mounts[i]]:
			t.Errorf("%s=%s lies on %s, which is not a writable persistent volume", name,
				value, mounts[i])
		}
	}
	checkKeyMount(t, c, volumes, env["OKTA_PRIVATE_KEY_FILE"])
	checkProbes(t, c, pipeline, text, spec)
	checkSecurity(t, c, spec)
}

// checkPipelineFiles checks that the files the configuration names are keys of the same
// ConfigMap, resolved the way Fluent Bit resolves them: relative to the configuration file.
func checkPipelineFiles(t *testing.T, pipeline *manifest, text string) {
	file := filepath.Join(t.TempDir(), "fluent-bit.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := confcheck.ParseYAML(file)
	if err != nil {
		t.Fatal(err)
	}
	referenced := []string{p.Service["plugins_file"]}
	for _, f := range p.Filters {
		if f.Name == "lua" {
			referenced = append(referenced, f.Get("script"))
		}
	}
	for _, name := range referenced {
		if _, ok := pipeline.Data[name]; !ok {
			t.Errorf("the configuration names %s, which is not a key of ConfigMap %s", name,
				pipeline.Metadata.Name)
		}
	}
	if plugins := pipeline.Data["plugins.yaml"]; !strings.Contains(plugins,
		"- /fluent-bit/plugins/in_okta.so\n") {
		t.Error("plugins.yaml in the ConfigMap does not load /fluent-bit/plugins/in_okta.so")
	}
}

// collectorEnv returns the container's environment: the image's ENV, envFrom ConfigMaps and
// env entries, in the order Kubernetes applies them. Secret values read as "<secret>".
func collectorEnv(t *testing.T, all map[string][]manifest, c *container) map[string]string {
	_, runtime := parseProjectDockerfile(t)
	env := runtime.Env()
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		cm := findObject(all, "ConfigMap", from.ConfigMapRef.Name)
		if cm == nil {
			t.Errorf("envFrom names ConfigMap %s, which no manifest defines",
				from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "<secret>"
			checkSecretDocumented(t, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		case slices.Contains(secretVariables, e.Name):
			t.Errorf("%s has a literal value; take it from a Secret", e.Name)
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}

// checkSecretDocumented checks that docs/deployment.md shows how to create the Secret with
// that key, because the manifests reference it without defining it.
func checkSecretDocumented(t *testing.T, name, key string) {
	doc, err := os.ReadFile(repoPath("docs", "deployment.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.Contains(line, "kubectl create secret generic "+name+" ") &&
			strings.Contains(line, "--from-") && strings.Contains(line, key+"=") {
			return
		}
	}
	t.Errorf("docs/deployment.md does not show kubectl create secret generic %s with key %s",
		name, key)
}

func checkKeyMount(t *testing.T, c *container, volumes map[string]volume, keyFile string) {
	for _, m := range c.VolumeMounts {
		v := volumes[m.Name]
		if v.Secret == nil || !underDir(keyFile, m.MountPath) {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("secret mount %s is not readOnly", m.MountPath)
		}
		checkSecretDocumented(t, v.Secret.SecretName, path.Base(keyFile))
		rel := strings.TrimPrefix(keyFile, strings.TrimSuffix(m.MountPath, "/")+"/")
		if len(v.Secret.Items) > 0 && !slices.ContainsFunc(v.Secret.Items,
			func(it struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			}) bool {
				return it.Path == rel
			}) {
			t.Errorf("secret %s projects no item at %s", v.Secret.SecretName, rel)
		}
		return
	}
	t.Errorf("OKTA_PRIVATE_KEY_FILE=%s lies on no Secret volume", keyFile)
}

func checkProbes(t *testing.T, c *container, pipeline *manifest, text string,
	spec podSpec) {
	file := filepath.Join(t.TempDir(), "service.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := confcheck.ParseYAML(file)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p.Service["http_port"])
	if err != nil {
		t.Fatalf("http_port %q in ConfigMap %s: %v", p.Service["http_port"],
			pipeline.Metadata.Name, err)
	}
	named := map[string]int{}
	for _, cp := range c.Ports {
		named[cp.Name] = cp.ContainerPort
	}
	probes := []struct {
		name  string
		probe *probe
		path  string
	}{
		// / returns 200 whenever the HTTP server runs. /api/v1/health exists only with
		// health_check on and reports output errors and failed retries.
		{"livenessProbe", c.LivenessProbe, "/"},
		{"readinessProbe", c.ReadinessProbe, "/api/v1/health"},
	}
	for _, pr := range probes {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s is not an httpGet probe", pr.name)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path {
			t.Errorf("%s path %s, want %s", pr.name, pr.probe.HTTPGet.Path, pr.path)
		}
		if named[pr.probe.HTTPGet.Port] != port {
			t.Errorf("%s port %s is not Fluent Bit's http_port %d", pr.name,
				pr.probe.HTTPGet.Port, port)
		}
	}
	if p.Service["http_server"] != "on" || p.Service["health_check"] != "on" {
		t.Error("the probes need http_server on and health_check on")
	}
	if strings.HasPrefix(p.Service["http_listen"], "127.") {
		t.Errorf("http_listen %s is unreachable for kubelet probes", p.Service["http_listen"])
	}
	grace, err := strconv.Atoi(p.Service["grace"])
	if err != nil {
		t.Fatalf("grace %q: %v", p.Service["grace"], err)
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= grace {
		t.Errorf("terminationGracePeriodSeconds must exceed Fluent Bit's grace of %ds", grace)
	}
}

func checkSecurity(t *testing.T, c *container, spec podSpec) {
	sc := spec.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Error("the pod must set runAsNonRoot true and a non-zero runAsUser")
	}
	if sc.FSGroup == nil {
		t.Error("the pod sets no fsGroup, so the volume may not be writable by its user")
	}
	if c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("the collector's root filesystem is not read-only")
	}
	if c.SecurityContext.AllowPrivilegeEscalation == nil ||
		*c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("the collector allows privilege escalation")
	}
}
