//! The command-line grammar (clap derive). Behaviour lives in `command/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod policy;
pub(crate) use policy::{
    PolicyCheckArgs, PolicyCommand, PolicyDirection, PolicyExplainArgs, PolicyTestArgs,
};

/// Crypto-mail building blocks: S/MIME, OpenPGP, BSI TLS verdicts, policies.
///
/// Exit codes: 0 success or the checked property holds; 1 a definite negative
/// result; 2 usage error or malformed input; 3 temporary failure (retry
/// later); 70 internal error (a bug).
#[derive(Debug, Parser)]
#[command(
    name = "mailgate",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Print results (and errors) as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Print nothing on success; errors still go to standard error.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// S/MIME: sign, verify, decrypt messages; inspect certificates.
    #[command(subcommand)]
    Smime(SmimeCommand),

    /// Set up a demo gateway for behoerde.example (PKI, keys, policy,
    /// certificate directory) and run sample mails through it.
    Demo(DemoArgs),

    /// Run one mail through the gateway; write the result to a directory.
    ///
    /// Writes OUT/result.json (dispositions and audit record) and the
    /// message and notification files it names. Exits 0 when processed (also
    /// if some recipients were rejected), 3 when every recipient was
    /// deferred, 2 for bad input or configuration.
    Process(ProcessArgs),

    /// The gateway's certificate directory: list, import, approve, reject.
    #[command(subcommand)]
    Certs(CertsCommand),

    /// The organisation's own keys (signing, decryption): import.
    #[command(subcommand)]
    Keys(KeysCommand),

    /// Mail policies: validate, explain a decision, run policy tests.
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// OpenPGP: sign, verify, encrypt, decrypt messages (PGP/MIME and
    /// inline).
    #[command(subcommand)]
    Pgp(crate::args_pgp::PgpCommand),

    /// TLS of receiving mail servers: BSI TR-03108 checks.
    #[command(subcommand)]
    Tls(crate::args_tls::TlsCommand),

    /// Run the gateway as a milter for Postfix or Sendmail.
    ///
    /// Inbound mail is decrypted, verified, annotated and harvested; outbound
    /// mail is signed and encrypted in place, all per policy. A milter
    /// changes or refuses a mail for all its recipients at once: mail whose
    /// recipients need different treatment, a TLS requirement the MTA does
    /// not enforce, or a password notification without `--notify-via` is
    /// refused with 451 and a reason (route it through `mailgate relay`).
    /// SIGHUP reloads the policy. Set `milter_default_action = tempfail` in
    /// Postfix
    /// (its default) so that mail is never passed on when the milter is
    /// down. Logs one line per mail to standard error.
    Milter(crate::args_daemon::MilterArgs),

    /// Run the gateway as an SMTP relay that delivers each recipient group
    /// itself.
    ///
    /// Accepts mail over SMTP (answering 250 only once it is on disk in the
    /// spool), runs it through the gateway, and delivers every disposition
    /// to the next hop: recipient groups that need different treatment get
    /// their own copy, deliveries that require TLS go only over a connection
    /// judged against the profile, refused recipients are bounced to the
    /// sender (RFC 3464), deferred ones retried with backoff. A restart
    /// takes over the spool: nothing acknowledged is lost. Logs one line per
    /// event to standard error.
    Relay(Box<crate::args_daemon::RelayArgs>),
}

#[derive(Debug, Subcommand)]
pub(crate) enum SmimeCommand {
    /// Show what certificate files hold: subject, issuer, validity, addresses,
    /// key, usages, fingerprint.
    ///
    /// Files may hold PEM (several certificates, text around them) or DER.
    /// Exits 2 if a file cannot be read or holds no valid certificate.
    Inspect(InspectArgs),

    /// Decrypt an S/MIME message read from standard input.
    ///
    /// Writes the decrypted message (the outer header fields, then the
    /// decrypted entity) to standard output, and nothing at all when
    /// decryption fails. Exits 1 when the message is not for this
    /// certificate or does not decrypt, 2 when input or key is malformed.
    Decrypt(DecryptArgs),

    /// Sign a message read from standard input; write the signed message to
    /// standard output.
    ///
    /// The outer header fields (From, To, Subject, ...) stay outside the
    /// signature; the body is canonicalised and made 7-bit safe, then signed
    /// as `multipart/signed` (or opaque with `--opaque`).
    Sign(SignArgs),

    /// Verify a signed message read from standard input.
    ///
    /// Exits 0 only when the whole message is covered by valid signatures
    /// from certificates that chain to a `--trust` anchor, are valid now (or
    /// at `--at`), may sign mail, and one of which names the From address.
    /// Exits 1 otherwise (invalid, partially signed, unsigned, signed by
    /// someone else), 2 on malformed input. Exits 1 too when the header
    /// shows someone other than the signer: a From display name naming
    /// another address, a Sender other than the From mailbox. A Reply-To in
    /// another domain and a Date more than an hour (`--date-tolerance`)
    /// from the signing time are warnings (exit 1 for the Date with
    /// `--strict`).
    Verify(VerifyArgs),

