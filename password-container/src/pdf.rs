//! A PDF 2.0 document encrypted with AES-256 (ISO 32000-2, security handler
//! revision 6): the message text on pages, the attachments as embedded
//! files. Every reader since Acrobat X opens it with the password.
//!
//! Written from the standard: a fixed, small object layout, classic
//! cross-reference table, every string and stream encrypted with the file
//! key (AESV3 uses it directly, with a random IV per string or stream).

use aes::cipher::{BlockCipherEncrypt, BlockModeEncrypt, KeyInit, KeyIvInit, block_padding};
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::{Error, hex};

/// What goes into the PDF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PdfContent {
    /// Text lines, already split at line breaks (long lines are wrapped).
    pub text: Vec<String>,
    /// Embedded files.
    pub attachments: Vec<EmbeddedFile>,
}

/// A file embedded in the PDF (an attachment of the mail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedFile {
    /// The file name.
    pub name: String,
    /// Its MIME type, e.g. `application/pdf`.
    pub mime_type: String,
    /// Its content.
    pub data: Vec<u8>,
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(Error::randomness)?;
    Ok(bytes)
}

/// The revision 6 hash (ISO 32000-2, algorithm 2.B).
fn hash_r6(password: &[u8], salt: &[u8], user_key: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut k: Zeroizing<Vec<u8>> = Zeroizing::new(
        Sha256::new()
            .chain_update(password)
            .chain_update(salt)
            .chain_update(user_key)
            .finalize()
            .to_vec(),
    );
    let mut round = 0u32;
    loop {
        let mut k1 = Zeroizing::new(Vec::with_capacity(
            64 * (password.len() + k.len() + user_key.len()),
        ));
        for _ in 0..64 {
            k1.extend_from_slice(password);
            k1.extend_from_slice(&k);
            k1.extend_from_slice(user_key);
        }
        let (key, iv) = k.split_at(16);
        let iv = iv.get(..16).unwrap_or_default();
        let e = match cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv) {
            Ok(cbc) => Zeroizing::new(cbc.encrypt_padded_vec::<block_padding::NoPadding>(&k1)),
            // Unreachable: K is at least 32 bytes. An empty E ends the loop.
            Err(_) => Zeroizing::new(Vec::new()),
        };
        let selector: u32 = e.iter().take(16).map(|&b| u32::from(b)).sum::<u32>() % 3;
        k = Zeroizing::new(match selector {
            0 => Sha256::digest(&*e).to_vec(),
            1 => Sha384::digest(&*e).to_vec(),
            _ => Sha512::digest(&*e).to_vec(),
        });
        round += 1;
        let last = e.last().copied().map_or(0, u32::from);
        if e.is_empty() || (round >= 64 && last <= round - 32) {
            break;
        }
    }
    k.truncate(32);
    k
}

fn aes256_cbc_no_iv(key: &[u8], data: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes256>::new_from_slices(key, &[0u8; 16])
        .map(|c| c.encrypt_padded_vec::<block_padding::NoPadding>(data))
        .unwrap_or_default()
}

/// The encryption dictionary's values and the file key.
struct Security {
    file_key: Zeroizing<[u8; 32]>,
    u: Vec<u8>,
    ue: Vec<u8>,
    o: Vec<u8>,
    oe: Vec<u8>,
    perms: Vec<u8>,
}

/// Permissions: print, copy and extract allowed; reserved bits as the
/// standard demands (bits 7-8 and 13-32 set).
const PERMISSIONS: i32 = -3904 | 0b0001_0001_0100;

impl Security {
    fn new(user_password: &str) -> Result<Security, Error> {
        // SASLprep is the identity on the printable ASCII our generator uses;
        // the standard truncates to 127 bytes.
        let user = user_password
            .as_bytes()
            .get(..127)
            .unwrap_or(user_password.as_bytes());
        // Nobody knows the owner password: the document has no owner.
        let owner = Zeroizing::new(random::<32>()?);
        let file_key = Zeroizing::new(random::<32>()?);

        let [
            user_validation,
            user_key_salt,
            owner_validation,
            owner_key_salt,
        ]: [[u8; 8]; 4] = [random()?, random()?, random()?, random()?];
        let mut u = hash_r6(user, &user_validation, &[]).to_vec();
        u.extend_from_slice(&user_validation);
        u.extend_from_slice(&user_key_salt);
        let ue = aes256_cbc_no_iv(&hash_r6(user, &user_key_salt, &[]), &*file_key);

        let mut o = hash_r6(&*owner, &owner_validation, &u).to_vec();
        o.extend_from_slice(&owner_validation);
        o.extend_from_slice(&owner_key_salt);
        let oe = aes256_cbc_no_iv(&hash_r6(&*owner, &owner_key_salt, &u), &*file_key);

        let mut perms = [0u8; 16];
        perms[..4].copy_from_slice(&PERMISSIONS.to_le_bytes());
        perms[4..8].copy_from_slice(&[0xff; 4]);
        perms[8] = b'T';
        perms[9..12].copy_from_slice(b"adb");
        perms[12..].copy_from_slice(&random::<4>()?);
        let mut block = aes::cipher::Array::from(perms);
        aes::Aes256::new(&(*file_key).into()).encrypt_block(&mut block);

        Ok(Security {
            file_key,
            u,
            ue,
            o,
            oe,
            perms: block.to_vec(),
        })
    }

