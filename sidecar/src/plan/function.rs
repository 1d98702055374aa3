//! Function lookup and the ABI cross-check: which function, which of its
//! values, where each one is; then one site plan for the entry and one
//! for the returns.

use crate::config::ProbeSpec;
use crate::golang::abi::{self, Loc};
use crate::golang::dwarf::Incomplete;
use crate::golang::types::{Kind, TypeId, TypeTable};
use crate::golang::{BinaryInfo, Function, LookupError, Param, RuntimeLayout};
use crate::recipe::{MAX_STRING, SITE_ENTRY, SITE_RETURN};

use super::builder::Builder;
use super::contract::{byte_layout, ByteLayout, Plan, Shape, Value};
use super::emit;
use super::secrets::Secrets;

/// The end of a "no argument X" message: what the function does take.
fn arguments(available: &[String]) -> String {
    match available {
        [] => "it has no arguments".into(),
        names => format!("its arguments are: {}", names.join(", ")),
    }
}

/// Why a probe cannot be planned at all.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The function name did not resolve.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// `args:` names something the function does not have.
    #[error("function {function} has no argument {arg}; {}", arguments(.available))]
    NoSuchArg {
        /// The function.
        function: String,
        /// The unknown name.
        arg: String,
        /// What it does have.
        available: Vec<String>,
    },
    /// The function's machine code is not where DWARF says.
    #[error("function {0} has no machine code in an executable segment")]
    NoCode(String),
    /// `args:` names arguments of a function whose arguments DWARF does
    /// not describe.
    #[error("function {function} has no arguments gotel can name: {why}")]
    ArgsUnknown {
        /// The function.
        function: String,
        /// Why.
        why: String,
    },
    /// No RET instruction was found: returns cannot be observed.
    #[error("function {0} has no RET instruction (it never returns normally); results and latency cannot be captured")]
    NoRet(String),
    /// `when` or `when_return` reads a value the probe does not capture.
    #[error("{field} reads `{name}`, which is not captured at {site} of {function}; {}", arguments(.available))]
    ConditionName {
        /// `when` or `when_return`.
        field: &'static str,
        /// The function.
        function: String,
        /// The name read.
        name: String,
        /// `entry` or `its return`.
        site: &'static str,
        /// What is captured there.
        available: Vec<String>,
    },
    /// `when` or `when_return` reads a redacted value.
    #[error("{field} reads `{name}`, which redact.names keeps gotel from ever reading; condition on another value")]
    ConditionRedacted {
        /// `when` or `when_return`.
        field: &'static str,
        /// The name read.
        name: String,
    },
    /// `when` or `when_return` does not parse (config validation says so
    /// first; this covers specs built otherwise).
    #[error("{field}: {error}")]
    Condition {
        /// `when` or `when_return`.
        field: &'static str,
        /// The parse error.
        error: crate::condition::ConditionError,
    },
}

