//! A message read from a stream with its large binary bodies left out, so
//! that rules can be evaluated on mail of any size in bounded memory.
//!
//! What is left out is chosen so that the parse cannot see anything else
//! in it: only the body of a leaf part whose own header (as
//! [`mail_message::MessageTree`] reads it: the same [`Entity`] and
//! [`ContentType`]) says it is base64-encoded and neither text nor a
//! message nor a multipart, and of that body only lines made of base64
//! characters and white space. Such a line can be neither a boundary (those
//! start with `--`) nor a header field, so the structure the tree finds in
//! the reduced message is the structure of the whole message, and every
//! text part and every header is kept verbatim. The decoded sizes of the
//! left-out bodies are recorded for attachment conditions. (The
//! `policy_view` fuzz target checks that both readings agree.)

use std::io::{self, BufRead, BufReader, Read};

use mail_message::{ContentType, Entity};

/// The longest piece of a line handled at once; longer lines are handled
/// in pieces (none of which can be a boundary line).
const MAX_PIECE: usize = 64 * 1024;

/// Where the reduced message lacks a body, and how large it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elided {
    /// Offset in the reduced message where the left-out lines were.
    pub(crate) at: usize,
    /// Raw bytes left out.
    pub(crate) raw: u64,
    /// Their decoded size (base64: three bytes per four characters).
    pub(crate) decoded: u64,
}

/// The message with its large binary bodies left out.
#[derive(Debug, Default)]
pub(crate) struct Reduced {
    /// The kept bytes, at most the limit given.
    pub(crate) bytes: Vec<u8>,
    /// The bodies left out, in message order.
    pub(crate) elided: Vec<Elided>,
    /// The size of the whole message.
    pub(crate) size: u64,
    /// Whether every byte that was not left out fit under the limit (if not,
    /// `bytes` ends early and conditions on content cannot be decided).
    pub(crate) complete: bool,
}

/// What the lines being read belong to.
enum State {
    /// The header of an entity: collected until the empty line.
    Header { start: usize },
    /// A body kept verbatim (text, preamble, epilogue, unusual encodings).
    Verbatim,
    /// A base64 body of a binary leaf: lines left out while they are
    /// base64.
    Elidable(Dropping),
}

/// A body being left out.
struct Dropping {
    /// Where it was, in the reduced message.
    at: usize,
    /// Raw bytes left out so far.
    raw: u64,
    /// Base64 characters so far.
    characters: u64,
    /// Padding characters (`=`) seen: base64 ends with them.
    padding: u64,
    /// The first [`HOLD`] bytes left out, kept until the body is known to
    /// be clean base64: if it is not, they go back into the message, so the
    /// parser sees exactly what it would have seen.
    held: Vec<u8>,
}

/// How much of a dropped body is held back until it proves to be base64.
const HOLD: usize = 64 * 1024;

impl Dropping {
    /// Takes `line` if it continues clean base64.
    fn take(&mut self, line: &[u8]) -> bool {
        let mut characters = 0u64;
        let mut padding = self.padding;
        for &b in line {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if padding == 0 => {
                    characters += 1;
                }
                b'=' => padding += 1,
                b' ' | b'\t' | b'\r' | b'\n' => {}
                _ => return false,
            }
        }
        self.characters += characters;
        self.padding = padding;
        self.raw += line.len() as u64;
        if self.held.len() + line.len() <= HOLD {
            self.held.extend_from_slice(line);
        }
        true
    }

    /// Whether every byte left out is still held.
    fn all_held(&self) -> bool {
        self.held.len() as u64 == self.raw
    }

    /// Whether the body is base64 in whole quanta, padded as RFC 4648
    /// says (decoders differ on what they make of anything else).
    fn clean(&self) -> bool {
        (self.characters + self.padding).is_multiple_of(4)
            && self.padding <= 2
            && (self.padding == 0 || self.characters % 4 == 4 - self.padding)
    }

    /// The decoded size: six bits per character, whole bytes.
    fn decoded(&self) -> u64 {
        self.characters * 3 / 4
    }
}

/// Reads `reader` to its end, keeping at most `limit` bytes.
pub(crate) fn reduce(reader: impl Read, limit: usize) -> io::Result<Reduced> {
    let mut reader = BufReader::with_capacity(MAX_PIECE, reader);
    let mut out = Reduced {
        complete: true,
        ..Reduced::default()
    };
    let mut boundaries: Vec<Vec<u8>> = Vec::new();
    let mut messages = 0usize;
    let mut state = State::Header { start: 0 };
    let mut line = Vec::with_capacity(1024);
    let mut at_line_start = true;
    loop {
        line.clear();
        let whole = read_piece(&mut reader, &mut line)?;
        if line.is_empty() {
            break;
        }
        out.size += line.len() as u64;
        let starts_line = at_line_start;
        at_line_start = whole;
        if !out.complete {
            continue;
        }
        // A boundary line ends whatever body or header it is in.
        if starts_line
            && whole
            && let Some((depth, closing)) = boundary(&line, &boundaries)
        {
            finish(&mut out, &mut state, limit, true);
            boundaries.truncate(depth + 1);
            if closing {
                boundaries.pop();
            }
            keep(&mut out, &line, limit);
            state = if closing {
                State::Verbatim
            } else {
                State::Header {
                    start: out.bytes.len(),
                }
            };
            continue;
        }
        match &mut state {
            State::Header { start } => {
                let start = *start;
                keep(&mut out, &line, limit);
                if starts_line && whole && (line == b"\r\n" || line == b"\n") {
                    let header = out.bytes.get(start..).unwrap_or_default();
                    state = body_state(header, &mut boundaries, &mut messages, out.bytes.len());
                }
            }
            State::Verbatim => keep(&mut out, &line, limit),
            State::Elidable(dropping) => {
                if !dropping.take(&line) {
                    // Not base64 after all: parsers see this body as it is,
                    // which only the held bytes can give back.
                    if dropping.all_held() {
                        let held = std::mem::take(&mut dropping.held);
                        state = State::Verbatim;
                        keep(&mut out, &held, limit);
                        keep(&mut out, &line, limit);
                    } else {
                        out.complete = false;
                    }
                }
            }
        }
    }
    // A body inside a multipart that ends with the input, not with a
    // boundary, is one mail-parser reads as it is (an encoding problem):
    // it must not have been dropped.
    let terminated = boundaries.is_empty();
    finish(&mut out, &mut state, limit, terminated);
    Ok(out)
}

