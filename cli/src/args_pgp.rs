//! The grammar of `mailgate pgp ...` (clap derive). Behaviour lives in
//! `command/pgp.rs`.
//!
//! Key files may be ASCII-armored or binary and may hold several keys.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum PgpCommand {
    /// Sign a message read from standard input as PGP/MIME
    /// (`multipart/signed`, RFC 3156); write it to standard output.
    ///
    /// The outer header fields (From, To, Subject, ...) stay outside the
    /// signature; the body is made 7-bit safe and signed in canonical form.
    /// When the key file holds several keys, the one whose user ID carries
    /// the From address signs (else the first that can sign). Exits 2 when
    /// the key cannot sign or the input is malformed.
    Sign(PgpSignArgs),

    /// Verify an OpenPGP-signed message read from standard input (PGP/MIME
    /// or an inline cleartext signature).
    ///
    /// Exits 0 only when the whole message is covered by valid signatures,
    /// one of them by a `--cert` certificate with a valid user ID whose
    /// address is the From address. Exits 1 otherwise (invalid, partially
    /// signed, unsigned, signed by someone else, unknown signer), 2 on
    /// malformed input. Exits 1 too when the header shows someone other
    /// than the signer: a From display name naming another address, a
    /// Sender other than the From mailbox. A Reply-To in another domain and
    /// a Date more than an hour (`--date-tolerance`) from the signature's
    /// creation time are warnings (exit 1 for the Date with `--strict`).
    Verify(PgpVerifyArgs),

    /// Encrypt a message read from standard input to every certificate of
    /// the `--to` files as PGP/MIME (`multipart/encrypted`); write it to
    /// standard output.
    ///
    /// The outer header fields stay readable (delivery needs them); the
    /// body and its Content-* fields are encrypted. With `--sign-with`, the
    /// message is signed inside the encryption (RFC 3156 section 6.2).
    /// Include your own certificate as a `--to` to keep sent mail readable.
    /// Exits 1 when a recipient certificate has no usable encryption key.
    Encrypt(PgpEncryptArgs),

    /// Decrypt an OpenPGP message read from standard input (PGP/MIME or an
    /// inline `PGP MESSAGE` block); write the outer header fields and the
    /// decrypted entity to standard output.
    ///
    /// Nothing is written unless the command exits 0: not when the message
    /// is not for these keys or fails its integrity check (exit 1), and,
    /// with `--verify-with`, not when a signature inside is present but not
    /// a valid one by the From address (exit 1).
    Decrypt(PgpDecryptArgs),
}

/// A secret key file and its passphrase.
#[derive(Debug, Args)]
pub(crate) struct PgpSecretArgs {
    /// Secret key file (transferable secret keys, armored or binary;
    /// passphrase-protected keys need `--pass-env`).
    #[arg(long, value_name = "SECRET.asc")]
    pub(crate) key: PathBuf,

    /// Name of the environment variable holding the secret key's
    /// passphrase.
    #[arg(long, value_name = "VAR")]
    pub(crate) pass_env: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PgpSignArgs {
    #[command(flatten)]
    pub(crate) secret: PgpSecretArgs,

    /// Hash algorithm of the signature.
    #[arg(long, value_name = "sha256|sha512", default_value = "sha256")]
    pub(crate) digest: PgpDigest,
}

/// The hash algorithms a PGP/MIME signature may use (`micalg`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum PgpDigest {
    /// SHA-256 (`pgp-sha256`).
    Sha256,
    /// SHA-512 (`pgp-sha512`).
    Sha512,
}

#[derive(Debug, Args)]
pub(crate) struct PgpVerifyArgs {
    /// Certificates of the signers to accept (repeatable; every key of a
    /// file counts).
    #[arg(long, required = true, value_name = "CERT.asc")]
    pub(crate) cert: Vec<PathBuf>,

    /// Judge signatures and keys at this time instead of now (RFC 3339),
    /// for archived mail.
    #[arg(long, value_name = "RFC3339-TIME", value_parser = crate::rfc3339::parse)]
    pub(crate) at: Option<std::time::SystemTime>,

    /// Write the message with the OpenPGP layer removed (outer header
    /// fields and the signed entity) to this file, when the whole message
    /// is covered and every signature on it holds (nothing is written for a
    /// tampered or partially signed message).
    #[arg(long, value_name = "OUT.eml")]
    pub(crate) output: Option<PathBuf>,

    /// Exit 1 also when the Date field is further than the tolerance from
    /// the signing time (by default that is only reported as a warning).
    #[arg(long)]
    pub(crate) strict: bool,

    /// How far the Date field may be from the signing time before it is
    /// reported: seconds, or with a unit (`90m`, `2h`, `1d`). Default 1h.
    #[arg(long, value_name = "DURATION", value_parser = crate::args::parse_tolerance)]
    pub(crate) date_tolerance: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct PgpEncryptArgs {
    /// Recipient certificates (repeatable; every key of a file is a
    /// recipient).
    #[arg(long, required = true, value_name = "CERT.asc")]
    pub(crate) to: Vec<PathBuf>,

    /// Sign inside the encryption with this secret key.
    #[arg(long, value_name = "SECRET.asc")]
    pub(crate) sign_with: Option<PathBuf>,

    /// Name of the environment variable holding the `--sign-with` key's
    /// passphrase.
    #[arg(long, value_name = "VAR", requires = "sign_with")]
    pub(crate) pass_env: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PgpDecryptArgs {
    #[command(flatten)]
    pub(crate) secret: PgpSecretArgs,

    /// Certificates of signers to accept for signatures inside
    /// (repeatable). When given, the command exits 1 and writes nothing if
    /// a signature is present but not a valid one by the From address.
    #[arg(long, value_name = "CERT.asc")]
    pub(crate) verify_with: Vec<PathBuf>,

    /// Judge signatures inside at this time instead of now (RFC 3339).
    #[arg(long, value_name = "RFC3339-TIME", value_parser = crate::rfc3339::parse)]
    pub(crate) at: Option<std::time::SystemTime>,
}