    /// Encrypt a message read from standard input to the `--to`
    /// certificates; write the encrypted message to standard output.
    ///
    /// The outer header fields stay readable (delivery needs them); the body
    /// and its Content-* fields are encrypted. Include your own certificate
    /// as a `--to` to keep sent mail readable.
    Encrypt(EncryptArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Certificate files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

/// A certificate and its private key, as files.
#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// Our certificate (PEM or DER).
    #[arg(long, value_name = "CERT.pem")]
    pub(crate) cert: PathBuf,

    /// Its private key: PKCS#8 (also encrypted), PKCS#1 RSA or SEC 1 EC, PEM
    /// or DER; or a PKCS#12 bundle (.p12/.pfx), whose certificate and chain
    /// are then used too (`--cert` may name the same file).
    #[arg(long, value_name = "KEY.pem")]
    pub(crate) key: PathBuf,

    /// Name of the environment variable holding the key's passphrase.
    #[arg(long, value_name = "VAR")]
    pub(crate) pass_env: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    #[command(flatten)]
    pub(crate) key: KeyArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    pub(crate) key: KeyArgs,

    /// CA certificates to include so recipients can build the path
    /// (repeatable; PEM files may hold several).
    #[arg(long, value_name = "CA.pem")]
    pub(crate) chain: Vec<PathBuf>,

    /// Opaque signing (application/pkcs7-mime; smime-type=signed-data)
    /// instead of multipart/signed.
    #[arg(long)]
    pub(crate) opaque: bool,

    /// Digest algorithm.
    #[arg(long, value_name = "sha256|sha384|sha512", default_value = "sha256")]
    pub(crate) digest: smime_core::DigestAlgorithm,

    /// RSA-PSS instead of PKCS#1 v1.5 (RSA keys only).
    #[arg(long)]
    pub(crate) pss: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Trust anchors (root certificates; repeatable).
    #[arg(long, required = true, value_name = "ANCHOR.pem")]
    pub(crate) trust: Vec<PathBuf>,

    /// Intermediate CA certificates besides those in the message.
    #[arg(long, value_name = "CA.pem")]
    pub(crate) intermediate: Vec<PathBuf>,

    /// Check validity at this time instead of now (RFC 3339), for archived
    /// mail.
    #[arg(long, value_name = "RFC3339-TIME", value_parser = crate::rfc3339::parse)]
    pub(crate) at: Option<std::time::SystemTime>,

    /// Write the message with the S/MIME layer removed (outer header fields
    /// and the signed entity) to this file, when the whole message is signed.
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

    /// Certificate revocation lists (PEM or DER; repeatable), consulted for
    /// every certificate of each signer's path.
    #[arg(long, value_name = "FILE")]
    pub(crate) crl: Vec<PathBuf>,

    /// Ask this OCSP responder (http://...) about every certificate of the
    /// path that no CRL answered, instead of the responders the
    /// certificates name.
    #[arg(long, value_name = "URL")]
    pub(crate) ocsp: Option<String>,

    /// Ask the OCSP responders named in the certificates (authority
    /// information access) about certificates no CRL answered.
    #[arg(long)]
    pub(crate) ocsp_aia: bool,

    /// Download the CRLs the certificates name (CRL distribution points,
    /// http:// URLs) for certificates no --crl answered; asked before OCSP.
    #[arg(long)]
    pub(crate) crl_dp: bool,

    /// Seconds to wait for an OCSP responder, and for a whole CRL download
    /// (--crl-dp).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub(crate) ocsp_timeout: u64,

    /// Revocation checking: `require` (a certificate whose status no CRL or
    /// responder knows makes the signature invalid), `prefer` (revoked is
    /// invalid, unknown is reported as a warning), `off`. Default: `prefer`
    /// when a --crl, --crl-dp, --ocsp or --ocsp-aia is given, `off`
    /// otherwise.
    #[arg(long, value_name = "require|prefer|off")]
    pub(crate) revocation: Option<smime_core::RevocationMode>,
}

#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// Recipient certificates (repeatable; every certificate of a PEM file
    /// is a recipient).
    #[arg(long, required = true, value_name = "CERT.pem")]
    pub(crate) to: Vec<PathBuf>,

