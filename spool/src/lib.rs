#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod entry;
mod error;
mod id;

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use entry::{Delivery, Envelope};
pub use error::SpoolError;
pub use id::{DeliveryId, MessageId};

use crate::entry::{open_entry, read_entry, write_header};

const TMP: &str = "tmp";
const INCOMING: &str = "incoming";
const OUTGOING: &str = "outgoing";
const HELD: &str = "held";

/// Mode of every spool file: the gateway's user alone reads mail.
const FILE_MODE: u32 = 0o600;
/// Mode of every spool directory.
const DIR_MODE: u32 = 0o700;

/// A spool in a directory. Several values may use one directory from one
/// process; ids are unique per process and time.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
    max_message_size: u64,
}

impl Spool {
    /// Opens (creating if needed) the spool in `root`. Partial writes of an
    /// earlier run (in `tmp/`) were never acknowledged and are removed.
    ///
    /// The root and its directories are made `0700` and every spool file
    /// `0600`, also when they already existed with wider permissions (a
    /// spool of an earlier version, created under umask 022).
    pub fn open(root: &Path) -> Result<Spool, SpoolError> {
        // Parents the administrator did not create are private too.
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(root)
            .map_err(SpoolError::io(root))?;
        // The root may be a link the administrator made; what it names is
        // the spool.
        restrict(
            &root.canonicalize().map_err(SpoolError::io(root))?,
            DIR_MODE,
        )?;
        for sub in [TMP, INCOMING, OUTGOING, HELD] {
            let dir = root.join(sub);
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&dir)
                .map_err(SpoolError::io(&dir))?;
            restrict(&dir, DIR_MODE)?;
            if sub != TMP {
                for entry in fs::read_dir(&dir).map_err(SpoolError::io(&dir))? {
                    let entry = entry.map_err(SpoolError::io(&dir))?;
                    // Not followed: a link is refused by restrict().
                    let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                    let mode = if is_dir { DIR_MODE } else { FILE_MODE };
                    restrict(&entry.path(), mode)?;
                }
            }
        }
        let tmp = root.join(TMP);
        for entry in fs::read_dir(&tmp).map_err(SpoolError::io(&tmp))? {
            let path = entry.map_err(SpoolError::io(&tmp))?.path();
            fs::remove_file(&path).map_err(SpoolError::io(&path))?;
        }
        sync_dir(root)?;
        Ok(Spool {
            root: root.to_owned(),
            max_message_size: 64 * 1024 * 1024,
        })
    }

    /// Sets the largest message [`Spool::receive`] accepts (default 64 MiB).
    pub fn with_max_message_size(mut self, bytes: u64) -> Spool {
        self.max_message_size = bytes;
        self
    }

    /// The spool's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stores a received message durably; when this returns `Ok`, the
    /// message survives a crash (process or power) and may be acknowledged.
    /// On error nothing was stored.
    pub fn receive(
        &self,
        envelope: &Envelope,
        message: impl Read,
    ) -> Result<MessageId, SpoolError> {
        let id = MessageId::new();
        let tmp = self.root.join(TMP).join(id.as_str());
        let result = self.write_new(&tmp, |file| {
            write_header(file, envelope).map_err(SpoolError::io(&tmp))?;
            let limit = self.max_message_size;
            let copied = io::copy(&mut message.take(limit.saturating_add(1)), file)
                .map_err(SpoolError::Input)?;
            if copied > limit {
                return Err(SpoolError::TooBig { limit });
            }
            Ok(())
        });
        if let Err(error) = result {
            let _ = fs::remove_file(&tmp);
            return Err(error);
        }
        self.publish(&tmp, &self.root.join(INCOMING).join(id.as_str()))?;
        Ok(id)
    }

    /// Received messages not yet handed over, oldest first.
    pub fn received(&self) -> Result<Vec<MessageId>, SpoolError> {
        let mut ids: Vec<MessageId> = self
            .list(INCOMING)?
            .into_iter()
            .filter_map(|name| MessageId::parse(&name).ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// A received message: its envelope and its bytes.
    pub fn read_received(&self, id: &MessageId) -> Result<(Envelope, Vec<u8>), SpoolError> {
        read_entry(&self.root.join(INCOMING).join(id.as_str()), id.as_str())
    }

    /// A received message's envelope, and what `read` makes of a reader of
    /// its bytes (so a large message need not be held in memory).
    ///
    /// ```
    /// # use mailgate_spool::{Envelope, Spool};
    /// # let dir = tempfile::tempdir()?;
    /// # let spool = Spool::open(dir.path())?;
    /// # let envelope = Envelope { sender: "a@example.org".into(), recipients: vec!["b@example.org".into()], first_received: None };
    /// let id = spool.receive(&envelope, &b"Subject: hi\r\n\r\nHello\r\n"[..])?;
    /// let (envelope, length) = spool.open_received(&id, |message| {
    ///     std::io::copy(message, &mut std::io::sink())
    /// })?;
    /// assert_eq!(length, 22);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_received<R>(
        &self,
        id: &MessageId,
        read: impl FnOnce(&mut dyn Read) -> io::Result<R>,
    ) -> Result<(Envelope, R), SpoolError> {
        open_entry(
            &self.root.join(INCOMING).join(id.as_str()),
            id.as_str(),
            read,
        )
    }

    /// Replaces received message `id` by `deliveries` (each with the message
    /// to send), atomically as far as a crash is concerned. An empty list
    /// removes the message (everything was refused and bounced by other
    /// means).
    pub fn hand_over(
        &self,
        id: &MessageId,
        deliveries: &[(Delivery, &[u8])],
    ) -> Result<Vec<DeliveryId>, SpoolError> {
        self.hand_over_from(
            id,
            deliveries
                .iter()
                .map(|(delivery, message)| (delivery.clone(), *message))
                .collect(),
        )
    }

    /// [`hand_over`](Spool::hand_over) with each message read from a reader
    /// (a spool file of the gateway, for large mail).
    pub fn hand_over_from<R: Read>(
        &self,
        id: &MessageId,
        deliveries: Vec<(Delivery, R)>,
    ) -> Result<Vec<DeliveryId>, SpoolError> {
        let received = self.root.join(INCOMING).join(id.as_str());
        if !received.exists() {
            return Err(SpoolError::NotFound(id.to_string()));
        }
        // Deliveries of an interrupted earlier hand-over were never visible;
        // a new decision replaces all of them.
        for stale in self.list(OUTGOING)? {
            if DeliveryId::parse(&stale).is_ok_and(|d| d.message() == id.as_str()) {
                let path = self.root.join(OUTGOING).join(&stale);
                fs::remove_file(&path).map_err(SpoolError::io(&path))?;
            }
        }
        let mut written = Vec::new();
        for (index, (delivery, mut message)) in deliveries.into_iter().enumerate() {
            let job = DeliveryId::new(id, index);
            let tmp = self.root.join(TMP).join(job.as_str());
            self.write_new(&tmp, |file| {
                write_header(file, &delivery).map_err(SpoolError::io(&tmp))?;
                io::copy(&mut message, file)
                    .map(drop)
                    .map_err(SpoolError::io(&tmp))
            })?;
            written.push((tmp, job));
        }
        let outgoing = self.root.join(OUTGOING);
        for (tmp, job) in &written {
            let path = outgoing.join(job.as_str());
            fs::rename(tmp, &path).map_err(SpoolError::io(&path))?;
        }
        sync_dir(&outgoing)?;
        fs::remove_file(&received).map_err(SpoolError::io(&received))?;
        sync_dir(&self.root.join(INCOMING))?;
        Ok(written.into_iter().map(|(_, job)| job).collect())
    }

    /// Adds a delivery that does not come from a received message (a
    /// bounce, a notification); durable when this returns.
    pub fn add_delivery(
        &self,
        delivery: &Delivery,
        message: &[u8],
    ) -> Result<DeliveryId, SpoolError> {
        let job = DeliveryId::new(&MessageId::new(), 0);
        let tmp = self.root.join(TMP).join(job.as_str());
        self.write_new(&tmp, |file| {
            write_header(file, delivery).map_err(SpoolError::io(&tmp))?;
            file.write_all(message).map_err(SpoolError::io(&tmp))
        })?;
        self.publish(&tmp, &self.root.join(OUTGOING).join(job.as_str()))?;
        Ok(job)
    }

    /// Keeps a message for an administrator (quarantine): written to
    /// `held/ID.N` before the hand-over that drops it from the flow; returns
    /// the file.
    pub fn hold(
        &self,
        id: &MessageId,
        index: usize,
        delivery: &Delivery,
        message: impl Read,
    ) -> Result<PathBuf, SpoolError> {
        let mut message = message;
        let name = DeliveryId::new(id, index);
        let tmp = self.root.join(TMP).join(format!("held-{name}"));
        self.write_new(&tmp, |file| {
            write_header(file, delivery).map_err(SpoolError::io(&tmp))?;
            io::copy(&mut message, file)
                .map(drop)
                .map_err(SpoolError::io(&tmp))
        })?;
        let target = self.root.join(HELD).join(name.as_str());
        self.publish(&tmp, &target)?;
        Ok(target)
    }

    /// Deliveries waiting, oldest first (also those not due yet: see
    /// [`Delivery::not_before`]).
    pub fn deliveries(&self) -> Result<Vec<DeliveryId>, SpoolError> {
        let incoming = self.list(INCOMING)?;
        let mut ids: Vec<DeliveryId> = self
            .list(OUTGOING)?
            .into_iter()
            .filter_map(|name| DeliveryId::parse(&name).ok())
            // Part of a hand-over that has not completed: not yet valid.
            .filter(|job| !incoming.iter().any(|m| m == job.message()))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// A delivery: where it goes and the message to send.
    pub fn read_delivery(&self, id: &DeliveryId) -> Result<(Delivery, Vec<u8>), SpoolError> {
        read_entry(&self.root.join(OUTGOING).join(id.as_str()), id.as_str())
    }

    /// Removes a delivery the next hop accepted (or that was bounced).
    pub fn delivered(&self, id: &DeliveryId) -> Result<(), SpoolError> {
        let path = self.root.join(OUTGOING).join(id.as_str());
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.root.join(OUTGOING)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Err(SpoolError::NotFound(id.to_string()))
            }
            Err(error) => Err(SpoolError::Io {
                path,
                source: error,
            }),
        }
    }

    /// Replaces a delivery's envelope data (attempts, next attempt, fewer
    /// recipients after a partial success), keeping its message.
    pub fn update(&self, id: &DeliveryId, delivery: &Delivery) -> Result<(), SpoolError> {
        let (_, message) = self.read_delivery(id)?;
        let tmp = self.root.join(TMP).join(id.as_str());
        self.write_new(&tmp, |file| {
            write_header(file, delivery).map_err(SpoolError::io(&tmp))?;
            file.write_all(&message).map_err(SpoolError::io(&tmp))
        })?;
        self.publish(&tmp, &self.root.join(OUTGOING).join(id.as_str()))
    }

    /// Creates `path` (which must not exist), lets `fill` write it, and
    /// syncs it to disk.
    fn write_new(
        &self,
        path: &Path,
        fill: impl FnOnce(&mut BufWriter<&File>) -> Result<(), SpoolError>,
    ) -> Result<(), SpoolError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(path)
            .map_err(SpoolError::io(path))?;
        let mut writer = BufWriter::with_capacity(256 * 1024, &file);
        let filled = fill(&mut writer).and_then(|()| writer.flush().map_err(SpoolError::io(path)));
        drop(writer);
        if let Err(error) = filled.and_then(|()| file.sync_all().map_err(SpoolError::io(path))) {
            let _ = fs::remove_file(path);
            return Err(error);
        }
        Ok(())
    }

    /// Renames a synced file into place and syncs the target directory.
    fn publish(&self, tmp: &Path, target: &Path) -> Result<(), SpoolError> {
        fs::rename(tmp, target).map_err(SpoolError::io(target))?;
        match target.parent() {
            Some(dir) => sync_dir(dir),
            None => Ok(()),
        }
    }

    fn list(&self, sub: &str) -> Result<Vec<String>, SpoolError> {
        let dir = self.root.join(sub);
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(SpoolError::io(&dir))? {
            let entry = entry.map_err(SpoolError::io(&dir))?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// Takes every permission beyond `mode` away from `path` (a file or
/// directory of the spool); leaves it alone when it has none beyond them.
fn restrict(path: &Path, mode: u32) -> Result<(), SpoolError> {
    // symlink_metadata: a link planted in the spool is not followed to
    // change some other file's mode.
    let metadata = fs::symlink_metadata(path).map_err(SpoolError::io(path))?;
    if metadata.file_type().is_symlink() {
        return Err(SpoolError::Damaged {
            path: path.to_owned(),
            reason: "a symbolic link in the spool".to_owned(),
        });
    }
    let current = metadata.permissions().mode() & 0o7777;
    if current & !mode != 0 {
        fs::set_permissions(path, Permissions::from_mode(current & mode))
            .map_err(SpoolError::io(path))?;
    }
    Ok(())
}

/// Makes a directory's entries (creations, renames, removals) durable.
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SpoolError::io(dir))
}
