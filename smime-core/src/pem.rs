//! Finding PEM blocks (RFC 7468) in files as people actually keep them.
//!
//! Certificate files in the wild carry text around the blocks (`openssl x509
//! -text` output, `subject=` lines, comments in CA bundles), several blocks of
//! different kinds, CRLF line endings, and base64 wrapped at widths other than
//! 64. RFC 7468 section 2 asks parsers to ignore text outside the
//! encapsulation boundaries and to be lax about whitespace, so this scanner is.

use base64ct::{Base64, Encoding};

const BEGIN: &[u8] = b"-----BEGIN ";
const DASHES: &[u8] = b"-----";

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PemBlock {
    /// The label between `BEGIN ` and the dashes, such as `CERTIFICATE`.
    pub(crate) label: String,
    /// The decoded payload.
    pub(crate) contents: Vec<u8>,
}

/// Why a PEM block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// A `-----BEGIN` line without a well-formed label.
    #[error("PEM block {block}: malformed BEGIN line")]
    MalformedBegin {
        /// 1-based number of the block in the input.
        block: usize,
    },
    /// No matching `-----END LABEL-----` line.
    #[error("PEM block {block} ({label}): no matching END line")]
    Unterminated {
        /// 1-based number of the block in the input.
        block: usize,
        /// The label of the BEGIN line.
        label: String,
    },
    /// The text between the boundaries is not base64.
    #[error("PEM block {block} ({label}): the body is not valid base64")]
    Base64 {
        /// 1-based number of the block in the input.
        block: usize,
        /// The label of the BEGIN line.
        label: String,
    },
}

/// Whether `input` looks like PEM rather than binary DER.
pub(crate) fn is_pem(input: &[u8]) -> bool {
    find(input, BEGIN).is_some()
}

/// Decodes every PEM block in `input`, in order.
pub(crate) fn blocks(input: &[u8]) -> Result<Vec<PemBlock>, PemError> {
    let mut found = Vec::new();
    let mut rest = input;
    while let Some(start) = find(rest, BEGIN) {
        let block = found.len() + 1;
        let after_begin = rest.get(start + BEGIN.len()..).unwrap_or_default();
        let label_end = find(after_begin, DASHES).ok_or(PemError::MalformedBegin { block })?;
        let label = after_begin.get(..label_end).unwrap_or_default();
        if label.is_empty() || !label.iter().all(|&b| b.is_ascii_graphic() || b == b' ') {
            return Err(PemError::MalformedBegin { block });
        }
        let label = String::from_utf8_lossy(label).into_owned();
        let body_start = label_end + DASHES.len();
        let body_and_rest = after_begin.get(body_start..).unwrap_or_default();
        let end_marker = format!("-----END {label}-----");
        let body_end =
            find(body_and_rest, end_marker.as_bytes()).ok_or_else(|| PemError::Unterminated {
                block,
                label: label.clone(),
            })?;
        let body = body_and_rest.get(..body_end).unwrap_or_default();
        let compact: Vec<u8> = body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let contents = Base64::decode_vec(&String::from_utf8_lossy(&compact)).map_err(|_| {
            PemError::Base64 {
                block,
                label: label.clone(),
            }
        })?;
        found.push(PemBlock { label, contents });
        rest = body_and_rest
            .get(body_end + end_marker.len()..)
            .unwrap_or_default();
    }
    Ok(found)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_among_text_with_crlf_and_odd_widths() {
        let input = b"subject=CN=x\r\n-----BEGIN CERTIFICATE-----\r\nAAEC\r\nAwQF\r\n-----END CERTIFICATE-----\r\n# comment\n-----BEGIN PRIVATE KEY-----\nBgcI\n-----END PRIVATE KEY-----\n";
        let blocks = blocks(input).unwrap();
        assert_eq!(
            blocks,
            vec![
                PemBlock {
                    label: "CERTIFICATE".into(),
                    contents: vec![0, 1, 2, 3, 4, 5]
                },
                PemBlock {
                    label: "PRIVATE KEY".into(),
                    contents: vec![6, 7, 8]
                },
            ]
        );
    }

    #[test]
    fn reports_unterminated_and_bad_base64_blocks() {
        assert_eq!(
            blocks(b"-----BEGIN CERTIFICATE-----\nAAEC\n"),
            Err(PemError::Unterminated {
                block: 1,
                label: "CERTIFICATE".into()
            })
        );
        assert_eq!(
            blocks(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----"),
            Err(PemError::Base64 {
                block: 1,
                label: "CERTIFICATE".into()
            })
        );
        assert_eq!(
            blocks(b"-----BEGIN \x01-----"),
            Err(PemError::MalformedBegin { block: 1 })
        );
    }

    #[test]
    fn mismatched_end_label_is_unterminated() {
        assert!(matches!(
            blocks(b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END X509 CRL-----\n"),
            Err(PemError::Unterminated { .. })
        ));
    }
}
