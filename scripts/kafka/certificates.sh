#!/usr/bin/env bash
# A CA of a cluster's own and its TLS listener's certificate for 127.0.0.1/localhost, in DIR:
# ca.pem (readable by all), ca.key, server.key and server.pem (owner only). Used by
# scripts/local-clusters.sh and scripts/bench.sh.
#
#   certificates.sh DIR "CA NAME"
set -euo pipefail
dir="${1:?usage: certificates.sh DIR \"CA NAME\"}"
name="${2:?usage: certificates.sh DIR \"CA NAME\"}"
cd "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$name" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr 2>/dev/null
echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
  -extfile san.ext -out server.pem 2>/dev/null
chmod 644 ca.pem
rm -f server.csr san.ext ca.srl
