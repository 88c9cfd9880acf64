//! The set of used offsets of a pool: a hierarchical bitset.
//!
//! Level 0 has one bit per address (set = used). Each level above has one bit per 64-bit word
//! of the level below, set when that word is full, so "the next free address at or after x"
//! is a few `trailing_zeros` on the way up and down: O(levels), at most 6 for 2^32 addresses.
//!
//! Levels 0 and 1 live in chunks of 4096 addresses (64 words plus their summary word),
//! allocated only when an address in them is first used. Levels 2 and up are `Vec<u64>`s
//! grown on demand, a missing word meaning "none full". Creating a set allocates nothing.

/// Addresses per chunk (64 words of 64 bits).
const CHUNK_BITS: u32 = 12;
/// Enough levels for 2^32 addresses: 2^32, 2^26, 2^20, 2^14, 2^8, 4 bits.
const MAX_LEVELS: usize = 6;

/// 4096 addresses: level 0 words and the level 1 word that summarizes them.
#[derive(Debug, Clone)]
struct Chunk {
    words: [u64; 64],
    full: u64,
}

/// Used offsets `0..len` of a range.
#[derive(Debug)]
pub(crate) struct Bits {
    used: u64,
    /// Number of bits of each level: `counts[k + 1] = ceil(counts[k] / 64)`.
    counts: [u64; MAX_LEVELS],
    /// The top level: a single word (`counts[top] <= 64`).
    top: usize,
    chunks: Vec<Option<Box<Chunk>>>,
    /// Levels 2.. (`upper[k - 2]`), grown on demand.
    upper: [Vec<u64>; MAX_LEVELS - 2],
}

/// Bit `i & 63` of a word.
fn bit(i: u64) -> u64 {
    1u64 << (i & 63)
}

impl Bits {
    /// An empty set over `len` offsets (`len <= 2^32`).
    pub(crate) fn new(len: u64) -> Self {
        let mut counts = [0u64; MAX_LEVELS];
        counts[0] = len;
        counts[1] = len.div_ceil(64);
        let mut top = 1;
        while counts[top] > 64 && top + 1 < MAX_LEVELS {
            counts[top + 1] = counts[top].div_ceil(64);
            top += 1;
        }
        Bits {
            used: 0,
            counts,
            top,
            chunks: Vec::new(),
            upper: Default::default(),
        }
    }

    /// Number of used offsets.
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    fn chunk(&self, c: u64) -> Option<&Chunk> {
        self.chunks.get(c as usize).and_then(|c| c.as_deref())
    }

    fn chunk_mut(&mut self, c: u64) -> &mut Chunk {
        let c = c as usize;
        if c >= self.chunks.len() {
            self.chunks.resize_with(c + 1, || None);
        }
        self.chunks[c].get_or_insert_with(|| {
            Box::new(Chunk {
                words: [0; 64],
                full: 0,
            })
        })
    }

    /// Word `i` of level `k`.
    fn word(&self, k: usize, i: u64) -> u64 {
        match k {
            0 => self.chunk(i >> 6).map_or(0, |c| c.words[(i & 63) as usize]),
            1 => self.chunk(i).map_or(0, |c| c.full),
            _ => self.upper[k - 2].get(i as usize).copied().unwrap_or(0),
        }
    }

    /// The bits of word `i` of level `k` that stand for something (the last word is partial).
    fn valid(&self, k: usize, i: u64) -> u64 {
        let rest = self.counts[k].saturating_sub(i * 64);
        if rest >= 64 { !0 } else { (1u64 << rest) - 1 }
    }

    fn word_mut(&mut self, k: usize, i: u64) -> &mut u64 {
        match k {
            0 => &mut self.chunk_mut(i >> 6).words[(i & 63) as usize],
            1 => &mut self.chunk_mut(i).full,
            _ => {
                let v = &mut self.upper[k - 2];
                let i = i as usize;
                if i >= v.len() {
                    v.resize(i + 1, 0);
                }
                &mut v[i]
            }
        }
    }

    /// Bit `i` of level `k` has just been set: mark the levels above while words fill up.
    fn propagate_full(&mut self, mut k: usize, mut i: u64) {
        while k < self.top {
            let w = i >> 6;
            if self.word(k, w) != self.valid(k, w) {
                return;
            }
            k += 1;
            i = w;
            *self.word_mut(k, i >> 6) |= bit(i);
        }
    }

    /// Marks `o` used; returns false if it already was.
    pub(crate) fn insert(&mut self, o: u32) -> bool {
        let o = u64::from(o);
        if o >= self.counts[0] {
            return false;
        }
        let w = self.word_mut(0, o >> 6);
        if *w & bit(o) != 0 {
            return false;
        }
        *w |= bit(o);
        self.used += 1;
        self.propagate_full(0, o);
        true
    }

    /// Marks `a..=b` used (`a <= b < len`), a word at a time.
    pub(crate) fn set_run(&mut self, a: u32, b: u32) {
        let (a, b) = (
            u64::from(a),
            u64::from(b).min(self.counts[0].saturating_sub(1)),
        );
        let mut i = a;
        while i <= b {
            let w = i >> 6;
            let hi = b.min(w * 64 + 63);
            let len = hi - i + 1;
            let mask = if len == 64 {
                !0
            } else {
                ((1u64 << len) - 1) << (i & 63)
            };
            let word = self.word_mut(0, w);
            let new = mask & !*word;
            *word |= mask;
            self.used += u64::from(new.count_ones());
            self.propagate_full(0, i);
            i = hi + 1;
        }
    }

