//! `openssl cms` as the real S/MIME peer: it signs, verifies, encrypts to
//! and decrypts what the tests hand it, with the files testkit wrote
//! ([`crate::Identity::write_to`]).
//!
//! Every helper runs in a directory the test owns (relative paths resolve
//! there), feeds the message on standard input and panics, with OpenSSL's
//! standard error, when OpenSSL fails: in a test that is the failure to
//! report. [`cms_decrypts`] is the one that answers a question instead.
//!
//! ```
//! use testkit::{KeyKind, openssl, pki};
//!
//! let dir = tempfile::tempdir()?;
//! let alice = pki().smime("alice@example.org", KeyKind::P256).write_to(dir.path(), "alice")?;
//! let signed = openssl::cms_sign_mail(
//!     dir.path(),
//!     &alice,
//!     &openssl::MailHeaders { from: "alice@example.org", to: "bob@example.net", subject: "Hi" },
//!     b"Content-Type: text/plain\r\n\r\nHello\r\n",
//! );
//! let content = openssl::cms_verify(dir.path(), &alice.root_pem, &signed);
//! assert!(String::from_utf8_lossy(&content).contains("Hello"));
//!
//! let encrypted = openssl::cms_encrypt(dir.path(), &["-aes256"], &[&alice.certificate_pem], &content);
//! let opened = openssl::cms_decrypt(
//!     dir.path(), &alice.certificate_pem, &alice.private_key_pem, &[], &encrypted,
//! );
//! assert!(String::from_utf8_lossy(&opened).contains("Hello"));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::path::Path;

use crate::{IdentityFiles, path_str, peer_output, run_peer_with_input};

/// `openssl cms ARGS` in `dir` with `input` on standard input; its standard
/// output. Panics when OpenSSL fails.
pub fn cms(dir: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut all = vec!["cms"];
    all.extend_from_slice(args);
    run_peer_with_input("openssl", &all, input, dir)
}

/// The header fields `openssl cms -sign` writes above the signed entity
/// (`-from`, `-to`, `-subject`).
#[derive(Debug, Clone, Copy)]
pub struct MailHeaders<'a> {
    /// The `From` field.
    pub from: &'a str,
    /// The `To` field.
    pub to: &'a str,
    /// The `Subject` field.
    pub subject: &'a str,
}

/// A whole S/MIME mail signed by OpenSSL (`openssl cms -sign`, detached,
/// `multipart/signed`) with `signer`'s certificate and key, its chain
/// included, over the MIME entity `content`.
pub fn cms_sign_mail(
    dir: &Path,
    signer: &IdentityFiles,
    headers: &MailHeaders<'_>,
    content: &[u8],
) -> Vec<u8> {
    cms_sign_mail_with(
        dir,
        &signer.certificate_pem,
        &signer.private_key_pem,
        &signer.chain_pem,
        headers,
        content,
    )
}

/// [`cms_sign_mail`] with a certificate, key and chain from files (PEM)
/// that testkit did not make, such as those of an
/// [`OpensslCa`](crate::OpensslCa).
pub fn cms_sign_mail_with(
    dir: &Path,
    certificate: &Path,
    key: &Path,
    chain: &Path,
    headers: &MailHeaders<'_>,
    content: &[u8],
) -> Vec<u8> {
    cms(
        dir,
        &[
            "-sign",
            "-signer",
            path_str(certificate),
            "-inkey",
            path_str(key),
            "-certfile",
            path_str(chain),
            "-from",
            headers.from,
            "-to",
            headers.to,
            "-subject",
            headers.subject,
        ],
        content,
    )
}

/// `openssl cms -verify -CAfile CA_FILE` of a whole S/MIME `message`; the
/// content OpenSSL says was signed. Panics when OpenSSL does not accept the
/// signature.
pub fn cms_verify(dir: &Path, ca_file: &Path, message: &[u8]) -> Vec<u8> {
    cms(dir, &["-verify", "-CAfile", path_str(ca_file)], message)
}

/// `openssl cms -encrypt OPTIONS... RECIPIENTS...` of the MIME `entity`:
/// a whole S/MIME mail (`application/pkcs7-mime`) encrypted to the
/// recipients' certificate files (PEM).
pub fn cms_encrypt(dir: &Path, options: &[&str], recipients: &[&Path], entity: &[u8]) -> Vec<u8> {
    let mut args = vec!["-encrypt"];
    args.extend_from_slice(options);
    args.extend(recipients.iter().map(|path| path_str(path)));
    cms(dir, &args, entity)
}

/// `openssl cms -decrypt -recip CERTIFICATE -inkey KEY OPTIONS...` of a
/// whole S/MIME `message`; the decrypted entity. Panics when OpenSSL cannot
/// decrypt it.
pub fn cms_decrypt(
    dir: &Path,
    certificate: &Path,
    key: &Path,
    options: &[&str],
    message: &[u8],
) -> Vec<u8> {
    let mut args = vec![
        "-decrypt",
        "-recip",
        path_str(certificate),
        "-inkey",
        path_str(key),
    ];
    args.extend_from_slice(options);
    cms(dir, &args, message)
}

/// Whether `openssl cms -decrypt` opens `message` with `recipient`'s
/// certificate and key (a message not encrypted to it is not opened).
pub fn cms_decrypts(dir: &Path, recipient: &IdentityFiles, message: &[u8]) -> bool {
    peer_output(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-recip",
            path_str(&recipient.certificate_pem),
            "-inkey",
            path_str(&recipient.private_key_pem),
        ],
        message,
        dir,
    )
    .status
    .success()
}
