package shipcheck

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/edgeaudit/fluent-bit-okta/tests/confcheck"
)

type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		ReadOnly    bool              `yaml:"read_only"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yamlDocuments(t, repoPath("docker", "edge", "compose.yaml"))[0].Decode(&c); err != nil {
		t.Fatalf("docker/edge/compose.yaml: %v", err)
	}
	return c
}

// composeDefault matches Compose interpolation: ${VAR}, ${VAR:-default} or ${VAR:?message}.
var composeDefault = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])(.*))?\}$`)

// composeValue returns the value a service gets when the caller's environment sets nothing.
// That is the default, or required is true when Compose stops with an error instead.
func composeValue(v string) (value string, required bool) {
	m := composeDefault.FindStringSubmatch(v)
	switch {
	case m == nil:
		return v, false
	case m[2] == "-":
		return m[3], false
	default:
		return "", true
	}
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	_, runtime := parseProjectDockerfile(t)
	imageEnv := runtime.Env()
	builds := 0
	for _, want := range []string{"edge", "aggregator"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("compose.yaml has no service %s", want)
		}
	}
	for name, svc := range c.Services {
		if svc.Build != nil {
			builds++
			dockerfile := filepath.Join(repoPath("docker", "edge"), svc.Build.Context,
				svc.Build.Dockerfile)
			if dockerfile != repoPath("docker", "Dockerfile") {
				t.Errorf("service %s builds %s, not docker/Dockerfile", name, dockerfile)
			}
		}
		if !svc.ReadOnly {
			t.Errorf("service %s does not set read_only", name)
		}
		if len(svc.Command) != 2 || svc.Command[0] != "-c" {
			t.Errorf("service %s command %q, want [-c <config file>]", name, svc.Command)
			continue
		}
		rel, ok := strings.CutPrefix(svc.Command[1], "/fluent-bit/etc/")
		if !ok {
			t.Errorf("service %s runs %s, outside the image's /fluent-bit/etc", name,
				svc.Command[1])
			continue
		}
		text, err := os.ReadFile(repoPath("conf", rel))
		if err != nil {
			t.Errorf("service %s runs %s, but conf/%s is missing", name, svc.Command[1], rel)
			continue
		}
		p, err := confcheck.ParseYAML(repoPath("conf", rel))
		if err != nil {
			t.Fatal(err)
		}
		if pf := p.Service["plugins_file"]; pf != "" {
			resolved := path.Join(path.Dir(svc.Command[1]), pf)
			if resolved != "/fluent-bit/etc/plugins.yaml" {
				t.Errorf("service %s loads plugins from %s, not the image's plugins.yaml",
					name, resolved)
			}
		}

		env := map[string]string{}
		for k, v := range imageEnv {
			env[k] = v
		}
		for k, v := range svc.Environment {
			value, required := composeValue(v)
			if slices.Contains(secretVariables, k) && !required {
				t.Errorf("service %s gives secret %s a value; require it from the caller", name, k)
			}
			env[k] = value
		}
		used := map[string]string{}
		for _, ref := range envReferences(string(text)) {
			value, ok := env[ref]
			if !ok {
				t.Errorf("conf/%s uses ${%s}, which service %s does not set", rel, ref, name)
			}
			used[ref] = value
		}
		checkComposeVolumes(t, c, name, svc.Volumes, used)
	}
	if builds != 1 {
		t.Errorf("%d services build the image, want one (the others reuse its tag)", builds)
	}

	edge, aggregator := c.Services["edge"].Environment, c.Services["aggregator"].Environment
	if edge["AGGREGATOR_PORT"] != aggregator["FORWARD_PORT"] {
		t.Errorf("edge sends to port %s, the aggregator listens on %s",
			edge["AGGREGATOR_PORT"], aggregator["FORWARD_PORT"])
	}
	if host, _ := composeValue(edge["AGGREGATOR_HOST"]); host != "aggregator" {
		t.Errorf("edge AGGREGATOR_HOST defaults to %q; make-certs.sh names the aggregator's "+
			"certificate \"aggregator\" and the service is called that", host)
	}
}

// checkComposeVolumes checks that the paths in env, the variables the service's
// configuration uses, lie on the service's volumes.
func checkComposeVolumes(t *testing.T, c composeFile, service string, volumes []string,
	env map[string]string) {
	type mount struct {
		target   string
		writable bool
	}
	var mounts []mount
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("service %s volume %q has no target", service, v)
			continue
		}
		source := parts[0]
		readOnly := len(parts) == 3 && parts[2] == "ro"
		if !strings.HasPrefix(source, ".") && !strings.HasPrefix(source, "/") {
			if _, ok := c.Volumes[source]; !ok {
				t.Errorf("service %s uses named volume %s, which is not declared", service,
					source)
			}
		}
		mounts = append(mounts, mount{parts[1], !readOnly})
	}
	for name, mustWrite := range pathVariables {
		value, ok := env[name]
		if !ok {
			continue
		}
		i := slices.IndexFunc(mounts, func(m mount) bool { return underDir(value, m.target) })
		switch {
		case i < 0:
			t.Errorf("service %s: %s=%s lies on no volume", service, name, value)
		case mustWrite && !mounts[i].writable:
			t.Errorf("service %s: %s=%s lies on read-only %s", service, name, value,
				mounts[i].target)
		case !mustWrite && strings.HasPrefix(value, "/fluent-bit/tls/"):
			checkCertName(t, service, name, path.Base(value))
		}
	}
}

// checkCertName checks that a certificate file a service reads is one make-certs.sh writes.
func checkCertName(t *testing.T, service, variable, file string) {
	script, err := os.ReadFile(repoPath("docker", "edge", "make-certs.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "wrote ca.pem") ||
		!strings.Contains(string(script), file) {
		t.Errorf("service %s: %s names %s, which make-certs.sh does not write", service,
			variable, file)
	}
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cert
}

func TestMakeCertsChains(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed (Debian package openssl)")
	}
	dir := filepath.Join(t.TempDir(), "tls")
	cmd := exec.Command(repoPath("docker", "edge", "make-certs.sh"), dir, "aggregator")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-certs.sh failed: %v\n%s", err, out)
	}

	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(dir, "ca.pem")))
	server := readCert(t, filepath.Join(dir, "aggregator.pem"))
	if _, err := server.Verify(x509.VerifyOptions{Roots: roots, DNSName: "aggregator",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("aggregator certificate does not verify as server aggregator: %v", err)
	}
	client := readCert(t, filepath.Join(dir, "edge.pem"))
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("edge certificate does not verify as a client: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("edge certificate also verifies as a server; it should be client-only")
	}

	for _, name := range []string{"aggregator", "edge"} {
		data, err := os.ReadFile(filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "PRIVATE KEY" {
			t.Fatalf("%s-key.pem is not a PKCS#8 PEM key", name)
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatalf("%s-key.pem: %v", name, err)
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok || rsaKey.N.BitLen() < 2048 {
			t.Errorf("%s-key.pem is not an RSA key of 2048 bits or more", name)
		}
		cert := server
		if name == "edge" {
			cert = client
		}
		if !rsaKey.PublicKey.Equal(cert.PublicKey) {
			t.Errorf("%s-key.pem does not match %s.pem", name, name)
		}
	}

	again := exec.Command(repoPath("docker", "edge", "make-certs.sh"), dir)
	if err := again.Run(); err == nil {
		t.Error("make-certs.sh overwrote existing certificates")
	}
}
