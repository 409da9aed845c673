package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// buildBinary builds the command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mockokta")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("env line %q has no =", line)
		}
		env[name] = value
	}
	return env
}

func TestBinaryServesWrittenConfig(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	events := filepath.Join(dir, "events.json")
	if err := os.WriteFile(events, []byte(`[{"uuid":"u1","eventType":"user.session.start"}]`),
		0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-dir", dir, "-events", events, "-synthesize", "10",
		"-duration", "60s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read ready line: %v", err)
	}
	orgURL, ok := strings.CutPrefix(strings.TrimSpace(line), "mockokta: listening on ")
	if !ok {
		t.Fatalf("ready line %q", line)
	}

	env := readEnv(t, filepath.Join(dir, "env"))
	if env["ORG_URL"] != orgURL {
		t.Errorf("ORG_URL = %q, want %q", env["ORG_URL"], orgURL)
	}
	for _, name := range []string{"CLIENT_ID", "KEY_ID", "PRIVATE_KEY_FILE", "CA_FILE"} {
		if env[name] == "" {
			t.Errorf("env has no %s", name)
		}
	}
	if info, err := os.Stat(env["PRIVATE_KEY_FILE"]); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("client key file mode: %v %v, want 0600", info.Mode(), err)
	}

	caPEM, err := os.ReadFile(env["CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file is not PEM")
	}
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		Timeout:   10 * time.Second,
	}

	// A valid assertion without a DPoP proof passes the client checks and then fails on the
	// missing proof, which proves the key, kid, client ID and aud in env fit the server.
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {"okta.logs.read"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {signAssertion(t, env)},
	}
	resp, err := client.PostForm(orgURL+"/oauth2/v1/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var oauthErr map[string]string
	if err := json.Unmarshal(body, &oauthErr); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("token status = %d, want 400 (body %s)", resp.StatusCode, body)
	}
	if got := oauthErr["error_description"]; got != "The DPoP proof JWT header is missing." {
		t.Errorf("error_description = %q, want the missing-proof error", got)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGINT: %v, want status 0", err)
	}
}

func signAssertion(t *testing.T, env map[string]string) string {
	t.Helper()
	keyPEM, err := os.ReadFile(env["PRIVATE_KEY_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal("client key file is not a PKCS #8 PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{
		"iss": env["CLIENT_ID"],
		"sub": env["CLIENT_ID"],
		"aud": env["ORG_URL"] + "/oauth2/v1/token",
		"iat": now.Unix() - 5, "exp": now.Unix() + 300, "jti": now.String(),
	})
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, env["KEY_ID"])
	out, err := jws.Sign(payload, jws.WithKey(jwa.RS256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestBinaryRejectsNonLoopback(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "-dir", t.TempDir(), "-listen", "0.0.0.0:0").CombinedOutput()
	if err == nil {
		t.Fatalf("exit 0 for a non-loopback address; output %s", out)
	}
	if !strings.Contains(string(out), `"0.0.0.0:0" is not a loopback IP address`) {
		t.Errorf("output %q does not name the address", out)
	}
}

func TestBinaryRequiresDir(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-dir is required") {
		t.Errorf("err %v, output %q, want a -dir error", err, out)
	}
}
