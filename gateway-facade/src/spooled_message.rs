//! Messages that live in memory while small and in a temporary file once
//! large, so that the gateway's memory does not grow with the mail it
//! handles.
//!
//! The temporary files hold mail in clear (decrypted inbound mail, the input
//! before encryption) and have no name: `O_TMPFILE` (or a file unlinked as
//! soon as it is created, mode `0600`, where the file system cannot do
//! that) in `$TMPDIR`. Nobody else can open them, and when the process dies,
//! by `kill -9` too, the kernel frees them: nothing is left behind in
//! `$TMPDIR`, nothing accumulates there over crashes.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Cursor, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

/// How much of a spooled message the rule engine may hold (headers, text
/// parts and structure; binary attachments are measured, not held).
const RULE_READ_LIMIT: usize = 8 * 1024 * 1024;

/// Messages up to this size are kept in memory; larger ones are spooled to
/// an unnamed temporary file (freed when the last handle is dropped or the
/// process ends).
pub const IN_MEMORY_LIMIT: usize = 4 * 1024 * 1024;

/// A whole message (header and body): in memory, or in a temporary file.
///
/// Cloning is cheap (a spooled file is shared, not copied).
///
/// ```
/// use std::io::Read;
/// use gateway_facade::SpooledMessage;
///
/// let message = SpooledMessage::read_from(&b"Subject: hi\r\n\r\nbody\r\n"[..])?;
/// assert_eq!(message.len(), 21);
/// assert_eq!(message.in_memory(), Some(&b"Subject: hi\r\n\r\nbody\r\n"[..]));
/// let mut copy = Vec::new();
/// message.reader()?.read_to_end(&mut copy)?;
/// assert_eq!(copy, message.to_vec()?);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct SpooledMessage {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Memory(Arc<[u8]>),
    File { file: Arc<File>, len: u64 },
}

/// A new temporary file without a name in `$TMPDIR` (see the module
/// documentation).
fn unnamed_file() -> io::Result<File> {
    mail_message::stream::private_tempfile()
}

/// A second handle on an unnamed file with an offset of its own (steps read
/// the same spool file twice, and several readers may be open at once).
///
/// The file has no name to open again: Linux opens what a descriptor refers
/// to through `/proc/self/fd`, with the permissions of the file (0600, our
/// own user). A duplicated descriptor would share the offset.
fn reopen(file: &File) -> io::Result<File> {
    let again = File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let (old, new) = (file.metadata()?, again.metadata()?);
    if (old.dev(), old.ino()) != (new.dev(), new.ino()) {
        return Err(io::Error::other(
            "/proc/self/fd did not reopen the spool file (is /proc mounted?)",
        ));
    }
    Ok(again)
}

impl SpooledMessage {
    /// Reads `input` to its end: into memory up to [`IN_MEMORY_LIMIT`],
    /// into a temporary file beyond.
    pub fn read_from(input: impl Read) -> io::Result<SpooledMessage> {
        let mut input = input;
        let mut head = Vec::new();
        (&mut input)
            .take(IN_MEMORY_LIMIT as u64 + 1)
            .read_to_end(&mut head)?;
        if head.len() <= IN_MEMORY_LIMIT {
            return Ok(SpooledMessage::from(head));
        }
        SpooledMessage::spool(|file| {
            file.write_all(&head)?;
            io::copy(&mut input, file)?;
            Ok(())
        })
    }

