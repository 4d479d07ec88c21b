//! Work on a second core: a writer that moves its work to a worker thread
//! once there is enough of it (a streaming signer hashes a large entity on
//! one core while the other reads, canonicalises and spools it), and a
//! producer that runs on a worker while the caller's thread writes what it
//! produces (an encryptor encrypts on one core while the other encodes the
//! ciphertext and writes it out).

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

/// Bytes handed over at a time.
const CHUNK: usize = 256 * 1024;
/// Chunks on their way to the worker; with the one being filled and the one
/// being written, at most `(IN_FLIGHT + 2) * CHUNK` bytes are held.
const IN_FLIGHT: usize = 4;
/// Up to this much the caller's thread writes itself: for a small entity a
/// thread costs more than it saves.
const INLINE_LIMIT: usize = 1024 * 1024;

/// Writes to `W` on the caller's thread for the first MiB, then on a
/// thread of `scope`, in chunks of 256 KiB with at most four in flight (so
/// at most 1.5 MiB are held). [`BackgroundWriter::finish`] waits for the
/// worker and gives `W` back, or the first error it met.
///
/// ```
/// use std::io::Write;
/// use mail_message::stream::BackgroundWriter;
///
/// let data = vec![b'x'; 3 * 1024 * 1024];
/// let written = std::thread::scope(|scope| {
///     let mut writer = BackgroundWriter::new(scope, Vec::new());
///     writer.write_all(&data)?;
///     writer.finish()
/// })?;
/// assert_eq!(written, data);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct BackgroundWriter<'scope, 'env, W: Write + Send + 'scope> {
    scope: &'scope Scope<'scope, 'env>,
    state: State<'scope, W>,
    inline_written: usize,
}

enum State<'scope, W> {
    Inline(W),
    Worker {
        chunks: ChunkSender,
        handle: ScopedJoinHandle<'scope, io::Result<W>>,
    },
    /// Only while the writer moves to a worker that could not be started.
    Gone,
}

impl<'scope, 'env, W: Write + Send + 'scope> BackgroundWriter<'scope, 'env, W> {
    /// Wraps `inner`; a worker of `scope` takes it over once the first MiB
    /// has been written.
    pub fn new(scope: &'scope Scope<'scope, 'env>, inner: W) -> Self {
        BackgroundWriter {
            scope,
            state: State::Inline(inner),
            inline_written: 0,
        }
    }

    /// Waits until everything written has reached `W`, and returns it.
    pub fn finish(self) -> io::Result<W> {
        match self.state {
            State::Inline(inner) => Ok(inner),
            State::Worker { mut chunks, handle } => {
                // An error here is the worker's, reported by the join.
                let _ = chunks.send();
                drop(chunks);
                handle
                    .join()
                    .map_err(|_| io::Error::other("the background writer panicked"))?
            }
            State::Gone => Err(io::Error::other(
                "the background writer could not be started",
            )),
        }
    }

    fn start_worker(&mut self) -> io::Result<()> {
        let State::Inline(mut inner) = std::mem::replace(&mut self.state, State::Gone) else {
            return Ok(());
        };
        let (chunks, received) = chunk_channel();
        let handle = std::thread::Builder::new()
            .name("mailgate-hash".to_owned())
            .spawn_scoped(self.scope, move || {
                received.write_to(&mut inner)?;
                inner.flush()?;
                Ok(inner)
            })?;
        self.state = State::Worker { chunks, handle };
        Ok(())
    }
}

impl<'scope, W: Write + Send + 'scope> Write for BackgroundWriter<'scope, '_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let State::Inline(inner) = &mut self.state {
            if self.inline_written < INLINE_LIMIT {
                let written = inner.write(buf)?;
                self.inline_written += written;
                return Ok(written);
            }
            self.start_worker()?;
        }
        match &mut self.state {
            // A failed send means the worker stopped on an error, which
            // `finish` reports.
            State::Worker { chunks, .. } => chunks.write(buf),
            State::Inline(_) | State::Gone => Err(io::Error::other(
                "the background writer could not be started",
            )),
        }
    }

    /// Buffered chunks go on to the worker at [`BackgroundWriter::finish`];
    /// flushing here would only make them smaller.
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.state {
            State::Inline(inner) => inner.flush(),
            State::Worker { .. } | State::Gone => Ok(()),
        }
    }
}

