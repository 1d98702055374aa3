//! Reading the call records' ring buffer: bounded in time for the periodic
//! and wake-up drains, complete (up to the ring's capacity) before anything
//! is detached, so that records meet their recipes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aya::maps::{MapData, RingBuf};

use super::Supervisor;
use crate::bpf::Bpf;
use crate::proc::Process;

impl Supervisor<Bpf> {
    /// Reads every record written to the ring buffer before this call,
    /// before a process's cookies are released (its exit or exec, a probe
    /// detached): at most as many records as the ring holds, so records
    /// written meanwhile by another process cannot keep it here forever.
    pub fn drain(&mut self, ring: &mut RingBuf<MapData>) {
        let most =
            self.cfg.ring_buffer_kib as u64 * 1024 / size_of::<crate::recipe::RawEvent>() as u64;
        self.read_ring(ring, most, Duration::MAX);
    }

    /// Reads records for at most `budget` (the periodic and wake-up
    /// drains: a traced process writing faster than gotel reads must not
    /// keep timers, breakers, exec records and the admin endpoint waiting);
    /// true when the ring is empty.
    pub fn drain_for(&mut self, ring: &mut RingBuf<MapData>, budget: Duration) -> bool {
        self.read_ring(ring, u64::MAX, budget)
    }

    /// Reads at most `most` records, for at most `budget`; true when the
    /// ring is empty.
    fn read_ring(&mut self, ring: &mut RingBuf<MapData>, most: u64, budget: Duration) -> bool {
        let start = Instant::now();
        let mut n = 0u64;
        let empty = loop {
            // The clock every 64 records: reading it costs more than a record.
            if n >= most || (n % 64 == 63 && start.elapsed() >= budget) {
                break false;
            }
            let Some(item) = ring.next() else {
                break true;
            };
            self.handle_record(&item);
            n += 1;
        };
        // A held call's landing record runs microseconds after its return:
        // with the ring read to empty, it was in this batch if it is
        // coming. Records left unread (a backlog) may still hold it: then
        // only the records read so far tell the time.
        self.release_held(if empty { super::monotonic_ns() } else { 0 });
        if n > 0 {
            self.end_batch();
        }
        empty
    }

    /// Brings attachments in line with the processes running now (a /proc
    /// scan), draining `ring` first when a traced process is gone.
    pub fn reconcile(&mut self, ring: &mut RingBuf<MapData>) {
        let live: HashMap<u32, Process> = crate::proc::scan()
            .into_iter()
            .map(|p| (p.pid, p))
            .collect();
        self.reconcile_with(&live, |s| s.drain(ring));
    }
}
