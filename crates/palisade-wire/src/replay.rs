//! The replay window of the receiving side of a sealed link, and the
//! [`FrameOpener`] that uses it.

use crate::error::FrameError;
use crate::frame::{self, Frame, HEADER_LEN, MAX_PAYLOAD_LEN, Protection};
use crate::seal::{Opener, TAG_LEN};

/// Number of record numbers the replay window tracks, counting the newest.
pub const REPLAY_WINDOW: u64 = 64;

/// A sliding window over sealed record numbers, as in IPsec ESP (RFC 4303,
/// section 3.4.3).
///
/// It remembers the newest record number accepted and which of the
/// [`REPLAY_WINDOW`]` - 1` numbers below it were accepted. A number above
/// the newest is new, and a number inside the window is new once. A number
/// below the window cannot be checked, so it is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    /// Newest record number accepted, valid when `seen` is non-zero.
    newest: u64,
    /// Bit `i` is set when record `newest - i` was accepted.
    seen: u64,
}

impl ReplayWindow {
    /// Creates an empty window, in which every record number is new.
    pub const fn new() -> Self {
        Self { newest: 0, seen: 0 }
    }

    /// Checks `record` without recording it.
    ///
    /// Fails with [`FrameError::Replayed`] for a number already accepted and
    /// with [`FrameError::TooOld`] for a number below the window.
    pub const fn check(&self, record: u64) -> Result<(), FrameError> {
        if self.seen == 0 || record > self.newest {
            return Ok(());
        }
        let behind = self.newest - record;
        if behind >= REPLAY_WINDOW {
            return Err(FrameError::TooOld {
                record,
                newest: self.newest,
            });
        }
        if self.seen & (1 << behind) != 0 {
            return Err(FrameError::Replayed { record });
        }
        Ok(())
    }

    /// Records `record` as accepted. Call only after [`check`](Self::check)
    /// succeeded and the frame's tag verified, so that a forged frame cannot
    /// use up a record number.
    pub const fn accept(&mut self, record: u64) {
        if self.seen == 0 {
            self.newest = record;
            self.seen = 1;
        } else if record > self.newest {
            let ahead = record - self.newest;
            self.seen = if ahead >= REPLAY_WINDOW {
                1
            } else {
                (self.seen << ahead) | 1
            };
            self.newest = record;
        } else {
            let behind = self.newest - record;
            if behind < REPLAY_WINDOW {
                self.seen |= 1 << behind;
            }
        }
    }

    /// Newest record number accepted, if any.
    pub const fn newest(&self) -> Option<u64> {
        if self.seen == 0 {
            None
        } else {
            Some(self.newest)
        }
    }
}

/// Opens sealed frames: validates the header, rejects replays, verifies and
/// decrypts the payload in place through an [`Opener`], and returns a
/// zero-copy [`Frame`].
#[derive(Debug)]
pub struct FrameOpener<O> {
    opener: O,
    window: ReplayWindow,
    max_payload_len: usize,
}

impl<O: Opener> FrameOpener<O> {
    /// Creates an opener with an empty replay window that accepts payloads up to
    /// [`MAX_PAYLOAD_LEN`].
    pub const fn new(opener: O) -> Self {
        Self {
            opener,
            window: ReplayWindow::new(),
            max_payload_len: MAX_PAYLOAD_LEN,
        }
    }

    /// Limits accepted payloads to `max` bytes (clamped to
    /// [`MAX_PAYLOAD_LEN`]).
    pub const fn with_max_payload_len(mut self, max: usize) -> Self {
        self.max_payload_len = if max < MAX_PAYLOAD_LEN {
            max
        } else {
            MAX_PAYLOAD_LEN
        };
        self
    }

    /// Returns the replay window, for diagnostics.
    pub const fn window(&self) -> &ReplayWindow {
        &self.window
    }

    /// Returns the wrapped opener.
    pub const fn opener(&self) -> &O {
        &self.opener
    }

    /// Opens `bytes`, exactly one sealed frame, decrypting it in place.
    ///
    /// Fails with the length and header errors of
    /// [`FrameDecoder::decode`](crate::FrameDecoder::decode),
    /// [`FrameError::ProtectionMismatch`] for a checksummed frame,
    /// [`FrameError::Replayed`] or [`FrameError::TooOld`] before any
    /// cryptography runs, and [`FrameError::Open`] when the tag does not
    /// verify; after that error the payload bytes are garbage. A failed frame
    /// leaves the replay window unchanged.
    pub fn open<'b>(&mut self, bytes: &'b mut [u8]) -> Result<Frame<'b>, FrameError> {
        let header = frame::split_frame(bytes, self.max_payload_len)?;
        if header.flags.protection() != Protection::Sealed {
            return Err(FrameError::ProtectionMismatch {
                expected: Protection::Sealed,
            });
        }
        self.window.check(header.record)?;
        let body_end = HEADER_LEN + usize::from(header.payload_len);
        let (aad, rest) = bytes.split_at_mut(HEADER_LEN);
        let (payload, trailer) = rest.split_at_mut(body_end - HEADER_LEN);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(trailer);
        self.opener
            .open_in_place(header.record, aad, payload, &tag)?;
        self.window.accept(header.record);
        Ok(frame::sealed_frame(header, payload))
    }
}
