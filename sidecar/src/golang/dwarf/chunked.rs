//! A list in fixed-size chunks: it grows without copying itself (a vector
//! doubling its capacity holds both copies for a moment), and a prefix
//! read and done with gives its chunks back while the rest is still read.

/// Elements per chunk: a few hundred KB, so each chunk is its own mapping
/// that goes back to the system when freed.
const CHUNK: usize = 4096;

pub(super) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Chunked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chunked({} elements)", self.len)
    }
}

impl<T> Chunked<T> {
    pub(super) fn push(&mut self, t: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("pushed above").push(t);
        self.len += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Element `i`; panics when it was freed or is out of range.
    pub(super) fn get(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }

    pub(super) fn get_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }

    /// Every element, in order (none may have been freed).
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    /// The index of the element whose key is `key`, the elements being
    /// sorted by key (none freed).
    pub(super) fn search<K: Ord>(&self, key: &K, by: impl Fn(&T) -> K) -> Option<usize> {
        let c = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|t| by(t) < *key));
        let i = self
            .chunks
            .get(c)?
            .binary_search_by(|t| by(t).cmp(key))
            .ok()?;
        Some(c * CHUNK + i)
    }

    /// Frees the chunks wholly below element `at`: those elements are
    /// not read again.
    pub(super) fn free_below(&mut self, at: usize) {
        for c in &mut self.chunks[..(at / CHUNK).min(self.len.div_ceil(CHUNK))] {
            if c.capacity() != 0 {
                *c = Vec::new();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_indexed_searched_and_freed() {
        let mut c = Chunked::default();
        let n = 3 * CHUNK + 5;
        for i in 0..n {
            c.push(2 * i);
        }
        assert_eq!(c.len(), n);
        assert_eq!(*c.get(CHUNK + 1), 2 * (CHUNK + 1));
        *c.get_mut(7) = 14;
        assert!(c.iter().copied().eq((0..n).map(|i| 2 * i)));
        for i in [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 3, n - 1] {
            assert_eq!(c.search(&(2 * i), |&t| t), Some(i));
            assert_eq!(c.search(&(2 * i + 1), |&t| t), None);
        }
        assert_eq!(c.search(&(2 * n), |&t| t), None);
        c.free_below(2 * CHUNK + 1);
        assert_eq!(c.chunks[1].capacity(), 0);
        assert_eq!(*c.get(2 * CHUNK), 4 * CHUNK);
        c.free_below(usize::MAX);
        assert!(c.chunks.iter().all(|c| c.capacity() == 0));
    }
}
