#!/usr/bin/env bash
# Whole-process comparison on a large message: `mailgate smime encrypt` /
# `decrypt` against `openssl cms` on the same 73 MB (68 MiB) message with a
# 51 MiB base64 attachment; wall time and peak RSS from /usr/bin/time.
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
