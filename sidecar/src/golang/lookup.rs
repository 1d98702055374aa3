//! Finding functions by the names users write: full symbol names, short
//! forms (`computeE`, `(*T).M`), generic functions without their type
//! arguments, with suggestions for typos; and a function's Go signature.

use super::{BinaryInfo, Function, Param};

/// Why a function name does not resolve to exactly one function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No such function.
    #[error("no function {name} in {binary}{}", did_you_mean(.suggestions))]
    NotFound {
        /// What the user asked for.
        name: String,
        /// The binary searched.
        binary: String,
        /// Near matches.
        suggestions: Vec<String>,
    },
    /// The short name matches several functions.
    #[error("function name {name} is ambiguous; use one of: {}", .candidates.join(", "))]
    Ambiguous {
        /// What the user asked for.
        name: String,
        /// The full names that match.
        candidates: Vec<String>,
    },
    /// The compiler inlined every call; there is no code to probe.
    #[error("function {name} is inlined at {sites} call site(s) and has no out-of-line copy to probe; mark it //go:noinline or probe its callers")]
    Inlined {
        /// The full name.
        name: String,
        /// Inlined call sites.
        sites: usize,
    },
}

fn did_you_mean(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", s.join(", "))
    }
}

impl BinaryInfo {
    /// Every function a probe on `name` attaches to: the one [`lookup`]
    /// finds, or else, when `name` is a generic function or a method of a
    /// generic type written without type arguments (`pkg.Max`,
    /// `(*Stack).Push`), all of its shape instantiations.
    ///
    /// [`lookup`]: BinaryInfo::lookup
    pub fn lookup_all(&self, name: &str) -> Result<Vec<&Function>, LookupError> {
        let err = match self.lookup(name) {
            Ok(f) => return Ok(vec![f]),
            Err(e @ LookupError::NotFound { .. }) => e,
            Err(e) => return Err(e),
        };
        let mut bases: Vec<String> = Vec::new();
        let mut found = Vec::new();
        for f in &self.dwarf.functions {
            if !f.name.contains('[') {
                continue;
            }
            let base = without_type_args(&f.name);
            if base == name || short_match(&base, name) {
                if !bases.contains(&base) {
                    bases.push(base);
                }
                found.push(f);
            }
        }
        // Fully instantiated names (`main.(*Stack[int]).Push`) are
        // wrappers that call the shape body: probing both would report
        // each call twice.
        if found.iter().any(|f| f.name.contains("go.shape.")) {
            found.retain(|f| f.name.contains("go.shape."));
        }
        match bases.len() {
            0 => Err(err),
            1 => Ok(found),
            _ => Err(LookupError::Ambiguous {
                name: name.into(),
                candidates: bases,
            }),
        }
    }

    /// Finds a function by full name or unambiguous short form
    /// (`computeE`, `main.computeE`, `(*T).M`, `pkg.(*T).M`).
    pub fn lookup(&self, name: &str) -> Result<&Function, LookupError> {
        let funcs = &self.dwarf.functions;
        if let Ok(i) = funcs.binary_search_by(|f| f.name.as_str().cmp(name)) {
            return Ok(&funcs[i]);
        }
        let matches: Vec<&Function> = funcs
            .iter()
            .filter(|f| short_match(&f.name, name))
            .collect();
        match matches.len() {
            1 => return Ok(matches[0]),
            n if n > 1 => {
                return Err(LookupError::Ambiguous {
                    name: name.into(),
                    candidates: matches.iter().map(|f| f.name.clone()).collect(),
                })
            }
            _ => {}
        }
        if let Some((full, &sites)) = self
            .dwarf
            .inlined_only
            .iter()
            .find(|(full, _)| full.as_str() == name || short_match(full, name))
        {
            return Err(LookupError::Inlined {
                name: full.clone(),
                sites,
            });
        }
        Err(LookupError::NotFound {
            name: name.into(),
            binary: self.path.display().to_string(),
            suggestions: suggest(funcs.iter().map(|f| f.name.as_str()), name),
        })
    }

