package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func pemBlock(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

func TestParsePrivateKeyPEM(t *testing.T) {
	rsaKey := clientKey(t)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der := func(key any) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sec1, err := x509.MarshalECPrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))

	cases := []struct {
		name    string
		data    []byte
		wantAlg string
		wantErr string
	}{
		{"PKCS#1 RSA", pkcs1, "RS256", ""},
		{"PKCS#8 RSA", pemBlock("PRIVATE KEY", der(rsaKey)), "RS256", ""},
		{"PKCS#8 P-256", pemBlock("PRIVATE KEY", der(p256)), "ES256", ""},
		{"SEC 1 P-384", pemBlock("EC PRIVATE KEY", sec1), "ES384", ""},
		{"leading comment and parameters", append(append([]byte("# client key\n"),
			pemBlock("EC PARAMETERS", []byte{6, 5, 43, 129, 4, 0, 34})...),
			pemBlock("EC PRIVATE KEY", sec1)...), "ES384", ""},
		{"literal newlines", []byte(strings.ReplaceAll(strings.TrimSpace(string(pkcs1)), "\n",
			`\n`)), "RS256", ""},
		{"Ed25519", pemBlock("PRIVATE KEY", der(edKey)), "", "unsupported private key type"},
		{"bad PKCS#1 bytes", pemBlock("RSA PRIVATE KEY", []byte{1, 2}), "",
			"invalid PKCS#1 RSA private key"},
		{"bad SEC 1 bytes", pemBlock("EC PRIVATE KEY", []byte{1, 2}), "",
			"invalid SEC 1 EC private key"},
		{"bad PKCS#8 bytes", pemBlock("PRIVATE KEY", []byte{1, 2}), "",
			"invalid PKCS#8 private key"},
		{"RSA public key", pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(
			&rsaKey.PublicKey)), "", "found a RSA PUBLIC KEY"},
		{"only unknown blocks", pemBlock("DH PARAMETERS", []byte{1}), "", "no PEM private key"},
		{"whitespace", []byte("  \n\t"), "", "the key is empty"},
	}
	for _, tc := range cases {
		key, err := ParsePrivateKeyPEM(tc.data)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		alg, err := SigningAlgorithm(key)
		if err != nil || alg != tc.wantAlg {
			t.Errorf("%s: SigningAlgorithm = %q, %v; want %s", tc.name, alg, err, tc.wantAlg)
		}
	}
}

func TestSigningAlgorithmUnsupported(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var signer crypto.Signer = edKey
	if _, err := SigningAlgorithm(signer); err == nil {
		t.Error("SigningAlgorithm accepted an Ed25519 key")
	}
}
