#!/usr/bin/env bash
# Builds the C ABI and the C example, sets up a demo gateway, sends a
# confidential mail from alice to bob through the C example, and checks the
# result with OpenSSL: it must decrypt with bob's key and carry alice's valid
# signature. Run from anywhere; needs cc and openssl.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --locked -p gateway-ffi -p mailgate
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$target/debug/mailgate" demo --dir "$work/demo" >/dev/null
cc -std=c11 -Wall -Wextra -Werror -o "$work/outbound" examples/c/outbound.c \
    -I gateway-ffi/include -L "$target/debug" -lmailgate -Wl,-rpath,"$target/debug"
mkdir "$work/out"
printf 'From: alice@behoerde.example\r\nTo: bob@partner.example\r\nSubject: [vertraulich] Aus C\r\n\r\nGesendet aus einem C-Programm.\r\n' \
    | "$work/outbound" "$work/demo/mailgate.toml" alice@behoerde.example bob@partner.example "$work/out" > "$work/result.json"
grep -q '"kind":"deliver"' "$work/result.json"
if grep -q 'Gesendet aus einem C-Programm' "$work/out/buffer-0.eml"; then
    echo "the mail left in clear" >&2; exit 1
fi
openssl cms -decrypt -recip "$work/demo/pki/bob.cert.pem" -inkey "$work/demo/pki/bob.key.pem" \
    < "$work/out/buffer-0.eml" > "$work/signed.eml"
openssl cms -verify -CAfile "$work/demo/pki/ca.pem" < "$work/signed.eml" 2>/dev/null \
    | grep -q 'Gesendet aus einem C-Programm'
echo "C example: outbound mail signed and encrypted through the C ABI, verified by OpenSSL"