    /// AESV3: a random IV, then the data in AES-256-CBC with PKCS#7 padding.
    fn encrypt(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let iv = random::<16>()?;
        let mut out = iv.to_vec();
        if let Ok(cbc) = cbc::Encryptor::<aes::Aes256>::new_from_slices(&*self.file_key, &iv) {
            out.extend(cbc.encrypt_padded_vec::<block_padding::Pkcs7>(data));
        }
        Ok(out)
    }

    fn string(&self, text: &[u8]) -> Result<String, Error> {
        Ok(format!("<{}>", hex(&self.encrypt(text)?)))
    }
}

/// A text string as PDF stores it: PDFDocEncoding-compatible ASCII as is,
/// anything else as UTF-16BE with a byte order mark.
fn text_string(text: &str) -> Vec<u8> {
    if text.is_ascii() {
        return text.as_bytes().to_vec();
    }
    let mut out = vec![0xfe, 0xff];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// A character in WinAnsiEncoding (the standard fonts' encoding), or `?`.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        '€' => 0x80,
        '‚' => 0x82,
        '„' => 0x84,
        '…' => 0x85,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '\t' => b' ',
        _ => b'?',
    }
}

/// A literal string for a content stream.
fn literal(line: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for c in line.chars() {
        let b = win_ansi(c);
        if matches!(b, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b')');
    out
}

const LINE_WIDTH: usize = 95;
const LINES_PER_PAGE: usize = 58;

fn wrap(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for line in lines {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            out.push(String::new());
            continue;
        }
        for chunk in chars.chunks(LINE_WIDTH) {
            out.push(chunk.iter().collect());
        }
    }
    out
}

/// Builds the encrypted PDF.
///
/// ```
/// use mailgate_password_container::{PdfContent, encrypted_pdf};
/// let content = PdfContent { text: vec!["Hallo".into()], attachments: vec![] };
/// let pdf = encrypted_pdf(&content, "correct horse battery")?;
/// assert!(pdf.starts_with(b"%PDF-2.0"));
/// assert!(!pdf.windows(5).any(|w| w == b"Hallo"));
/// # Ok::<(), mailgate_password_container::Error>(())
/// ```
pub fn encrypted_pdf(content: &PdfContent, password: &str) -> Result<Vec<u8>, Error> {
    let security = Security::new(password)?;
    let lines = wrap(&content.text);
    let pages: Vec<&[String]> = if lines.is_empty() {
        vec![&[]]
    } else {
        lines.chunks(LINES_PER_PAGE).collect()
    };
    // Object numbers: 1 catalog, 2 page tree, 3 font, 4 encryption
    // dictionary, then per page its page and content objects, then per
    // attachment its file specification and embedded file.
    let first_page = 5;
    let first_file = first_page + 2 * pages.len();
    let mut objects: Vec<Vec<u8>> = vec![
        catalog(&security, &content.attachments, first_file)?,
        page_tree(pages.len(), first_page),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
        encryption_dictionary(&security),
    ];
    for (index, page) in pages.iter().enumerate() {
        let contents = first_page + 2 * index + 1;
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] \
                 /Resources << /Font << /F1 3 0 R >> >> /Contents {contents} 0 R >>"
            )
            .into_bytes(),
        );
        objects.push(page_contents(&security, page)?);
    }
    for attachment in &content.attachments {
        // This file specification is object `objects.len() + 1`; its
        // embedded file follows it.
        let file = objects.len() + 2;
        objects.push(file_specification(&security, &attachment.name, file)?);
        objects.push(embedded_file(&security, attachment)?);
    }
    file_layout(&objects)
}