    /// Marks `o` free; returns whether it was used.
    pub(crate) fn remove(&mut self, o: u32) -> bool {
        if !self.contains(o) {
            return false;
        }
        self.used -= 1;
        let mut i = u64::from(o);
        for k in 0..=self.top {
            let w = i >> 6;
            let was_full = self.word(k, w) == self.valid(k, w);
            *self.word_mut(k, w) &= !bit(i);
            if !was_full {
                break;
            }
            i = w;
        }
        true
    }

    /// Whether `o` is used.
    pub(crate) fn contains(&self, o: u32) -> bool {
        let o = u64::from(o);
        self.word(0, o >> 6) & bit(o) != 0
    }

    /// The lowest free offset `>= from`.
    pub(crate) fn next_free(&self, from: u64) -> Option<u32> {
        let mut k = 0;
        let mut i = from;
        // Up: the first level whose word holds a free (not full) entry at or after `i`.
        let mut node = loop {
            if i >= self.counts[k] {
                return None;
            }
            let w = i >> 6;
            let free = !self.word(k, w) & self.valid(k, w) & (!0u64 << (i & 63));
            if free != 0 {
                break w * 64 + u64::from(free.trailing_zeros());
            }
            if k == self.top {
                return None;
            }
            k += 1;
            i = w + 1;
        };
        // Down: the lowest free entry of each not-full word.
        while k > 0 {
            k -= 1;
            let free = !self.word(k, node) & self.valid(k, node);
            if free == 0 {
                debug_assert!(
                    false,
                    "summary says not full, level {k} word {node} is full"
                );
                return None;
            }
            node = node * 64 + u64::from(free.trailing_zeros());
        }
        u32::try_from(node).ok()
    }

    /// Calls `f(first, last)` for each maximal run of used offsets, ascending.
    pub(crate) fn for_each_run(&self, mut f: impl FnMut(u32, u32)) {
        let mut run: Option<(u64, u64)> = None;
        for (c, chunk) in self.chunks.iter().enumerate() {
            let Some(chunk) = chunk else { continue };
            for (j, &word) in chunk.words.iter().enumerate() {
                let base = ((c as u64) << CHUNK_BITS) + j as u64 * 64;
                let mut b = 0u32;
                while b < 64 && word >> b != 0 {
                    b += (word >> b).trailing_zeros();
                    let ones = (!(word >> b)).trailing_zeros();
                    let (s, e) = (base + u64::from(b), base + u64::from(b + ones) - 1);
                    run = match run {
                        Some((rs, re)) if re + 1 == s => Some((rs, e)),
                        Some((rs, re)) => {
                            f(rs as u32, re as u32);
                            Some((s, e))
                        }
                        None => Some((s, e)),
                    };
                    b += ones;
                }
            }
        }
        if let Some((rs, re)) = run {
            f(rs as u32, re as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(b: &Bits) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        b.for_each_run(|x, y| v.push((x, y)));
        v
    }

    #[test]
    fn levels_for_each_size() {
        assert_eq!(Bits::new(0).top, 1);
        assert_eq!(Bits::new(14).top, 1);
        assert_eq!(Bits::new(4096).top, 1);
        assert_eq!(Bits::new(4097).top, 2);
        assert_eq!(
            Bits::new(1 << 24).counts[..4],
            [1 << 24, 1 << 18, 1 << 12, 1 << 6]
        );
        assert_eq!(Bits::new(1 << 24).top, 3);
        assert_eq!(Bits::new(1 << 32).top, 5);
    }

    #[test]
    fn fill_a_partial_last_chunk_and_empty_it_again() {
        let len = 4096 * 3 + 70;
        let mut b = Bits::new(len);
        for o in 0..len {
            assert_eq!(b.next_free(0), Some(o as u32));
            assert!(b.insert(o as u32));
        }
        assert_eq!(b.next_free(0), None);
        assert_eq!(b.used(), len);
        assert_eq!(runs(&b), vec![(0, len as u32 - 1)]);
        assert!(b.remove(5000));
        assert_eq!(b.next_free(0), Some(5000));
        assert_eq!(b.next_free(5001), None);
        assert!(b.remove(len as u32 - 1));
        assert_eq!(b.next_free(5001), Some(len as u32 - 1));
        for o in 0..len as u32 {
            b.remove(o);
        }
        assert_eq!(b.used(), 0);
        assert_eq!(b.next_free(len - 1), Some(len as u32 - 1));
        assert_eq!(b.next_free(len), None);
        assert!(b.upper.iter().flatten().all(|&w| w == 0));
    }

    #[test]
    fn set_run_counts_and_summarizes() {
        let mut b = Bits::new(1 << 20);
        b.set_run(0, (1 << 20) - 2);
        assert_eq!(b.used(), (1 << 20) - 1);
        assert_eq!(b.next_free(0), Some((1 << 20) - 1));
        b.set_run(10, 100);
        assert_eq!(b.used(), (1 << 20) - 1);
        b.set_run((1 << 20) - 1, (1 << 20) - 1);
        assert_eq!(b.next_free(0), None);
        assert_eq!(runs(&b), vec![(0, (1 << 20) - 1)]);
    }

    #[test]
    fn runs_split_at_gaps_and_join_across_words_and_chunks() {
        let mut b = Bits::new(1 << 16);
        b.set_run(60, 70);
        b.set_run(4090, 4100);
        b.insert(5000);
        b.insert(5002);
        assert_eq!(
            runs(&b),
            vec![(60, 70), (4090, 4100), (5000, 5000), (5002, 5002)]
        );
    }
}