/// Reads one line, or the next [`MAX_PIECE`] bytes of a longer one; true if
/// the piece ends the line.
fn read_piece(reader: &mut impl BufRead, piece: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(true);
        }
        let room = MAX_PIECE.saturating_sub(piece.len());
        let window = available
            .get(..room.min(available.len()))
            .unwrap_or_default();
        if let Some(end) = window.iter().position(|&b| b == b'\n') {
            piece.extend_from_slice(window.get(..=end).unwrap_or_default());
            reader.consume(end + 1);
            return Ok(true);
        }
        let taken = window.len();
        piece.extend_from_slice(window);
        reader.consume(taken);
        if piece.len() >= MAX_PIECE {
            return Ok(false);
        }
    }
}

/// Appends `bytes` to the reduced message, or marks it incomplete.
fn keep(out: &mut Reduced, bytes: &[u8], limit: usize) {
    if out.bytes.len() + bytes.len() > limit {
        out.complete = false;
        return;
    }
    out.bytes.extend_from_slice(bytes);
}

/// Records the body being left out, if any, at its end (`terminated`: by a
/// boundary, or by the end of a message that is no multipart).
fn finish(out: &mut Reduced, state: &mut State, limit: usize, terminated: bool) {
    if let State::Elidable(dropping) = state
        && dropping.raw > 0
    {
        if terminated && dropping.clean() {
            out.elided.push(Elided {
                at: dropping.at,
                raw: dropping.raw,
                decoded: dropping.decoded(),
            });
        } else if dropping.all_held() {
            let held = std::mem::take(&mut dropping.held);
            keep(out, &held, limit);
        } else {
            out.complete = false;
        }
    }
    *state = State::Verbatim;
}

/// Whether `line` is a delimiter of one of the open multiparts: its depth
/// and whether it closes that multipart. The innermost match wins, as in
/// `mail-parser`.
fn boundary(line: &[u8], boundaries: &[Vec<u8>]) -> Option<(usize, bool)> {
    let rest = line.strip_prefix(b"--")?;
    let rest = trim_end(rest);
    boundaries.iter().enumerate().rev().find_map(|(depth, b)| {
        let after = rest.strip_prefix(b.as_slice())?;
        match after {
            b"" => Some((depth, false)),
            b"--" => Some((depth, true)),
            _ => None,
        }
    })
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b" \t\r\n".contains(b))
        .map_or(0, |p| p + 1);
    bytes.get(..end).unwrap_or_default()
}

/// Beyond this many open multiparts and forwarded messages nothing is left
/// out: the tree stops descending at [`mail_message::MAX_DEPTH`] and reads
/// what is below as one leaf, whose size must then be the whole.
const MAX_ELIDING_DEPTH: usize = 16;

/// How to read the body that follows `header` (which ends at offset `at`
/// of the reduced message), as [`mail_message::MessageTree`] reads that
/// header.
fn body_state(
    header: &[u8],
    boundaries: &mut Vec<Vec<u8>>,
    messages: &mut usize,
    at: usize,
) -> State {
    let Ok(entity) = Entity::parse(header) else {
        // The tree reads such an entity as one text leaf.
        return State::Verbatim;
    };
    // Absent: text/plain. Malformed or repeated: the tree reads a text
    // leaf; kept either way.
    let Ok(content_type) = entity.content_type() else {
        return State::Verbatim;
    };
    let encoding = entity.transfer_encoding();
    // The same decisions as the tree's, so both read the part alike.
    if content_type.is_multipart() {
        if let Some(boundary) = content_type.parameter("boundary") {
            boundaries.push(boundary.as_bytes().to_vec());
        }
        return State::Verbatim;
    }
    if is_text(&content_type) {
        return State::Verbatim;
    }
    if matches!(
        content_type.mime_type(),
        "message/rfc822" | "message/global"
    ) {
        // A forwarded message is parsed as one: its parts are read the
        // same way, unless it is encoded (then it is one leaf, kept).
        if matches!(encoding.as_str(), "7bit" | "8bit" | "binary") {
            *messages += 1;
            return State::Header { start: at };
        }
        return State::Verbatim;
    }
    if encoding != "base64" || boundaries.len() + *messages >= MAX_ELIDING_DEPTH {
        return State::Verbatim;
    }
    State::Elidable(Dropping {
        at,
        raw: 0,
        characters: 0,
        padding: 0,
        held: Vec::new(),
    })
}

fn is_text(content_type: &ContentType) -> bool {
    content_type.mime_type().starts_with("text/")
}
