//! The fast path: answers to simple queries, kept as encoded bytes.
//!
//! A query of the plain form (QUERY opcode, one question without compression, no other
//! records, or one empty OPT record) is looked up by its flags and lowercased question; on a
//! hit the stored answer is copied with the query's id and question bytes (so the 0x20 case
//! of the name is echoed). Misses go through [`handle`](super::handle), and its authoritative
//! answers are stored. The cache belongs to one thread and is emptied when the zone changes.

use std::collections::HashMap;

/// Most answers kept; when full the cache starts over (random names cannot grow it forever).
const MAX_ENTRIES: usize = 16_384;
/// Only answers that fit any client (no EDNS needed) are kept.
const MAX_ANSWER: usize = 512;

/// Cached answers for one thread.
#[derive(Debug, Default)]
pub struct AnswerCache {
    generation: u64,
    map: HashMap<Box<[u8]>, Box<[u8]>>,
}

/// Where a plain query's question lies, and its cache key.
pub struct PlainQuery {
    key: [u8; 1 + 255 + 4],
    key_len: usize,
    question_end: usize,
}

impl PlainQuery {
    fn key(&self) -> &[u8] {
        &self.key[..self.key_len]
    }
}

/// Recognises a plain query: QR=0, opcode 0, TC=0, qdcount 1, ancount 0, nscount 0, arcount
/// 0 (nothing after the question) or 1 (exactly an OPT record with empty data); a question
/// name of uncompressed labels of 1-63 bytes. Anything else is `None` (the full path).
pub fn plain_query(packet: &[u8]) -> Option<PlainQuery> {
    let header = packet.get(..12)?;
    let flags1 = header[2];
    let flags2 = header[3];
    // QR=0, opcode 0, TC=0 (AA, RA and AD do not change the answer); Z and RCODE must be 0.
    if flags1 & 0b1111_1010 != 0 || flags2 & 0b0100_1111 != 0 {
        return None;
    }
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if count(4) != 1 || count(6) != 0 || count(8) != 0 || count(10) > 1 {
        return None;
    }
    let mut key = [0u8; 1 + 255 + 4];
    let mut k = 1;
    let mut i = 12;
    loop {
        let len = usize::from(*packet.get(i)?);
        if len == 0 {
            i += 1;
            break;
        }
        if len > 63 || k + 1 + len > 256 {
            return None;
        }
        let label = packet.get(i + 1..i + 1 + len)?;
        key[k] = len as u8;
        for (dst, src) in key[k + 1..k + 1 + len].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        k += 1 + len;
        i += 1 + len;
    }
    if k == 1 {
        return None; // the root: not ours, take the full path
    }
    key[k] = 0;
    k += 1;
    let tail = packet.get(i..i + 4)?;
    key[k..k + 4].copy_from_slice(tail);
    k += 4;
    let question_end = i + 4;
    let rest = packet.get(question_end..)?;
    let has_opt = match (count(10), rest.len()) {
        (0, 0) => false,
        // name 0 (root), type 41, class (payload), ttl (4), rdlen 0.
        (1, 11) => {
            if rest[0] != 0 || rest[1..3] != [0, 41] || rest[9..11] != [0, 0] {
                return None;
            }
            // EDNS version 0 only; other versions get BADVERS from the full path.
            if rest[6] != 0 {
                return None;
            }
            true
        }
        _ => return None,
    };
    // RD, CD and whether EDNS was used decide the answer's flags and its OPT record.
    key[0] = (flags1 & 0x01) | (flags2 & 0x10) | if has_opt { 0x80 } else { 0 };
    Some(PlainQuery {
        key,
        key_len: k,
        question_end,
    })
}

impl AnswerCache {
    /// Empties the cache when the zone's generation changed.
    pub fn check_generation(&mut self, generation: u64) {
        if generation != self.generation {
            self.map.clear();
            self.generation = generation;
        }
    }

    /// The stored answer to `q`, adapted to `packet` (its id and question bytes).
    pub fn answer(&self, q: &PlainQuery, packet: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(stored) = self.map.get(q.key()) else {
            return false;
        };
        out.clear();
        out.extend_from_slice(stored);
        if out.len() < q.question_end {
            return false;
        }
        out[..2].copy_from_slice(&packet[..2]);
        out[12..q.question_end].copy_from_slice(&packet[12..q.question_end]);
        true
    }

    /// Keeps `answer` (the full path's) for queries like `q`.
    pub fn store(&mut self, q: &PlainQuery, packet: &[u8], answer: &[u8]) {
        if answer.len() > MAX_ANSWER
            || answer.len() < q.question_end
            // The answer must echo the question where the fast path will copy it.
            || answer.get(12..q.question_end) != packet.get(12..q.question_end)
        {
            return;
        }
        if self.map.len() >= MAX_ENTRIES {
            self.map.clear();
        }
        self.map.insert(q.key().into(), answer.into());
    }

    /// Number of stored answers.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
