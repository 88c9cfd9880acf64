//! Iterating over the used addresses of a pool.

use std::net::Ipv4Addr;

use crate::AddrRange;

/// The used addresses of a pool, ascending, as they were when [`IpPool::iter_used`] was
/// called (it copies the runs, so the pool stays free to change meanwhile).
///
/// [`IpPool::iter_used`]: super::IpPool::iter_used
#[derive(Debug, Clone)]
pub struct UsedAddrs {
    runs: std::vec::IntoIter<AddrRange>,
    /// The rest of the current run: next address and last address.
    current: Option<(u32, u32)>,
    left: u64,
}

impl UsedAddrs {
    pub(crate) fn new(runs: Vec<AddrRange>) -> Self {
        let left = runs.iter().map(AddrRange::len).sum();
        UsedAddrs {
            runs: runs.into_iter(),
            current: None,
            left,
        }
    }
}

impl Iterator for UsedAddrs {
    type Item = Ipv4Addr;

    fn next(&mut self) -> Option<Ipv4Addr> {
        let (next, last) = match self.current {
            Some(c) => c,
            None => {
                let r = self.runs.next()?;
                (u32::from(r.start), u32::from(r.end))
            }
        };
        self.current = (next < last).then(|| (next + 1, last));
        self.left -= 1;
        Some(Ipv4Addr::from(next))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(usize::MAX);
        (n, usize::try_from(self.left).ok())
    }
}

impl ExactSizeIterator for UsedAddrs {}