/// The catalog, with the name tree of the attachments (if any) so a reader
/// lists them.
fn catalog(
    security: &Security,
    attachments: &[EmbeddedFile],
    first_file: usize,
) -> Result<Vec<u8>, Error> {
    let mut names = Vec::new();
    let mut sorted: Vec<(usize, &EmbeddedFile)> = attachments.iter().enumerate().collect();
    // The name tree is sorted by the (unencrypted) names.
    sorted.sort_by_key(|(_, file)| text_string(&file.name));
    for (index, file) in sorted {
        names.push(format!(
            "{} {} 0 R",
            security.string(&text_string(&file.name))?,
            first_file + 2 * index
        ));
    }
    let names = if names.is_empty() {
        String::new()
    } else {
        format!(
            " /Names << /EmbeddedFiles << /Names [{}] >> >> /PageMode /UseAttachments",
            names.join(" ")
        )
    };
    Ok(format!("<< /Type /Catalog /Pages 2 0 R{names} >>").into_bytes())
}

/// The page tree: `count` pages, each page object followed by its
/// contents.
fn page_tree(count: usize, first_page: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..count)
        .map(|i| format!("{} 0 R", first_page + 2 * i))
        .collect();
    format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        count
    )
    .into_bytes()
}

/// The standard security handler's dictionary (AES-256, revision 6).
fn encryption_dictionary(security: &Security) -> Vec<u8> {
    format!(
        "<< /Filter /Standard /V 5 /R 6 /Length 256 \
         /CF << /StdCF << /AuthEvent /DocOpen /CFM /AESV3 /Length 32 >> >> \
         /StmF /StdCF /StrF /StdCF /EncryptMetadata true \
         /O <{}> /U <{}> /OE <{}> /UE <{}> /P {PERMISSIONS} /Perms <{}> >>",
        hex(&security.o),
        hex(&security.u),
        hex(&security.oe),
        hex(&security.ue),
        hex(&security.perms)
    )
    .into_bytes()
}

/// The encrypted content stream of one page: its lines, one under the
/// other.
fn page_contents(security: &Security, page: &[String]) -> Result<Vec<u8>, Error> {
    let mut text = b"BT /F1 10 Tf 13 TL 50 800 Td\n".to_vec();
    for line in page.iter() {
        text.extend(literal(line));
        text.extend_from_slice(b" Tj T*\n");
    }
    text.extend_from_slice(b"ET\n");
    stream(security, "", &text)
}

/// The file specification of an attachment named `name` whose embedded
/// file is object `file`.
fn file_specification(security: &Security, name: &str, file: usize) -> Result<Vec<u8>, Error> {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(format!(
        "<< /Type /Filespec /F {} /UF {} /EF << /F {file} 0 R >> >>",
        security.string(ascii.as_bytes())?,
        security.string(&text_string(name))?
    )
    .into_bytes())
}

/// The embedded file stream of an attachment, its MIME type as subtype.
fn embedded_file(security: &Security, attachment: &EmbeddedFile) -> Result<Vec<u8>, Error> {
    let subtype: String = attachment
        .mime_type
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'+' {
                (b as char).to_string()
            } else {
                format!("#{b:02X}")
            }
        })
        .collect();
    stream(
        security,
        &format!(
            " /Type /EmbeddedFile /Subtype /{subtype} /Params << /Size {} >>",
            attachment.data.len()
        ),
        &attachment.data,
    )
}

/// The file: header, the objects numbered from 1, the cross-reference
/// table and the trailer.
fn file_layout(objects: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
    let mut pdf = b"%PDF-2.0\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", index + 1).as_bytes());
        pdf.extend_from_slice(object);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let id = hex(&random::<16>()?);
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Encrypt 4 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    Ok(pdf)
}

fn stream(security: &Security, entries: &str, data: &[u8]) -> Result<Vec<u8>, Error> {
    let encrypted = security.encrypt(data)?;
    let mut out = format!("<< /Length {}{entries} >>\nstream\n", encrypted.len()).into_bytes();
    out.extend(encrypted);
    out.extend_from_slice(b"\nendstream");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_r6_hash_is_deterministic_and_salted() {
        let a = hash_r6(b"secret", b"12345678", &[]);
        let b = hash_r6(b"secret", b"12345678", &[]);
        let c = hash_r6(b"secret", b"12345679", &[]);
        assert_eq!(a.len(), 32);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn text_is_encoded_for_the_standard_font() {
        assert_eq!(
            literal("Grüße (a\\b) €"),
            b"(Gr\xfc\xdfe \\(a\\\\b\\) \x80)".to_vec()
        );
        assert_eq!(text_string("ä"), vec![0xfe, 0xff, 0x00, 0xe4]);
        assert_eq!(wrap(&["x".repeat(200)]).len(), 3);
    }
}