/// Plans `spec` against `bin`: one plan per function it names (several
/// for the instantiations of a generic function), then, unless the probe
/// says `inlined: false`, one entry-only plan per inlined site of each.
pub fn plan(bin: &BinaryInfo, spec: &ProbeSpec) -> Result<Vec<Plan>, PlanError> {
    let with_sites = spec.inlined && !bin.symbols_only;
    let found = match bin.lookup_all(&spec.function) {
        Ok(found) => found,
        // Inlined at every call: its sites are all there is to probe.
        Err(LookupError::Inlined { name, sites }) if with_sites => {
            let (mut plans, notes) = super::inlined::inlined_plans(bin, spec, &name, None)
                .map_err(|_| LookupError::Inlined {
                    name: name.clone(),
                    sites,
                })?;
            let Some(first) = plans.first_mut() else {
                return Err(LookupError::Inlined { name, sites }.into());
            };
            first.warnings.extend(notes);
            return Ok(plans);
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for f in found {
        let mut p = plan_function(bin, f, spec)?;
        if !with_sites || f.inlined_sites == 0 {
            out.push(p);
            continue;
        }
        match super::inlined::inlined_plans(bin, spec, &f.name, Some(f)) {
            Ok((sites, notes)) => {
                p.warnings.push(format!(
                    "{} is also inlined at {} call site(s); {} probed at their start (marked inlined; timed where their exits are known, no results)",
                    f.name,
                    f.inlined_sites,
                    sites.len()
                ));
                p.warnings.extend(notes);
                out.push(p);
                out.extend(sites);
            }
            Err(e) => {
                p.warnings.push(e.to_string());
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Plans a resolved function.
pub fn plan_function(bin: &BinaryInfo, f: &Function, spec: &ProbeSpec) -> Result<Plan, PlanError> {
    let types = &bin.dwarf.types;
    let entry_offset = bin
        .file_offset(f.low_pc)
        .ok_or_else(|| PlanError::NoCode(f.name.clone()))?;
    let mut ret_offsets: Vec<u64> = bin
        .ret_sites(f)
        .into_iter()
        .filter_map(|a| bin.file_offset(a))
        .collect();
    // A body that is a lone RET (`func id(x int) int { return x }`): the
    // entry and return probes would share one address and fire in either
    // order. Probe the entry only, reading arguments and results there.
    let instant = ret_offsets.contains(&entry_offset);
    if instant {
        ret_offsets.clear();
    }
    // Entry-only (no results, no latency): one trap per call, and a
    // function that never returns normally can be probed.
    if spec.entry_only() {
        ret_offsets.clear();
    } else if ret_offsets.is_empty() && !instant {
        return Err(PlanError::NoRet(f.name.clone()));
    }
    let mut warnings = Vec::new();

    let args: Vec<_> = f.args().collect();
    let results: Vec<_> = f.results().collect();
    let ids = |ps: &[&Param]| -> Option<Vec<TypeId>> { ps.iter().map(|p| p.ty).collect() };
    let checked = match (ids(&args), ids(&results)) {
        (Some(a), Some(r)) => bin.assign(f, &a, &r).map_err(|e| e.to_string()),
        _ => Err("a parameter has no type in DWARF".to_string()),
    };
    let assignment = checked
        .as_ref()
        .map(|(a, _)| a.clone())
        .map_err(Clone::clone);
    // Never print a value from the wrong register: if the compiler's own
    // DWARF disagrees with the derived ABI, some parameter is missing from
    // the signature and every argument is suspect. Register results are
    // assigned from RAX afresh and stay trustworthy; stack results do not.
    let mut args_suspect = None;
    if let Ok((_, Some(why))) = &checked {
        let why = format!(
            "DWARF and the register ABI disagree ({why}), so arguments are not captured rather than risk reading the wrong register; Go before 1.22 omits blank and unnamed parameters from DWARF"
        );
        warnings.push(why.clone());
        args_suspect = Some(why);
    }

    if bin.symbols_only {
        warnings.push(format!(
            "{} has no DWARF (built with -ldflags=-s -w or stripped): only calls and latency are captured, from Go's function table; rebuild without -s -w to see arguments and results",
            bin.path.display()
        ));
    }
    let unknown = f.incomplete.as_deref();
    if let (Some(_), Some(u)) = (&spec.args, unknown.filter(|u| u.arguments())) {
        return Err(PlanError::ArgsUnknown {
            function: f.name.clone(),
            why: u.reason().to_string(),
        });
    }
    match unknown {
        Some(u) if u.arguments() && spec.returns => {
            warnings.push(format!("arguments and results unknown: {}", u.reason()))
        }
        Some(u) if u.arguments() => warnings.push(format!("arguments unknown: {}", u.reason())),
        Some(u) if spec.returns => warnings.push(format!("results unknown: {}", u.reason())),
        _ => {}
    }
    if let (Some(w), false) = (&spec.args, bin.symbols_only) {
        for name in w {
            let root = name.split('.').next().unwrap_or(name);
            if !args.iter().any(|p| &*p.name == root && !p.is_dictionary()) {
                return Err(PlanError::NoSuchArg {
                    function: f.name.clone(),
                    arg: name.clone(),
                    available: args
                        .iter()
                        .filter(|p| !p.is_dictionary())
                        .map(|p| p.name.to_string())
                        .collect(),
                });
            }
        }
    }

    let g = bin.g_offsets();
    let secrets = Secrets::of(bin, &spec.redact);
    let ctx = SiteCtx {
        types,
        secrets: &secrets,
        layout: bin.dwarf.layout,
        g: (g.goid as u32, g.stack_hi as u32),
        spec,
        args: &args,
        results: &results,
        assignment: &assignment,
        args_suspect: args_suspect.as_deref(),
        unknown,
        instant,
        join: spec.joins_traces() && !bin.symbols_only,
        sdk: super::span_ctx::has_sdk(bin),
    };
    let entry = ctx.build(SITE_ENTRY);
    let ret = ctx.build(SITE_RETURN);
    for b in [&entry, &ret] {
        warnings.extend(b.warnings.iter().cloned());
    }
    // A note, not a value lost: after the warnings that are (the attach log
    // shows the first one and counts the rest).
    // `plan` says what it probes of them otherwise.
    if f.inlined_sites > 0 && (!spec.inlined || bin.symbols_only) {
        warnings.push(format!(
            "{} is also inlined at {} call site(s); calls there are not seen",
            f.name, f.inlined_sites
        ));
    }
    let entry_args = entry.entry_args;
    let (mut entry, mut ret) = (entry.finish(), ret.finish());
    let landings = match (spec.float_landing && spec.returns, &assignment) {
        (true, Ok(a)) if !ret_offsets.is_empty() && unknown.is_none() => {
            let floats = super::landing::floats(&ret, &a.results);
            super::landing::plan(bin, f, &mut ret, &floats)
        }
        _ => None,
    };
    if let Some(l) = &landings {
        super::landing::warn(l, &ret, &mut warnings);
    }
    let landings = landings.filter(|l| !l.sites.is_empty());
    // Float arguments in XMM, read where the function moves them out.
    let arg_landings = match (spec.float_landing, &assignment) {
        (true, Ok(a)) if unknown.is_none() && !instant && args_suspect.is_none() => {
            // Delivered at the entry: an entry-only probe, or a function
            // with no RET (it never returns).
            let no_ret = format!(
                "{} has no RET: each call is delivered at its entry, before it moves the value out of XMM",
                f.name
            );
            let entry_only = match (spec.entry_only(), ret_offsets.is_empty()) {
                (true, _) => Some("an entry-only probe (returns: false, latency: false) delivers each call at its entry, before the function moves it out of XMM"),
                (false, true) => Some(no_ret.as_str()),
                (false, false) => None,
            };
            let with = (args.as_slice(), a.args.as_slice());
            super::arg_landing::plan(bin, f, &entry, with, entry_only, &mut warnings)
        }
        _ => None,
    };
    let names = |site: &super::SitePlan| -> Vec<String> {
        site.values.iter().map(|v| v.name.clone()).collect()
    };
    let mut seen = names(&entry);
    let when = condition(&spec.when, "when", &f.name, &seen, "entry")?;
    // In the kernel too, when it can decide it: no copy for calls it drops.
    let in_kernel = match when.as_deref() {
        Some(w) => {
            let site = entry.clone();
            super::when::compile_into(w, &site, &mut entry.recipe)
        }
        None => false,
    };
    // A probe that keeps some calls only: its return must know which.
    let limited = spec.sample.is_some() || spec.rate_limit.is_some() || in_kernel;
    if limited && !ret_offsets.is_empty() {
        entry.recipe.flags |= crate::recipe::RECIPE_TRACK;
        ret.recipe.flags |= crate::recipe::RECIPE_TRACK;
    }
    // With no return to pair with, a restarted prologue would be a second
    // call: the kernel drops it, told by a probe at the restart site.
    let restart_offsets: Vec<u64> = match spec.entry_only() && !instant {
        true => bin
            .restart_sites(f)
            .into_iter()
            .filter_map(|a| bin.file_offset(a))
            .collect(),
        false => Vec::new(),
    };
    if !restart_offsets.is_empty() {
        entry.recipe.flags |= crate::recipe::RECIPE_RESTARTS;
    }
    // A redacted value is never read: a condition cannot see it.
    let redacted = |c: &Option<String>, field: &'static str| -> Result<(), PlanError> {
        let Some(Ok(c)) = c.as_deref().map(crate::condition::Condition::parse) else {
            return Ok(());
        };
        let names = c.paths().into_iter().flatten();
        match names.into_iter().find(|n| spec.redact.matches(n)) {
            Some(name) => Err(PlanError::ConditionRedacted {
                field,
                name: name.to_string(),
            }),
            None => Ok(()),
        }
    };
    redacted(&spec.when, "when")?;
    redacted(&spec.when_return, "when_return")?;
    seen.extend(names(&ret));
    seen.push("duration".into());
    let when_return = condition(
        &spec.when_return,
        "when_return",
        &f.name,
        &seen,
        "its return",
    )?;
    Ok(Plan {
        when,
        when_return,
        function: f.name.clone(),
        signature: crate::golang::signature(bin, f),
        entry_offset,
        ret_offsets,
        restart_offsets,
        instant,
        entry_args,
        entry,
        ret,
        warnings,
        inlined_at: None,
        untimed: None,
        landings: landings.map(std::sync::Arc::new),
        arg_landings: arg_landings.map(std::sync::Arc::new),
    })
}

/// Parses `text` (a probe's `field`) and checks that every value it reads
/// is captured (`seen`) at `site` of `function`.
pub(super) fn condition(
    text: &Option<String>,
    field: &'static str,
    function: &str,
    seen: &[String],
    site: &'static str,
) -> Result<Option<std::sync::Arc<crate::condition::Condition>>, PlanError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let c = crate::condition::Condition::parse(text)
        .map_err(|error| PlanError::Condition { field, error })?;
    if let Some(name) = c.roots().into_iter().find(|r| !seen.iter().any(|s| s == r)) {
        return Err(PlanError::ConditionName {
            field,
            function: function.to_string(),
            name: name.to_string(),
            site,
            available: seen.iter().filter(|s| !s.is_empty()).cloned().collect(),
        });
    }
    Ok(Some(std::sync::Arc::new(c)))
}

/// What planning one site of one function needs.
pub(super) struct SiteCtx<'a> {
    pub(super) types: &'a TypeTable,
    /// What is never copied (`redact:`).
    pub(super) secrets: &'a Secrets,
    pub(super) layout: RuntimeLayout,
    /// goid and stack.hi offsets in runtime.g.
    pub(super) g: (u32, u32),
    pub(super) spec: &'a ProbeSpec,
    pub(super) args: &'a [&'a Param],
    pub(super) results: &'a [&'a Param],
    pub(super) assignment: &'a Result<abi::Assignment, String>,
    pub(super) args_suspect: Option<&'a str>,
    /// What DWARF does not list: such values are one [`whole_list`] value.
    pub(super) unknown: Option<&'a Incomplete>,
    /// The entry is the only site: it captures the results too.
    pub(super) instant: bool,
    /// Join the application's traces (`join_traces`).
    pub(super) join: bool,
    /// The binary has the OpenTelemetry SDK: follow context arguments.
    pub(super) sdk: bool,
}

/// The join ops of an entry: the context walk's and the `traceparent`
/// scan's, each with what it reads.
type JoinOps = (
    Option<(crate::recipe::RawOp, String)>,
    Option<(crate::recipe::RawOp, String)>,
);

impl<'a> SiteCtx<'a> {
    /// Plans the entry or return site. The speculative reads that decode
    /// interfaces' dynamic values are dropped again when they crowd out
    /// any other value.
    pub(super) fn build(&self, site: u8) -> Builder<'a> {
        // What every value needs without extras, then the extras (an
        // interface's speculative reads, a small map's entries) in order,
        // each only if the values after it still fit.
        let base = self.build_with(site, false, &[], &[]);
        let later = suffix_sums(&base.costs);
        // Short of room: structs and arrays give way to the values after
        // them, which keep at least what shows them at all.
        let least = match base.crowded {
            true => {
                let each: Vec<(u32, u32)> = self
                    .value_types(site)
                    .into_iter()
                    .map(|ty| least_cost(self.types, ty, self.spec))
                    .collect();
                suffix_sums(&each)
            }
            false => Vec::new(),
        };
        let full = self.build_with(site, true, &later, &least);
        if full.crowded && !base.crowded {
            return base;
        }
        full
    }

    /// The ops finding the application's trace context, if the probe joins
    /// traces: the walk of a context argument (binaries with the SDK), and
    /// the `traceparent` header of an `*http.Request` argument.
    fn join_ops(&self) -> JoinOps {
        let (true, None, Ok(a)) = (self.join, self.args_suspect, self.assignment) else {
            return (None, None);
        };
        let args: Vec<_> = self
            .args
            .iter()
            .zip(&a.args)
            .filter_map(|(p, parts)| Some((&*p.name, p.ty?, parts.as_slice())))
            .collect();
        let span = match self.sdk {
            true => super::span_ctx::context_op(self.types, &args),
            false => None,
        };
        let tp = super::span_ctx::traceparent_op(self.types, &self.layout, &args);
        (span, tp)
    }

    /// The types of the values a site plans, in order (None: a field path,
    /// or no type in DWARF).
    fn value_types(&self, site: u8) -> Vec<Option<TypeId>> {
        let mut out = Vec::new();
        if site == SITE_ENTRY && self.unknown.is_some_and(|u| u.arguments()) {
            out.push(None);
        } else if site == SITE_ENTRY {
            for p in self.args.iter().filter(|p| !p.is_dictionary()) {
                for path in selected(self.spec, p) {
                    out.push(p.ty.filter(|_| path == &*p.name));
                }
            }
        }
        if (site == SITE_RETURN || self.instant) && self.spec.returns {
            match self.unknown {
                Some(_) => out.push(None),
                None => out.extend(self.results.iter().map(|p| p.ty)),
            }
        }
        out
    }

    /// `later[i]`: ops and bytes the values after value i need without
    /// extras (empty: no reservation); `least[i]`: what they need at the
    /// least, which a struct or array being planned leaves them (empty:
    /// nothing left).
    fn build_with(
        &self,
        site: u8,
        extras: bool,
        later: &[(u32, u32)],
        least: &[(u32, u32)],
    ) -> Builder<'a> {
        let spec = self.spec;
        let mut b = Builder::new(
            (self.types, self.secrets),
            self.layout,
            site,
            self.g,
            spec,
            extras,
        );
        b.reserve_after(0, later);
        // The callers first: op 0 (see `stack::push_stack`).
        if let (SITE_ENTRY, Some(depth)) = (site, spec.stack) {
            b.stack = super::stack::push_stack(&mut b, depth);
        }
        let assignment = self.assignment;
        let args_suspect = self.args_suspect;
        if let (SITE_ENTRY, Some(u)) = (site, self.unknown.filter(|u| u.arguments())) {
            b.push_value(whole_list(u.reason()), later);
            b.entry_args = b.values.len();
        } else if site == SITE_ENTRY {
            let (span, traceparent) = self.join_ops();
            if let Some((op, reads)) = span {
                let bytes = super::span_ctx::SPAN_CTX_BYTES;
                b.span = b.push_join(op, bytes).map(|i| (i, reads));
            }
            if let Some((op, reads)) = traceparent {
                let bytes = super::span_ctx::TRACEPARENT_BYTES;
                b.traceparent = b.push_join(op, bytes).map(|i| (i, reads));
            }
            for (i, p) in self.args.iter().enumerate() {
                if p.is_dictionary() {
                    continue;
                }
                for path in selected(spec, p) {
                    let whole = p.ty.filter(|_| path == &*p.name);
                    self.leave_least(&mut b, whole, least);
                    let value = match (assignment, p.ty) {
                        _ if args_suspect.is_some() => {
                            unavailable(path, "?", args_suspect.unwrap_or_default())
                        }
                        (Ok(a), Some(ty)) => b.value(path, &p.name, ty, &a.args[i]),
                        (Err(why), _) => unavailable(path, "?", why),
                        (_, None) => unavailable(path, "?", "no type in DWARF"),
                    };
                    b.push_value(value, later);
                }
            }
            b.entry_args = b.values.len();
        }
        let results = (site == SITE_RETURN || self.instant) && spec.returns;
        if let (true, Some(u)) = (results, self.unknown) {
            b.push_value(whole_list(u.reason()), later);
        } else if results {
            for (i, p) in self.results.iter().enumerate() {
                let name = result_name(&p.name, i);
                self.leave_least(&mut b, p.ty, least);
                let value = match (assignment, p.ty) {
                    // Stack-assigned results sit after the stack-assigned
                    // arguments: a missing argument moves them too.
                    (Ok(a), Some(_))
                        if args_suspect.is_some()
                            && a.results[i].iter().any(|p| matches!(p.loc, Loc::Stack(_))) =>
                    {
                        unavailable(&name, "?", args_suspect.unwrap_or_default())
                    }
                    (Ok(a), Some(ty)) => b.value(&name, &name, ty, &a.results[i]),
                    (Err(why), _) => unavailable(&name, "?", why),
                    (_, None) => unavailable(&name, "?", "no type in DWARF"),
                };
                b.push_value(value, later);
            }
        }
        b.budget.reserve_least((0, 0));
        b.crowded = b.budget.short();
        b.expand_pointers();
        b.expand_map_groups();
        b
    }
}

