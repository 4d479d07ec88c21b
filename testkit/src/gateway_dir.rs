//! A gateway configuration directory for `behoerde.example` over the
//! testkit PKI, as an operator would write it, for tests that build the
//! gateway from its files (`mailgate.toml`) through the library or the
//! `mailgate` binary.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let config = testkit::gateway_dir::write(
//!     dir.path(),
//!     testkit::gateway_dir::CONFIDENTIAL_POLICY,
//!     "smime_anchors = [\"ca.pem\"]\n",
//!     "[revocation]\ninbound = \"prefer\"\n",
//! )?;
//! assert!(std::fs::read_to_string(config)?.contains("[revocation]"));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// A policy for `behoerde.example`: outbound mail tagged `[vertraulich]`
/// must be encrypted with S/MIME (or is blocked, and the sender told);
/// everything else is delivered.
pub const CONFIDENTIAL_POLICY: &str = r#"
[policy]
name = "revocation"
internal_domains = ["behoerde.example"]

[[rules]]
id = "confidential"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { encrypt = "required", methods = ["smime"], fallback = "block", notify_sender = "no-key" }

[default]
then = { deliver = true }
"#;

/// Writes `policy` as `policy.toml`, the testkit intermediate CA (which
/// issues the S/MIME certificates) as `ca.pem`, the root as `root.pem`, and
/// `mailgate.toml` with the data directory `data`, the postmaster of
/// `behoerde.example`, `trust` as the `[trust]` section's body and
/// `sections` after it (`[revocation]`, say). Returns the path of
/// `mailgate.toml`.
pub fn write(dir: &Path, policy: &str, trust: &str, sections: &str) -> io::Result<PathBuf> {
    std::fs::write(dir.join("policy.toml"), policy)?;
    std::fs::write(
        dir.join("ca.pem"),
        crate::pki().intermediate().certificate_pem(),
    )?;
    std::fs::write(dir.join("root.pem"), crate::pki().root().certificate_pem())?;
    let config = dir.join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\npolicy = \"policy.toml\"\ndata_dir = \"data\"\n\
             postmaster = \"postmaster@behoerde.example\"\n\
             [trust]\n{trust}{sections}"
        ),
    )?;
    Ok(config)
}
