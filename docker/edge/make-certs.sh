#!/usr/bin/env bash
# Create a private CA, a server certificate for the aggregator and a client certificate for the
# edge collector, for the forward-over-TLS setup in compose.yaml.
#
#   make-certs.sh DIR [AGGREGATOR_NAME]
#
# AGGREGATOR_NAME (default "aggregator") is the DNS name the edge connects to; tls.verify_hostname
# is on, so it must equal AGGREGATOR_HOST. Keys are RSA 2048 in PKCS#8 PEM, certificates last
# 825 days. The containers run as uid 65532. When run as root, the script makes that uid the
# owner of the keys. Otherwise it leaves them mode 0644 so the container can read them, which
# suits a test machine only.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIR [AGGREGATOR_NAME]" >&2
    exit 2
fi
dir=$1
name=${2:-aggregator}
days=825
mkdir -p "$dir"
cd "$dir"
for f in ca.pem aggregator.pem edge.pem; do
    if [ -e "$f" ]; then
        echo "$0: $dir/$f exists; remove the old certificates first" >&2
        exit 1
    fi
done

umask 077
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days "$days" \
    -subj "/CN=okta-forward-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null

issue() { # issue NAME CN EXTENDED_KEY_USAGE [SAN]
    local out=$1 cn=$2 eku=$3 san=${4:-}
    local ext
    ext=$(mktemp)
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$eku"
        if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
    } >"$ext"
    openssl req -newkey rsa:2048 -nodes -keyout "$out-key.pem" -out "$out.csr" \
        -subj "/CN=$cn" 2>/dev/null
    openssl x509 -req -in "$out.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
        -out "$out.pem" -days "$days" -extfile "$ext" 2>/dev/null
    rm -f "$out.csr" "$ext"
}
issue aggregator "$name" serverAuth "DNS:$name"
issue edge edge clientAuth
rm -f ca.srl

chmod 0644 ca.pem aggregator.pem edge.pem
if [ "$(id -u)" -eq 0 ]; then
    chown 65532:65532 aggregator-key.pem edge-key.pem
    chmod 0600 aggregator-key.pem edge-key.pem
else
    chmod 0644 aggregator-key.pem edge-key.pem
    echo "$0: keys in $dir are world-readable so uid 65532 can read them; on a real host" \
        "run as root, or chown them to 65532" >&2
fi
echo "$0: wrote ca.pem, aggregator.pem, aggregator-key.pem, edge.pem and edge-key.pem" \
    "to $dir; keep ca-key.pem offline" >&2