impl SiteCtx<'_> {
    /// Before planning the next value of `b`: a struct, array or slice
    /// leaves the values after it `least` of theirs; any other value takes
    /// what it needs.
    fn leave_least(&self, b: &mut Builder, ty: Option<TypeId>, least: &[(u32, u32)]) {
        let composite = ty.is_some_and(|t| {
            matches!(
                self.types.get(t).kind,
                Kind::Struct { .. } | Kind::Array { .. } | Kind::Slice { .. }
            )
        });
        let next = least.get(b.values.len() + 1).copied().unwrap_or((0, 0));
        b.budget
            .reserve_least(if composite { next } else { (0, 0) });
    }
}

/// The arguments' paths a probe asks for of argument `p`: all of it, or
/// the paths in `args:` that start at it.
fn selected<'s>(spec: &'s ProbeSpec, p: &'s Param) -> Vec<&'s str> {
    match &spec.args {
        None => vec![&*p.name],
        Some(w) => w
            .iter()
            .map(|s| s.as_str())
            .filter(|n| n.split('.').next() == Some(&*p.name))
            .collect(),
    }
}

/// `v[i..]` summed, for every i (one more entry: the empty suffix).
fn suffix_sums(v: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = vec![(0, 0); v.len() + 1];
    for i in (0..v.len()).rev() {
        out[i] = (out[i + 1].0 + v[i].0, out[i + 1].1 + v[i].1);
    }
    out
}