    /// Reads `input` to its end into a temporary file, whatever its size
    /// (for callers that know the mail is large, and to exercise the
    /// streaming path with small mail).
    ///
    /// ```
    /// use gateway_facade::SpooledMessage;
    /// let message = SpooledMessage::read_to_file(&b"Subject: hi\r\n\r\nbody\r\n"[..])?;
    /// assert!(message.in_memory().is_none());
    /// assert_eq!(message.to_vec()?, b"Subject: hi\r\n\r\nbody\r\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_to_file(mut input: impl Read) -> io::Result<SpooledMessage> {
        SpooledMessage::spool(|file| {
            io::copy(&mut input, file)?;
            Ok(())
        })
    }

    /// Writes a message into a new temporary file with `write`.
    pub(crate) fn spool<E: From<io::Error>>(
        write: impl FnOnce(&mut BufWriter<&File>) -> Result<(), E>,
    ) -> Result<SpooledMessage, E> {
        let file = unnamed_file()?;
        let mut writer = BufWriter::with_capacity(64 * 1024, &file);
        write(&mut writer)?;
        writer.flush()?;
        drop(writer);
        let len = file.metadata()?.len();
        Ok(SpooledMessage {
            repr: Repr::File {
                file: Arc::new(file),
                len,
            },
        })
    }

    /// Runs one processing step on the message: on its bytes when it is in
    /// memory (small mail: no file system work), else streaming from its
    /// spool file (its own handle, at the start: a step can read it twice)
    /// into a new one, so memory does not grow with the message.
    pub(crate) fn pipe<E>(
        &self,
        in_memory: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
        streaming: impl FnOnce(&mut File, &mut BufWriter<&File>) -> Result<(), E>,
    ) -> Result<SpooledMessage, PipeError<E>> {
        let file = match &self.repr {
            Repr::Memory(bytes) => {
                return in_memory(bytes)
                    .map(SpooledMessage::from)
                    .map_err(PipeError::Step);
            }
            Repr::File { file, .. } => file,
        };
        let mut input = reopen(file).map_err(PipeError::Spool)?;
        SpooledMessage::spool(|output| streaming(&mut input, output).map_err(PipeError::Step))
    }

    /// What the policy sees of the message: parsed in memory, or read as a
    /// stream from its spool file (see [`rule_engine::Message::read_from`]).
    pub(crate) fn summary(&self) -> io::Result<rule_engine::Message> {
        match self.in_memory() {
            Some(bytes) => Ok(rule_engine::Message::parse(bytes)),
            None => rule_engine::Message::read_from(self.reader()?, RULE_READ_LIMIT),
        }
    }

    /// The size in bytes.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Memory(bytes) => bytes.len() as u64,
            Repr::File { len, .. } => *len,
        }
    }

    /// Whether the message has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, if the message is held in memory.
    pub fn in_memory(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Memory(bytes) => Some(bytes),
            Repr::File { .. } => None,
        }
    }

    /// A reader from the first byte (each call starts anew).
    pub fn reader(&self) -> io::Result<Box<dyn Read + Send + Sync + '_>> {
        Ok(match &self.repr {
            Repr::Memory(bytes) => Box::new(Cursor::new(&bytes[..])),
            Repr::File { file, .. } => {
                Box::new(io::BufReader::with_capacity(64 * 1024, reopen(file)?))
            }
        })
    }

    /// Copies the message to `output`; returns the bytes written.
    pub fn write_to(&self, mut output: impl Write) -> io::Result<u64> {
        match &self.repr {
            Repr::Memory(bytes) => {
                output.write_all(bytes)?;
                Ok(bytes.len() as u64)
            }
            Repr::File { file, .. } => io::copy(&mut reopen(file)?, &mut output),
        }
    }

    /// The whole message in memory (for small messages, tests, and
    /// interfaces that take a buffer).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        match &self.repr {
            Repr::Memory(bytes) => Ok(bytes.to_vec()),
            Repr::File { len, .. } => {
                // Sized once: growing would leave copies of the mail in
                // freed memory.
                let mut bytes = Vec::with_capacity(usize::try_from(*len).unwrap_or(0));
                self.write_to(&mut bytes)?;
                Ok(bytes)
            }
        }
    }
}

/// Why [`SpooledMessage::pipe`] failed.
#[derive(Debug)]
pub(crate) enum PipeError<E> {
    /// The step itself.
    Step(E),
    /// The spool file could not be written or read.
    Spool(io::Error),
}

impl<E> From<io::Error> for PipeError<E> {
    fn from(error: io::Error) -> Self {
        PipeError::Spool(error)
    }
}

impl From<Vec<u8>> for SpooledMessage {
    fn from(bytes: Vec<u8>) -> SpooledMessage {
        SpooledMessage {
            repr: Repr::Memory(bytes.into()),
        }
    }
}

impl fmt::Debug for SpooledMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = match &self.repr {
            Repr::Memory(_) => "memory",
            Repr::File { .. } => "file",
        };
        f.debug_struct("SpooledMessage")
            .field("len", &self.len())
            .field("in", &place)
            .finish()
    }
}

/// Equal when the bytes are equal (a spooled file is read to compare; a
/// file that cannot be read is equal to nothing).
impl PartialEq for SpooledMessage {
    fn eq(&self, other: &SpooledMessage) -> bool {
        if self.len() != other.len() {
            return false;
        }
        match (self.to_vec(), other.to_vec()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn spool_file(message: &SpooledMessage) -> &File {
        match &message.repr {
            Repr::File { file, .. } => file,
            Repr::Memory(_) => panic!("not spooled"),
        }
    }

    #[test]
    fn a_spooled_message_has_no_name_and_is_private() {
        let body = vec![b'x'; IN_MEMORY_LIMIT + 10];
        let message = SpooledMessage::read_from(&body[..]).unwrap();
        let metadata = spool_file(&message).metadata().unwrap();
        // No link anywhere in a directory: nothing for kill -9 to leave.
        assert_eq!(metadata.nlink(), 0);
        assert_eq!(metadata.permissions().mode() & 0o077, 0);
        assert_eq!(message.len(), body.len() as u64);
    }

    #[test]
    fn readers_of_an_unnamed_file_have_their_own_offsets() {
        let message = SpooledMessage::read_to_file(&b"0123456789"[..]).unwrap();
        let mut first = message.reader().unwrap();
        let mut second = message.reader().unwrap();
        let mut four = [0u8; 4];
        first.read_exact(&mut four).unwrap();
        assert_eq!(&four, b"0123");
        let mut all = Vec::new();
        second.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"0123456789");
        let mut rest = Vec::new();
        first.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"456789");
        let piped = message
            .pipe::<io::Error>(
                |_| unreachable!("spooled"),
                |input, output| {
                    let mut twice = Vec::new();
                    input.read_to_end(&mut twice)?;
                    output.write_all(&twice)?;
                    output.write_all(&twice)?;
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(piped.to_vec().unwrap(), b"01234567890123456789");
    }
}
