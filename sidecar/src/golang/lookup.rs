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
    #[error("function name {name} is ambiguous; use one of: {}", first_few(.candidates))]
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

/// Most candidates an ambiguous name lists; `gotel functions` lists all.
const LISTED: usize = 10;

fn first_few(c: &[String]) -> String {
    match c.len() {
        n if n > LISTED => format!(
            "{} (and {} more; `gotel functions` lists them)",
            c[..LISTED].join(", "),
            n - LISTED
        ),
        _ => c.join(", "),
    }
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
        let err = match self.lookup_exact(name) {
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
            0 => Err(self.not_found(err, name)),
            1 => Ok(found),
            _ => Err(LookupError::Ambiguous {
                name: name.into(),
                candidates: bases,
            }),
        }
    }

    /// Finds a function by full name or unambiguous short form
    /// (`computeE`, `main.computeE`, `(*T).M`, `pkg.(*T).M`); when there is
    /// none, says which functions a bare method name names, or what is
    /// spelt nearly so.
    pub fn lookup(&self, name: &str) -> Result<&Function, LookupError> {
        self.lookup_exact(name).map_err(|e| self.not_found(e, name))
    }

    /// As [`BinaryInfo::lookup`], without the candidates and suggestions.
    fn lookup_exact(&self, name: &str) -> Result<&Function, LookupError> {
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
            suggestions: Vec::new(),
        })
    }

    /// A `NotFound` for `name` made helpful: a bare method name (`Get`,
    /// `ServeHTTP`) names every method of that name; else near spellings.
    fn not_found(&self, e: LookupError, name: &str) -> LookupError {
        let LookupError::NotFound { binary, .. } = e else {
            return e;
        };
        let funcs = &self.dwarf.functions;
        let same_method = by_method(funcs.iter().map(|f| f.name.as_str()), name);
        if same_method.len() > 1 {
            return LookupError::Ambiguous {
                name: name.into(),
                candidates: same_method,
            };
        }
        let suggestions = match same_method.is_empty() {
            true => suggest(funcs.iter().map(|f| f.name.as_str()), name),
            false => same_method,
        };
        LookupError::NotFound {
            name: name.into(),
            binary,
            suggestions,
        }
    }

    /// The source file and line of link-time address `pc`, from
    /// `.gopclntab` (copied out of the mapped file on first use; its pages
    /// are handed back again).
    pub fn file_line(&self, pc: u64) -> Option<(String, u32)> {
        self.lines
            .get_or_init(|| {
                let table = super::pcln::LineTable::read(self.data.bytes());
                self.data.release();
                table
            })
            .as_ref()?
            .file_line(pc)
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

/// The last element of a name: a method's or function's own name
/// (`net/http.Header.Get` → `Get`, `main.(*T).M` → `M`).
fn last_name(full: &str) -> &str {
    full.rsplit('.').next().unwrap_or(full)
}

/// The package a name is in, as its last path element (`net/http.Header.Get`
/// → `http`); None for a bare name.
fn package_of(full: &str) -> Option<&str> {
    let after_slash = full.rfind('/').map_or(full, |i| &full[i + 1..]);
    after_slash
        .find('.')
        .map(|i| &after_slash[..i])
        .filter(|p| !p.starts_with('('))
}

/// Every function a bare method or function name (no package, no receiver)
/// names, sorted: `Get` → `net/http.Header.Get`, `net/url.Values.Get`…
fn by_method<'a>(names: impl Iterator<Item = &'a str>, q: &str) -> Vec<String> {
    if q.contains(['.', '(', '*']) {
        return Vec::new();
    }
    let mut v: Vec<String> = names
        .filter(|n| last_name(n) == q && !n.contains('['))
        .map(str::to_string)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Near spellings of `q`: of the whole local name, and, when `q` names a
/// package, of the method or function name within that package (so
/// `bttest.CreateTabl` finds `…/bttest.(*server).CreateTable`).
fn suggest<'a>(names: impl Iterator<Item = &'a str> + Clone, q: &str) -> Vec<String> {
    let ql = local_name(q).to_lowercase();
    let (mut qpkg, qlast) = (package_of(q), last_name(q).to_lowercase());
    // A package that exists narrows the search to it; a misspelt one does not.
    if !names.clone().any(|n| package_of(n) == qpkg) {
        qpkg = None;
    }
    let mut scored: Vec<(f64, f64, &str)> = names
        .filter(|n| qpkg.is_none() || package_of(n) == qpkg)
        .map(|n| {
            let whole = strsim::jaro_winkler(&local_name(n).to_lowercase(), &ql);
            let in_package = match qpkg {
                Some(p) if package_of(n) == Some(p) => {
                    strsim::jaro_winkler(&last_name(n).to_lowercase(), &qlast)
                }
                _ => 0.0,
            };
            (whole.max(in_package), whole, n)
        })
        .filter(|(s, _, _)| *s > 0.85)
        .collect();
    // Ties on the method name go to the nearer whole name (the receiver).
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.1.total_cmp(&a.1))
            .then(a.2.cmp(b.2))
    });
    scored
        .into_iter()
        .take(3)
        .map(|(_, _, n)| n.to_string())
        .collect()
}