    /// Content cipher. AES-256-GCM (AuthEnvelopedData) is the S/MIME 4.0
    /// default; CBC for old clients (Outlook before 2019 cannot read GCM).
    #[arg(
        long,
        value_name = "aes-128-gcm|aes-256-gcm|aes-128-cbc|aes-256-cbc",
        default_value = "aes-256-gcm"
    )]
    pub(crate) cipher: smime_core::ContentEncryption,

    /// RSA-OAEP (SHA-256) key transport for RSA recipients instead of
    /// PKCS#1 v1.5.
    #[arg(long)]
    pub(crate) oaep: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to create the demo set-up (default: a new temporary directory,
    /// printed and kept).
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

/// The DNS resolver for MX, address and TLSA lookups (always validating
/// DNSSEC).
#[derive(Debug, Args)]
pub(crate) struct DnsArgs {
    /// A name server to ask (`IP` or `IP:PORT`) instead of the system's
    /// (`/etc/resolv.conf`). Repeatable.
    #[arg(long = "dns-server", value_name = "IP[:PORT]")]
    pub(crate) servers: Vec<String>,

    /// DNSSEC trust anchors: a file of DNSKEY records in zone-file format
    /// (default: the IANA root keys built in).
    #[arg(long = "dns-trust-anchor", value_name = "FILE")]
    pub(crate) trust_anchor: Option<PathBuf>,
}

/// The gateway configuration file.
#[derive(Debug, Args)]
pub(crate) struct ConfigArg {
    /// The gateway's configuration (mailgate.toml).
    #[arg(long, value_name = "DIR/mailgate.toml")]
    pub(crate) config: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ProcessArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,

    /// Which way the mail travels.
    #[arg(long, value_name = "outbound|inbound", value_parser = parse_direction)]
    pub(crate) direction: rule_engine::Direction,

    /// The envelope sender (empty or `<>` for the null sender of a
    /// bounce). Taken in its canonical form; a refused address exits 2.
    #[arg(long, value_name = "ADDR", value_parser = parse_sender)]
    pub(crate) from: String,

    /// Envelope recipients (repeatable). Each is taken in its canonical form
    /// (`mail_message::Mailbox`: case of the domain, trailing dot, IDNA,
    /// quoting, angle brackets, source route); the percent hack, address
    /// literals and anything that is no address exit 2.
    #[arg(long, required = true, value_name = "ADDR")]
    pub(crate) to: Vec<mail_message::Mailbox>,

    /// Directory for result.json and the message files (created if needed).
    #[arg(long, value_name = "OUT")]
    pub(crate) out_dir: PathBuf,
}

/// The envelope sender in canonical form, or `""` for the null sender.
fn parse_sender(text: &str) -> Result<String, mail_message::MailboxError> {
    match text {
        "" | "<>" => Ok(String::new()),
        address => Ok(mail_message::Mailbox::parse(address)?.as_str().to_owned()),
    }
}

fn parse_direction(text: &str) -> Result<rule_engine::Direction, String> {
    match text {
        "outbound" => Ok(rule_engine::Direction::Outbound),
        "inbound" => Ok(rule_engine::Direction::Inbound),
        _ => Err("expected outbound or inbound".to_owned()),
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// List the certificates in the directory with their trust state.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Only entries in this state.
        #[arg(long, value_name = "trusted|pending|rejected|revoked")]
        state: Option<gateway_facade::store::TrustState>,
    },
    /// Import certificates (PEM/DER X.509, armored or binary OpenPGP) as
    /// trusted: importing is an administrator's decision.
    Import {
        /// The certificate file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Trust a pending (harvested) certificate.
    Approve {
        /// The entry's id, as `certs list` shows it.
        #[arg(value_name = "ID")]
        id: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Refuse a certificate; harvesting it again does not bring it back.
    Reject {
        /// The entry's id, as `certs list` shows it.
        #[arg(value_name = "ID")]
        id: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Import an organisation key: an OpenPGP secret key (armored or
    /// binary), a PKCS#12 bundle, or PEM with the certificate (and chain)
    /// and its private key.
    ///
    /// The key is stored in DATA_DIR/keys encrypted at rest with the
    /// passphrase in the environment variable MAILGATE_KEY_PASSPHRASE (or
    /// the one `key_passphrase_env` in mailgate.toml names); the gateway
    /// signs and decrypts with it from its next start. Exits 0 when stored,
    /// 2 when the file, its passphrase or the address is not usable.
    Import {
        /// The key file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
        /// Name of the environment variable holding the file's passphrase
        /// (PKCS#12 password, encrypted PKCS#8, protected OpenPGP key).
        #[arg(long, value_name = "VAR")]
        pass_env: Option<String>,
        /// The address to use the key for, when it certifies several.
        #[arg(long, value_name = "ADDR")]
        address: Option<String>,
    },
}

/// A duration for `--date-tolerance`: seconds, or a number with `s`, `m`,
/// `h` or `d` (the grammar of `date_tolerance` in `mailgate.toml` too:
/// `mail_message::parse_date_tolerance`).
pub(crate) fn parse_tolerance(text: &str) -> Result<std::time::Duration, String> {
    mail_message::parse_date_tolerance(text).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }
}
