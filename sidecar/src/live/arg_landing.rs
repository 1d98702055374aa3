//! Float arguments read in the callee, joined to their open call.
//!
//! A float argument in XMM is read where the function itself moves it out
//! (`golang::arg_landing`), after its entry record and before its return.
//! That landing record's frame, less the site's SP delta from the entry
//! (Go's `pcsp`), is the entry's frame: with the process, goroutine and
//! attachment it names the open call exactly. The first record of each
//! argument fills it (a loop passing the site again later reads whatever
//! the register holds then); one that follows lost records is not taken
//! (it may be a later call's whose entry was lost). An argument whose
//! record never came shows, when its call ends, why: the path the call
//! took kept the value in XMM (it returned, and no record was lost
//! meanwhile), the record may have been lost, or the call ended first.

use crate::decode::{decode, GoValue};
use crate::plan::ArgRead;
use crate::recipe::RawEvent;

use super::{call_key, Attachment, Open, Pipeline};

/// The float arguments a call still awaits from its landing records.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Records lost before the entry (its loss stamp).
    stamp: u64,
    /// The arguments still to come.
    args: Vec<ArgRead>,
}

impl Pending {
    /// What an entry of `meta` with loss stamp `stamp` awaits.
    pub(super) fn of(meta: &Attachment, stamp: u64) -> Self {
        let args = meta
            .plan
            .arg_landings
            .as_ref()
            .map_or_else(Vec::new, |l| l.args.clone());
        Pending { stamp, args }
    }
}

impl Pipeline {
    /// An argument-landing record (cookie routed to site `index`): its
    /// values go to the open call at the entry frame it names.
    pub(super) fn land_arg(&mut self, meta: &Attachment, index: usize, ev: &RawEvent, data: &[u8]) {
        let Some(site) = meta
            .plan
            .arg_landings
            .as_ref()
            .and_then(|l| l.sites.get(index))
        else {
            self.landing.unmatched += 1;
            return;
        };
        let key = call_key(meta, ev.goid, ev.frame.wrapping_sub(site.delta));
        let stamp = self.stamp(ev);
        // A call a recovered panic left open at that frame is not this
        // record's (a later call the kernel did not keep may be).
        if self.correlator.still_running(&key, stamp) != Some(true) {
            self.landing.unmatched += 1;
            return;
        }
        let open = self
            .correlator
            .get_mut(&key)
            .filter(|o: &&mut Open| o.pending.stamp == stamp && !o.pending.args.is_empty());
        let Some(open) = open else {
            self.landing.unmatched += 1;
            return;
        };
        let names = meta.names.as_ref();
        let values = decode(
            &site.site,
            data,
            (ev.fault_mask, ev.nil_mask),
            names,
            &mut |_| false,
        );
        let mut took = false;
        for (&i, (_, v)) in site.args.iter().zip(values) {
            if let Some(n) = open.pending.args.iter().position(|a| a.index == i) {
                open.pending.args.swap_remove(n);
                if let Some((_, arg)) = open.args.get_mut(i) {
                    *arg = v;
                }
                self.landing.args_landed += 1;
                took = true;
            }
        }
        // The site passed again (a loop): this call has that argument.
        if !took {
            self.landing.unmatched += 1;
        }
    }

    /// Shows each float argument of `open` whose landing record never came
    /// as unavailable, with why (counted once per call). `returned`: the
    /// loss stamp of its return record; None: it did not return.
    pub(super) fn settle_args(&mut self, open: &mut Open, returned: Option<u64>) {
        if open.pending.args.is_empty() {
            return;
        }
        self.landing.args_missed += 1;
        let function = &open.meta.plan.function;
        let lost = returned != Some(open.pending.stamp);
        for a in std::mem::take(&mut open.pending.args) {
            let why = match (returned, &a.kept) {
                (None, _) => format!(
                    "{}: not read before the call ended (it did not return: its path kept it in XMM, it ended before {function} moved it out, or the record was lost)",
                    a.what
                ),
                _ if lost => format!(
                    "{}: its landing record may have been lost (records were dropped during the call)",
                    a.what
                ),
                (_, Some(k)) => format!("{}: this call's path kept it in XMM ({k})", a.what),
                (_, None) => format!(
                    "{}: this call did not reach its landing site in {function}",
                    a.what
                ),
            };
            if let Some((_, arg)) = open.args.get_mut(a.index) {
                *arg = GoValue::Unavailable(why);
            }
        }
    }
}