/// Formats a function's Go signature: `main.greet(name string, times int) (string, int)`;
/// `?` where DWARF is provably short of it (see [`Function::incomplete`]).
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
    // What DWARF does not give is a `?`, never an empty list.
    match &f.incomplete {
        Some(u) if u.arguments() => format!("{}(?) ?", f.name),
        Some(_) => format!("{}({}) ?", f.name, args.join(", ")),
        None => format!("{}({}){}", f.name, args.join(", "), res),
    }
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

    const NAMES: [&str; 7] = [
        "net/http.Header.Get",
        "net/url.Values.Get",
        "net/http.(*Client).Get",
        "text/template.ge",
        "cloud.google.com/go/bigtable/bttest.(*server).CreateTable",
        "cloud.google.com/go/bigtable/bttest.(*server).DeleteTable",
        "main.Max[go.shape.int]",
    ];

    #[test]
    fn a_bare_method_name_lists_every_method_of_that_name() {
        assert_eq!(
            by_method(NAMES.into_iter(), "Get"),
            [
                "net/http.(*Client).Get",
                "net/http.Header.Get",
                "net/url.Values.Get"
            ]
        );
        assert!(by_method(NAMES.into_iter(), "http.Get").is_empty());
        assert!(by_method(NAMES.into_iter(), "Gett").is_empty());
        let many: Vec<String> = (0..12).map(|i| format!("p{i}.T.Get")).collect();
        assert_eq!(
            first_few(&many),
            "p0.T.Get, p1.T.Get, p2.T.Get, p3.T.Get, p4.T.Get, p5.T.Get, p6.T.Get, p7.T.Get, p8.T.Get, p9.T.Get (and 2 more; `gotel functions` lists them)"
        );
    }

    #[test]
    fn a_typo_in_a_method_name_suggests_the_method_in_that_package() {
        assert_eq!(
            suggest(NAMES.into_iter(), "bttest.CreateTabl"),
            ["cloud.google.com/go/bigtable/bttest.(*server).CreateTable"]
        );
        // Not an unrelated near spelling in another package.
        assert_eq!(
            suggest(NAMES.into_iter(), "http.Gett"),
            ["net/http.(*Client).Get", "net/http.Header.Get"]
        );
        // A typo in the receiver: the nearer whole name first.
        assert_eq!(
            suggest(NAMES.into_iter(), "http.Heder.Get")[0],
            "net/http.Header.Get"
        );
        // A misspelt package does not narrow the search.
        assert_eq!(
            suggest(NAMES.into_iter(), "htp.Header.Get"),
            ["net/http.Header.Get"]
        );
        assert_eq!(package_of("net/http.Header.Get"), Some("http"));
        assert_eq!(package_of("Get"), None);
        assert_eq!(last_name("main.(*T).M"), "M");
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
