//! Prefix range reads: fetch only the front of a GRIB2 message, as far as the box's last row.
//!
//! Why: rows run north to south and every packing the buckets use (complex 5.3 for GEFS,
//! CCSDS 5.42 for ECMWF) decodes front to back, so a box that ends at row `r` needs only a
//! prefix of the data section. East Africa ends at 12° S, ~57 % of the rows down a global grid.
//!
//! How many bytes, per packing ([`gik_core::grib::bytes_for_rows`]):
//! - simple and complex packing say it **exactly** once the group descriptors are in hand
//!   (complex packing keeps every group's reference, width and length at the front of
//!   section 7, so its prefix is larger than the rows' share: descriptors + the rows' groups);
//! - CCSDS (and PNG) cannot tell without decoding: CCSDS blocks are not byte-aligned and
//!   ECMWF's messages have no RSI padding (`ccsdsFlags` without `AEC_PAD_RSI`) and no block
//!   offsets, so there is no index to seek by. The estimate is the rows' share of the data
//!   plus a margin; the decoder reports a short prefix as an error, never as wrong values, so
//!   the safe retry is to read the rest of the message.
//!
//! [`read_rows`] is the one loop the app runs per message: read a first prefix (sized by a
//! [`Hints`] learned from earlier messages of the same view, or a small head), describe the
//! header, ask how many bytes the rows need, read what is missing (a second request), decode.
//! Any failure while the prefix is shorter than the message reads the whole rest and decodes
//! again, so the result is always the full decode's rows or the full decode's error.
//! It is generic over the read function, so it is tested natively on the fixtures.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;

use gik_core::grib::{self, BytesForRows, MessageInfo};

/// First read when nothing is known about the message: enough for sections 0–6 of a 0.25°
/// message without a bitmap and the start of its data section.
pub const HEAD_BYTES: u64 = 16 << 10;

/// Slack added to a learned first read (fraction of the message, and bytes).
const HINT_MARGIN: f64 = 0.02;
const HINT_SLACK_BYTES: f64 = 2048.0;

/// What [`read_rows`] fetched and decoded.
#[derive(Debug)]
pub struct RowsRead<T> {
    /// What `decode` made of the rows.
    pub decoded: T,
    /// Bytes fetched (the prefix length).
    pub fetched: u64,
    /// Range requests made.
    pub requests: u32,
    /// What the packing needed: exact, or the prefix that sufficed.
    pub need: Need,
    /// The message's first bytes (at most [`HEAD_KEEP`]): its header, to describe it again
    /// without the values (the persistent cache stores it with the cropped field).
    pub head: Vec<u8>,
}

/// Bytes of a message's start kept in [`RowsRead::head`]: sections 0–5 of the products'
/// messages are a few hundred bytes.
pub const HEAD_KEEP: usize = 4096;

/// How many bytes a message needed for the rows, as far as [`read_rows`] learned it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Need {
    /// Exactly this prefix (simple and complex packing).
    Exact(u64),
    /// The packing could not tell; this prefix (its estimate, or what was read after the
    /// estimate proved short) sufficed.
    Enough(u64),
}

/// Why [`read_rows`] gave no rows.
#[derive(Debug)]
pub enum ReadRowsError<E, D> {
    /// A read failed, or the caller refused the message (its `rows_of`).
    Other(E),
    /// The whole message does not decode: its header (a [`grib::GribError`] made a `D`), or
    /// its rows (`decode`'s error).
    Decode(D),
}

/// Reads and decodes the first rows of a message of `length` bytes.
///
/// `first` is the size of the first read (clamped to the message); `read(from, to)` fetches
/// bytes `from..to` of the message; `rows_of` gets the header (sections 0–5) and returns how many
/// rows to decode with what the decode needs besides (the crop, say; it may refuse the message,
/// e.g. when it is not the one asked for); `decode(prefix, rows, with)` decodes them
/// ([`grib::decode_rows`], here or in a worker) and says why not — a prefix too short is only
/// told apart from a bad message by decoding the whole one.
///
/// Every read strictly lengthens the prefix: first, the missing bytes the packing names (or
/// its estimate), then, when a prefix proves too short, steps of an eighth of the message up to
/// the whole message; so at most 2 + 8 requests, usually 1 once [`Hints`] has learned.
pub async fn read_rows<T, C, E, DE, F, Fut, R, D, DFut>(
    length: u64,
    first: u64,
    mut read: F,
    mut rows_of: R,
    decode: D,
) -> Result<RowsRead<T>, ReadRowsError<E, DE>>
where
    F: FnMut(u64, u64) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, E>>,
    R: FnMut(&MessageInfo) -> Result<(usize, C), E>,
    D: FnMut(&[u8], usize, &C) -> DFut,
    DFut: Future<Output = Result<T, DE>>,
    DE: From<grib::GribError>,
{
    let first = first.clamp(1, length.max(1)).min(length);
    // (The error type spelled out: `?` converts errors, so it cannot infer `DE` from them.)
    let other = ReadRowsError::<E, DE>::Other;
    let mut prefix: Prefix<F, DE> = Prefix {
        have: read(0, first).await.map_err(other)?,
        read,
        length,
        requests: 1,
        decode_error: PhantomData,
    };
    let info = prefix.header().await?;
    let (rows, with) = rows_of(&info).map_err(other)?;
    prefix.decode_rows(rows, &with, decode).await
}

/// The bytes of a message read so far, and the reads that lengthen them (`DE`: the decode's
/// error, so that every step fails with the same [`ReadRowsError`]).
struct Prefix<F, DE> {
    /// Bytes `0..have.len()` of the message.
    have: Vec<u8>,
    /// Fetches bytes `from..to` of the message.
    read: F,
    /// The message's length.
    length: u64,
    /// Reads made.
    requests: u32,
    decode_error: PhantomData<DE>,
}

