package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinRSABits is the smallest RSA modulus accepted for the client key. Okta requires 2048 bits
// for keys registered on an app.
const MinRSABits = 2048

// ParsePrivateKeyPEM parses an RSA (PKCS#1 or PKCS#8, at least 2048 bits) or EC (P-256 or P-384,
// SEC 1 or PKCS#8) private key in PEM form. The error names what was found instead and how to
// produce an acceptable key.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	data = unescapeNewlines(data)
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if signer, err := parseBlock(block); err != nil || signer != nil {
			return signer, err
		}
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, errors.New("the key is empty")
	}
	return nil, errors.New("no PEM private key found; expected a block such as " +
		"'-----BEGIN PRIVATE KEY-----' (PKCS#8) or '-----BEGIN RSA PRIVATE KEY-----' (PKCS#1)")
}

// parseBlock returns (nil, nil) for blocks that are not keys at all, so that a file holding
// parameters or comments before the key still works.
func parseBlock(block *pem.Block) (crypto.Signer, error) {
	if _, encrypted := block.Headers["DEK-Info"]; encrypted ||
		block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("the private key is encrypted with a passphrase, which is not " +
			"supported; decrypt it with 'openssl pkey -in key.pem -out key-plain.pem' and " +
			"protect the file with permissions instead")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("invalid PKCS#1 RSA private key: %v", err)
		}
		return checkSigner(key)
	case "EC PRIVATE KEY":
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("invalid SEC 1 EC private key: %v", err)
		}
		return checkSigner(key)
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("invalid PKCS#8 private key: %v", err)
		}
		return checkSigner(key)
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, fmt.Errorf("found a %s, not a private key; give the private key whose "+
			"public half is registered on the Okta app", block.Type)
	case "EC PARAMETERS":
		return nil, nil
	}
	return nil, nil
}

func checkSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("the RSA key has %d bits; Okta requires at least %d, "+
				"generate one with 'openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048'",
				bits, MinRSABits)
		}
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("invalid RSA private key: %v", err)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384():
			return k, nil
		}
		return nil, fmt.Errorf("the EC key uses curve %s; use P-256 or P-384",
			k.Curve.Params().Name)
	}
	return nil, fmt.Errorf("unsupported private key type %T; use RSA (2048 bits or more) "+
		"or EC P-256/P-384", key)
}

// unescapeNewlines turns a PEM passed through an environment variable with literal "\n"
// sequences (a common way to fit it on one line) back into a multi-line PEM.
func unescapeNewlines(data []byte) []byte {
	s := string(data)
	if strings.Contains(s, "-----BEGIN") && !strings.Contains(s, "\n") &&
		strings.Contains(s, `\n`) {
		return []byte(strings.ReplaceAll(s, `\n`, "\n"))
	}
	return data
}

// SigningAlgorithm returns the JWS algorithm used with key: RS256 for RSA, ES256 for P-256 and
// ES384 for P-384, all of which Okta accepts for client assertions and DPoP proofs.
func SigningAlgorithm(key crypto.Signer) (string, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return "RS256", nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		}
	}
	return "", fmt.Errorf("auth: no signing algorithm for key type %T", key)
}
