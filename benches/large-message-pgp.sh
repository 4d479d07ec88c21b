#!/usr/bin/env bash
# Whole-process comparison on a large message: `mailgate pgp encrypt`,
# `decrypt`, `sign`, `verify` against `gpg` (GnuPG 2.2) on the same 73 MB
# (68 MiB) message with a 51 MiB base64 attachment and the same
# Ed25519/Cv25519 keys (made by gpg); wall time and peak RSS from
# /usr/bin/time. Usage: benches/large-message-pgp.sh (builds the release
# binary first; honours CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mailgate
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/mailgate
[[ $bin = /* ]] || bin=$PWD/$bin
work=$(mktemp -d)
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
trap 'gpgconf --kill all 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
g() { gpg --batch --yes --quiet --pinentry-mode loopback --passphrase '' --trust-model always "$@"; }
g --quick-gen-key 'Alice <alice@example.org>' future-default default never 2>/dev/null
g --quick-gen-key 'Bob <bob@example.org>' future-default default never 2>/dev/null
g --armor --export-secret-keys alice@example.org > alice.sec.asc
g --armor --export alice@example.org > alice.pub.asc
g --armor --export-secret-keys bob@example.org > bob.sec.asc
g --armor --export bob@example.org > bob.pub.asc
{
    printf 'From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n'
    printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n'
    printf -- '--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    head -c $((51 * 1024 * 1024)) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
    printf -- '--b1--\r\n'
} > big.eml
ls -l big.eml | awk '{print "message:", $5, "bytes"}'
measure() { local label=$1; shift; /usr/bin/time -f "$label: %e s, peak RSS %M KiB" "$@"; }
measure "mailgate pgp encrypt" sh -c "$bin pgp encrypt --to bob.pub.asc < big.eml > ours.eml"
measure "gpg      encrypt    " gpg --batch --yes --quiet --trust-model always --armor --encrypt -r bob@example.org --output theirs.asc big.eml
measure "mailgate pgp decrypt" sh -c "$bin pgp decrypt --key bob.sec.asc < ours.eml > ours.out"
measure "gpg      decrypt    " gpg --batch --yes --quiet --decrypt --output theirs.out theirs.asc
cmp -s ours.out big.eml && echo "mailgate encrypt/decrypt round trip identical"
# A file on stdin is read twice (no spool); a pipe is spooled.
measure "mailgate pgp sign   " sh -c "$bin pgp sign --key alice.sec.asc < big.eml > signed.eml"
measure "mailgate pgp sign, stdin a pipe" sh -c "cat big.eml | $bin pgp sign --key alice.sec.asc > signed-pipe.eml"
measure "gpg      sign       " gpg --batch --yes --quiet --armor --detach-sign --output big.eml.asc big.eml
# gpg writing the whole signed text too, as mailgate does.
measure "gpg      clearsign  " gpg --batch --yes --quiet -u alice@example.org --clearsign --output big.eml.clear big.eml
measure "mailgate pgp verify " sh -c "$bin pgp verify --cert alice.pub.asc < signed.eml > /dev/null"
$bin pgp verify --cert alice.pub.asc < signed-pipe.eml > /dev/null && echo "mailgate pgp verify accepts both signed messages"
measure "gpg      verify     " gpg --batch --quiet --verify big.eml.asc big.eml