    /// The function whose code contains `pc` (a link-time address).
    pub fn function_at(&self, pc: u64) -> Option<&Function> {
        let by_addr = self.by_addr.get_or_init(|| {
            let mut v: Vec<(u64, u64, usize)> = self
                .dwarf
                .functions
                .iter()
                .enumerate()
                .map(|(i, f)| (f.low_pc, f.high_pc, i))
                .collect();
            v.sort_unstable();
            v
        });
        let i = by_addr
            .partition_point(|&(low, _, _)| low <= pc)
            .checked_sub(1)?;
        let (low, high, idx) = by_addr[i];
        (pc >= low && pc < high).then(|| &self.dwarf.functions[idx])
    }
}

/// The part of a symbol after its package path: `github.com/x/y.(*T).M` → `(*T).M`.
pub fn local_name(full: &str) -> &str {
    let after_slash = full.rfind('/').map_or(full, |i| &full[i + 1..]);
    // Package names contain no dots; the first dot ends the package.
    after_slash
        .find('.')
        .map_or(after_slash, |i| &after_slash[i + 1..])
}

/// `main.Max[go.shape.int]` → `main.Max`; `main.(*Stack[int]).Push` →
/// `main.(*Stack).Push`: the name as the user writes it in source.
pub fn without_type_args(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0u32;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn short_match(full: &str, q: &str) -> bool {
    let local = local_name(full);
    if local == q {
        return true;
    }
    // pkg.local, with pkg the last path element.
    let after_slash = full.rfind('/').map_or(full, |i| &full[i + 1..]);
    after_slash == q
}

fn suggest<'a>(names: impl Iterator<Item = &'a str>, q: &str) -> Vec<String> {
    let ql = local_name(q).to_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .map(|n| (strsim::jaro_winkler(&local_name(n).to_lowercase(), &ql), n))
        .filter(|(s, _)| *s > 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Formats a function's Go signature: `main.greet(name string, times int) (string, int)`.
pub fn signature(bin: &BinaryInfo, f: &Function) -> String {
    let ty = |p: &Param| {
        p.ty.map(|t| bin.dwarf.types.get(t).name.clone())
            .unwrap_or_else(|| "?".into())
    };
    let args: Vec<String> = f
        .args()
        .filter(|p| !p.is_dictionary())
        .map(|p| format!("{} {}", p.name, ty(p)))
        .collect();
    let results: Vec<&Param> = f.results().collect();
    let res = match results.as_slice() {
        [] => String::new(),
        [r] if r.name.starts_with('~') => format!(" {}", ty(r)),
        rs => {
            let parts: Vec<String> = rs
                .iter()
                .map(|r| {
                    if r.name.starts_with('~') {
                        ty(r)
                    } else {
                        format!("{} {}", r.name, ty(r))
                    }
                })
                .collect();
            format!(" ({})", parts.join(", "))
        }
    };
    if bin.symbols_only {
        return format!("{}(…) (no DWARF: signature unknown)", f.name);
    }
    format!("{}({}){}", f.name, args.join(", "), res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names_strip_the_package_path() {
        assert_eq!(local_name("main.computeE"), "computeE");
        assert_eq!(local_name("github.com/x/y.(*T).M"), "(*T).M");
        assert_eq!(
            local_name("net/http.(*ServeMux).ServeHTTP"),
            "(*ServeMux).ServeHTTP"
        );
        assert!(short_match("github.com/x/y.(*T).M", "y.(*T).M"));
        assert!(!short_match("main.computeEx", "computeE"));
    }

    #[test]
    fn type_arguments_are_dropped_at_every_depth() {
        assert_eq!(without_type_args("main.Max[go.shape.int]"), "main.Max");
        assert_eq!(
            without_type_args("main.(*Stack[go.shape.map[string]int]).Push"),
            "main.(*Stack).Push"
        );
        assert_eq!(without_type_args("main.plain"), "main.plain");
    }
}