/// Runs `produce` on a worker thread and writes what it writes to `output`
/// on the calling thread, in chunks of 256 KiB with at most four in flight,
/// so the two run on two cores and at most 1.5 MiB are held. `output` need
/// not be `Send`.
///
/// The outer result is the pipeline's: an error writing to `output` (the
/// producer's writes then fail, and its own error is dropped), or a
/// producer that panicked. The inner one is what `produce` returned.
///
/// ```
/// use std::io::Write;
/// use mail_message::stream::produce_on_worker;
///
/// let mut output = Vec::new();
/// let produced = produce_on_worker(
///     |sink| {
///         for line in 0..100_000 {
///             writeln!(sink, "line {line}")?;
///         }
///         Ok::<_, std::io::Error>(100_000)
///     },
///     &mut output,
/// )??;
/// assert_eq!(produced, 100_000);
/// assert!(output.ends_with(b"line 99999\n"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn produce_on_worker<T: Send, E: Send>(
    produce: impl FnOnce(&mut dyn Write) -> Result<T, E> + Send,
    output: &mut dyn Write,
) -> io::Result<Result<T, E>> {
    let (mut chunks, received) = chunk_channel();
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("mailgate-produce".to_owned())
            .spawn_scoped(scope, move || {
                let produced = produce(&mut chunks);
                // The last, partial chunk; a failure to send it means the
                // caller's side failed, which it reports.
                let _ = chunks.send();
                produced
            })?;
        // On an error the receiver is dropped, and the producer's sends
        // fail from there on.
        let written = received.write_to(output);
        let produced = worker
            .join()
            .map_err(|_| io::Error::other("the producer panicked"))?;
        written.map(|()| produced)
    })
}

/// A channel of chunks between two threads: at most [`IN_FLIGHT`] full
/// ones on their way, written ones coming back for reuse.
fn chunk_channel() -> (ChunkSender, ChunkReceiver) {
    let (full, received) = sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (recycle, empty) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
    (
        ChunkSender {
            chunk: Vec::with_capacity(CHUNK),
            full,
            empty,
        },
        ChunkReceiver { received, recycle },
    )
}

/// The sending end of [`chunk_channel`]: fills a chunk, sends it when full
/// (and the last one at [`ChunkSender::send`]).
struct ChunkSender {
    chunk: Vec<u8>,
    full: SyncSender<Vec<u8>>,
    empty: Receiver<Vec<u8>>,
}

impl ChunkSender {
    /// Sends the chunk being filled, if it holds anything.
    fn send(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.chunk, next);
        self.full
            .send(full)
            .map_err(|_| io::Error::other("the other end of the background channel stopped"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK.saturating_sub(self.chunk.len());
        let taken = buf.get(..room.min(buf.len())).unwrap_or_default();
        self.chunk.extend_from_slice(taken);
        if self.chunk.len() >= CHUNK {
            self.send()?;
        }
        Ok(taken.len())
    }

    /// Chunks go out when full or at [`ChunkSender::send`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The receiving end of [`chunk_channel`].
struct ChunkReceiver {
    received: Receiver<Vec<u8>>,
    recycle: SyncSender<Vec<u8>>,
}

impl ChunkReceiver {
    /// Writes every chunk to `output` until the sender is gone; stops at
    /// the first error (and the sender's next send fails).
    fn write_to(self, output: &mut dyn Write) -> io::Result<()> {
        for mut chunk in self.received {
            output.write_all(&chunk)?;
            chunk.clear();
            // The sender may be gone already.
            let _ = self.recycle.try_send(chunk);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn everything_written_arrives_in_order() {
        for size in [
            0,
            10,
            INLINE_LIMIT,
            INLINE_LIMIT + 1,
            3 * INLINE_LIMIT + 12_345,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let received = std::thread::scope(|scope| {
                let mut writer = BackgroundWriter::new(scope, Vec::new());
                // Uneven writes, crossing chunk and inline limits.
                for piece in data.chunks(70_001) {
                    writer.write_all(piece).unwrap();
                }
                writer.finish().unwrap()
            });
            assert_eq!(received.len(), data.len(), "size {size}");
            assert!(received == data, "size {size}");
        }
    }

    /// A writer that fails after a number of bytes.
    struct Failing(usize);

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 < buf.len() {
                return Err(io::Error::other("disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn produced_data_arrives_in_order_and_errors_are_told_apart() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let mut output = Vec::new();
        let produced = produce_on_worker(
            |sink| {
                for piece in data.chunks(70_001) {
                    sink.write_all(piece)?;
                }
                Ok::<_, io::Error>("done")
            },
            &mut output,
        );
        assert_eq!(produced.unwrap().unwrap(), "done");
        assert!(output == data);

        // The producer's own failure is the inner result.
        let failed = produce_on_worker(|_| Err::<(), _>("no key"), &mut Vec::new());
        assert_eq!(failed.unwrap(), Err("no key"));

        // A failing output is the outer one; the producer stops.
        let mut full = Failing(CHUNK);
        let outcome = produce_on_worker(
            |sink| -> io::Result<()> {
                loop {
                    sink.write_all(&[0u8; 4096])?;
                }
            },
            &mut full,
        );
        assert_eq!(outcome.unwrap_err().to_string(), "disk full");
    }

    #[test]
    fn the_workers_error_is_reported() {
        let error = std::thread::scope(|scope| {
            let mut writer = BackgroundWriter::new(scope, Failing(2 * INLINE_LIMIT));
            let data = vec![7u8; 64 * 1024];
            // Writes may fail once the worker has stopped; finish reports why.
            for _ in 0..100 {
                if writer.write_all(&data).is_err() {
                    break;
                }
            }
            writer.finish().err().unwrap()
        });
        assert_eq!(error.to_string(), "disk full");
    }
}