impl<F, Fut, E, DE> Prefix<F, DE>
where
    F: FnMut(u64, u64) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, E>>,
    DE: From<grib::GribError>,
{
    /// Whether the whole message is in hand.
    fn whole(&self) -> bool {
        self.have.len() as u64 >= self.length
    }

    /// Extends the prefix to `to` bytes (at most the message; a no-op when it is that long).
    async fn extend_to(&mut self, to: u64) -> Result<(), ReadRowsError<E, DE>> {
        let (from, to) = (self.have.len() as u64, to.min(self.length));
        if to > from {
            let more = (self.read)(from, to)
                .await
                .map_err(ReadRowsError::<E, DE>::Other)?;
            self.have.extend_from_slice(&more);
            self.requests += 1;
        }
        Ok(())
    }

    /// The message's header (sections 0–5), reading on while it is cut (a message with a
    /// large section 2 or bitmap may need more than the first read).
    async fn header(&mut self) -> Result<MessageInfo, ReadRowsError<E, DE>> {
        loop {
            match grib::describe_header(&self.have) {
                Ok(info) => return Ok(info),
                Err(e) if self.whole() => return Err(ReadRowsError::Decode(e.into())),
                Err(_) => {
                    let next = (self.have.len() as u64).saturating_mul(4).max(HEAD_BYTES);
                    self.extend_to(next).await?;
                }
            }
        }
    }

    /// Reads what the packing says `rows` need (or its estimate), decodes, and while the
    /// decode fails on a prefix shorter than the message, reads on and decodes again.
    async fn decode_rows<T, C, D, DFut>(
        mut self,
        rows: usize,
        with: &C,
        mut decode: D,
    ) -> Result<RowsRead<T>, ReadRowsError<E, DE>>
    where
        D: FnMut(&[u8], usize, &C) -> DFut,
        DFut: Future<Output = Result<T, DE>>,
    {
        let mut learned = Learned::default();
        loop {
            if !self.whole() {
                let target = learned.target(&self.have, rows, self.length);
                if target > self.have.len() as u64 {
                    self.extend_to(target).await?;
                    continue;
                }
            }
            match decode(&self.have, rows, with).await {
                Ok(decoded) => {
                    let fetched = self.have.len() as u64;
                    self.have.truncate(HEAD_KEEP);
                    return Ok(RowsRead {
                        decoded,
                        fetched,
                        requests: self.requests,
                        need: learned.need(fetched),
                        head: self.have,
                    });
                }
                Err(e) if self.whole() => return Err(ReadRowsError::Decode(e)),
                Err(_) => {
                    // Too short (or the prefix misled the estimate): read on in steps of an
                    // eighth of the message (a step costs about what a request does on a
                    // 10 Mbit/s line), up to the whole message, which decides.
                    learned.retried = true;
                    let step = (self.length / 8).max(HEAD_BYTES);
                    let next = (self.have.len() as u64).saturating_add(step);
                    self.extend_to(next).await?;
                }
            }
        }
    }
}

/// What the packing said about the bytes the rows need, and whether a prefix proved short.
#[derive(Default)]
struct Learned {
    exact: Option<u64>,
    guessed: Option<u64>,
    retried: bool,
}

impl Learned {
    /// How long the prefix should be for `rows`, from what the packing says of `have`.
    fn target(&mut self, have: &[u8], rows: usize, length: u64) -> u64 {
        match grib::bytes_for_rows(have, rows) {
            Ok(BytesForRows::Exact(n)) => {
                self.exact = Some(n);
                n
            }
            Ok(BytesForRows::Unknown { guess, .. }) => {
                self.guessed = Some(guess);
                guess
            }
            // Sections 0–6 are not all in the prefix yet, or a kind of answer this code
            // does not know: the whole message.
            Ok(_) | Err(_) => length,
        }
    }

    /// What the message needed, once a prefix of `fetched` bytes decoded.
    fn need(&self, fetched: u64) -> Need {
        match (self.exact, self.guessed) {
            (Some(n), _) => Need::Exact(n),
            // The estimate sufficed (what was read beyond it is the hint's margin).
            (None, Some(g)) if !self.retried => Need::Enough(g.min(fetched)),
            _ => Need::Enough(fetched),
        }
    }
}

/// What earlier messages of a view needed, as a share of their length: sizes the first read of
/// the next message so that most messages take one request.
#[derive(Debug, Default)]
pub struct Hints {
    shares: HashMap<String, f64>,
}

impl Hints {
    /// No hints.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether messages under `key` have been seen.
    pub fn knows(&self, key: &str) -> bool {
        self.shares.contains_key(key)
    }

    /// The first read for a message of `length` bytes under `key` (the view's array, box and
    /// point budget): the learned share plus a margin, or [`HEAD_BYTES`].
    pub fn first_read(&self, key: &str, length: u64) -> u64 {
        match self.shares.get(key) {
            Some(share) => {
                let n = (share + HINT_MARGIN) * length as f64 + HINT_SLACK_BYTES;
                (n.ceil() as u64).min(length)
            }
            None => HEAD_BYTES.min(length),
        }
    }

    /// Learns from a message of `length` bytes under `key`. The share kept is the largest of
    /// the recent ones (it decays slowly, so one odd message does not cost every later one).
    pub fn learn(&mut self, key: &str, length: u64, need: Need) {
        if length == 0 {
            return;
        }
        let bytes = match need {
            Need::Exact(n) | Need::Enough(n) => n as f64,
        };
        let share = (bytes / length as f64).min(1.0);
        let entry = self.shares.entry(key.to_string()).or_insert(share);
        *entry = share.max(*entry - 0.01);
    }
}

#[cfg(test)]
pub(crate) mod tests;