/// The least a value of type `ty` needs to be shown at all at a crowded
/// site: its word, its string, an interface's type and message, a slice's
/// shortest strings or first [`LEAST_ELEMS`] elements (their own least:
/// a slice of structs, its length). Structs and arrays need nothing
/// reserved: they are what gets trimmed, and slices' elements, past that.
fn least_cost(types: &TypeTable, ty: Option<TypeId>, spec: &ProbeSpec) -> (u32, u32) {
    let Some(ty) = ty else {
        return (0, 0);
    };
    let max = spec.max_string_len;
    match &types.get(ty).kind {
        Kind::Struct { .. } | Kind::Array { .. } => (0, 0),
        Kind::String => (1, emit::run_bytes(max)),
        Kind::Interface { .. } => (2, emit::WORD + emit::run_bytes(max)),
        Kind::Slice { elem: Some(e) } => {
            let n = spec.max_elems.min(255);
            let fixed = emit::SEQ_HEAD + emit::WORD;
            match &types.get(*e).kind {
                // As `Builder::string_slice` shrinks them: 8 bytes each.
                Kind::String => (2, fixed + n * emit::run_bytes(8)),
                _ => match byte_layout(types, *e) {
                    // Copied whole, as many bytes as `Builder::slice` asks.
                    Some(l) => {
                        let size = types.get(*e).size.max(1);
                        let bytes = match l {
                            ByteLayout::Byte => max,
                            _ => (u64::from(n) * size).min(u64::from(MAX_STRING) / size * size)
                                as u32,
                        };
                        (2, emit::run_bytes(bytes) + emit::WORD)
                    }
                    None => {
                        let (ops, each) = least_cost(types, Some(*e), spec);
                        let n = n.min(LEAST_ELEMS);
                        (2 + ops, fixed + n * (emit::ELEM_STATUS + each))
                    }
                },
            }
        }
        _ => (1, emit::WORD),
    }
}

/// Elements of a slice that a crowded site keeps room for.
const LEAST_ELEMS: u32 = 4;

/// `~r0` → `r0`; named results keep their names.
fn result_name(name: &str, index: usize) -> String {
    match name.strip_prefix('~') {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ if name.is_empty() => format!("r{index}"),
        _ => name.to_string(),
    }
}

/// The one value standing for a whole list DWARF does not give (see
/// [`Value::is_whole_list`]).
pub(super) fn whole_list(why: &str) -> Value {
    unavailable("", "?", why)
}

fn unavailable(name: &str, ty: &str, why: &str) -> Value {
    Value {
        name: name.to_string(),
        ty: ty.to_string(),
        location: "-".into(),
        shape: Shape::Unavailable(why.to_string()),
    }
}
