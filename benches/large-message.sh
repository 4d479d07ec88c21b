#!/usr/bin/env bash
# Whole-process comparison on a large message: `mailgate smime encrypt` /
# `decrypt` / `sign` / `verify` against `openssl cms` on the same 73 MB
# (68 MiB) message with a 51 MiB base64 attachment; wall time and peak RSS
# from /usr/bin/time.
# Usage: benches/large-message.sh   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mailgate
bin=$PWD/target/release/mailgate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout bob.key -out bob.pem \
    -subj "/CN=bob@example.org" -days 2 2>/dev/null
{
    printf 'From: alice@example.org\r\nTo: bob@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n'
    printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n'
    printf -- '--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    head -c $((51 * 1024 * 1024)) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
    printf -- '--b1--\r\n'
} > big.eml
ls -l big.eml | awk '{print "message:", $5, "bytes"}'
measure() { local label=$1; shift; /usr/bin/time -f "$label: %e s, peak RSS %M KiB" "$@"; }
for cipher in aes-256-gcm aes-128-cbc; do
    measure "mailgate encrypt $cipher" sh -c "$bin smime encrypt --to bob.pem --cipher $cipher < big.eml > ours.eml"
    measure "openssl  encrypt $cipher" openssl cms -encrypt -binary -stream -$cipher -in big.eml -out theirs.eml bob.pem
    measure "mailgate decrypt $cipher" sh -c "$bin smime decrypt --cert bob.pem --key bob.key < ours.eml > ours.out"
    measure "openssl  decrypt $cipher" openssl cms -decrypt -binary -in theirs.eml -recip bob.pem -inkey bob.key -out theirs.out
    cmp -s ours.out big.eml && echo "mailgate round trip identical"
done
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -subj "/CN=Bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -days 2 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout alice.key -out alice.csr -subj "/CN=alice@example.org" 2>/dev/null
printf 'subjectAltName=email:alice@example.org\nkeyUsage=digitalSignature\nextendedKeyUsage=emailProtection\n' > alice.ext
openssl x509 -req -in alice.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out alice.pem -days 2 \
    -extfile alice.ext 2>/dev/null
for form in detached opaque; do
    flag=; [ "$form" = opaque ] && flag=--opaque
    measure "mailgate sign $form" sh -c "$bin smime sign --cert alice.pem --key alice.key $flag < big.eml > signed.eml"
    measure "mailgate verify $form" sh -c "$bin smime verify --trust ca.pem --output unwrapped.eml < signed.eml"
    cmp -s unwrapped.eml big.eml && echo "mailgate sign/verify round trip identical"
    measure "openssl  verify $form (ours)" openssl cms -verify -in signed.eml -CAfile ca.pem -out /dev/null
done
measure "openssl  sign detached" openssl cms -sign -stream -in big.eml -signer alice.pem -inkey alice.key -out theirs-signed.eml
# (OpenSSL signs the whole file, outer fields included: no From outside,
# so the verdict is "not signed by From"; the cost is what is measured.)
measure "mailgate verify detached (openssl's)" sh -c "$bin smime verify --trust ca.pem < theirs-signed.eml || true"
