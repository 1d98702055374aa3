//! Request buffers reused from batch to batch.
//!
//! Why: a batch's requests are ~100-500 KB each. Allocated fresh, every
//! one is a new mapping (glibc maps blocks over its 128 KiB threshold,
//! which gotel keeps fixed, `golang::fix_mmap_threshold`): a page fault per
//! 4 KiB written and an `munmap` with its TLB flush once sent, measured at
//! ~25 % of the export's CPU with tonic's copy of each request. A request's
//! bytes come back here when its last reference (ours, or h2's after the
//! write) is dropped.
//!
//! Only while batches fill up: a batch sent by the timer, not full, says
//! export keeps up easily, and then the kept buffers are freed and those
//! coming back are not kept, so an idle exporter holds no request memory.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

/// Larger buffers (a batch of large values) are freed, not kept.
const KEEP_MAX_BYTES: usize = 1 << 20;

/// The buffers not in use, and how many to keep.
#[derive(Default)]
pub struct Pool {
    inner: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    free: Vec<Vec<u8>>,
    /// How many buffers to keep; 0 while export is idle.
    keep: usize,
}

impl Pool {
    /// A pool that keeps nothing until [`Pool::busy`] says how many.
    pub fn new() -> Arc<Self> {
        Arc::new(Pool::default())
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic while holding it leaves only a list of buffers behind.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Batches fill up: keep up to `n` buffers for the next ones.
    pub fn busy(&self, n: usize) {
        self.kept().keep = n;
    }

    /// Export keeps up easily: free the kept buffers, keep none.
    pub fn idle(&self) {
        let free = {
            let mut k = self.kept();
            k.keep = 0;
            std::mem::take(&mut k.free)
        };
        // Freed outside the lock.
        drop(free);
    }

    /// An empty buffer, a kept one when there is one.
    pub fn take(&self) -> Vec<u8> {
        self.kept().free.pop().unwrap_or_default()
    }

    /// Gives `buf` back for reuse (or frees it).
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > KEEP_MAX_BYTES {
            return;
        }
        buf.clear();
        let mut k = self.kept();
        if k.free.len() < k.keep {
            k.free.push(buf);
        }
    }

    /// `buf[start..]` as `Bytes`; `buf` comes back to this pool once the
    /// last of them is dropped.
    pub fn freeze(self: &Arc<Self>, buf: Vec<u8>, start: usize) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: Arc::downgrade(self),
        })
        .slice(start..)
    }
}

/// A buffer lent out as `Bytes`.
struct Pooled {
    buf: Vec<u8>,
    pool: Weak<Pool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.give(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_when_the_last_reference_goes() {
        let pool = Pool::new();
        pool.busy(2);
        let mut buf = pool.take();
        buf.extend_from_slice(b"12345hello");
        let ptr = buf.as_ptr();
        let bytes = pool.freeze(buf, 5);
        assert_eq!(&bytes[..], b"hello");
        let copy = bytes.clone();
        drop(bytes);
        assert!(pool.kept().free.is_empty(), "still referenced");
        drop(copy);
        let again = pool.take();
        assert_eq!((again.as_ptr(), again.len()), (ptr, 0));
    }

    #[test]
    fn an_idle_pool_keeps_nothing() {
        let pool = Pool::new();
        pool.busy(1);
        pool.give(Vec::with_capacity(10));
        pool.give(Vec::with_capacity(10));
        assert_eq!(pool.kept().free.len(), 1, "up to `busy`'s count");
        let lent = pool.freeze(Vec::with_capacity(10), 0);
        pool.idle();
        assert!(pool.kept().free.is_empty());
        drop(lent);
        assert!(pool.kept().free.is_empty(), "not kept while idle");
        pool.give(Vec::with_capacity(KEEP_MAX_BYTES + 1));
        assert!(pool.kept().free.is_empty());
    }
}
