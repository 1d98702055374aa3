//! What gotel needs from the kernel to trace, and the one start-up line that
//! names what is missing.
//!
//! The set is CAP_SYS_ADMIN + CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH. Since Linux 6.16 (commit
//! ba677dbe77af, backported to the 6.1, 6.6, 6.12 and 6.15 stable kernels in
//! July 2025) `perf_uprobe_event_init` (kernel/events/core.c) creates a uprobe
//! only for `capable(CAP_SYS_ADMIN)`: a uprobe placed mid-instruction corrupts
//! the traced program, and CAP_PERFMON was judged not enough to allow that.
//! CAP_SYS_ADMIN also satisfies `bpf_capable()` and `perfmon_capable()`, so
//! CAP_BPF and CAP_PERFMON add nothing. CAP_SYS_PTRACE passes the ptrace
//! access checks on another user's (or a more privileged) process:
//! `/proc/PID/exe` and `/proc/PID/root` (the way into another container's
//! files), `maps`, `environ`, and `mem` (Go error texts). Those checks come
//! after the file's own permissions: `/proc/PID/mem` (0600) and `environ`
//! (0400) belong to the app's user, and a binary may not be readable by
//! gotel's, which CAP_DAC_READ_SEARCH passes (reads only).
//!
//! Whether the kernel creates uprobes for us is asked of the kernel itself
//! ([`uprobes_allowed`]), not inferred from its version: stable backports make
//! the version a poor guide.

/// Whether the kernel lets this process create uprobes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uprobes {
    /// The uprobe PMU accepted us (up to the missing path).
    Allowed,
    /// The uprobe PMU refused: EACCES.
    Refused,
    /// No uprobe PMU to ask (`/sys` not mounted, or a kernel before 4.17).
    Unknown,
}

/// What gotel holds: its effective capabilities and the kernel's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privileges {
    /// `CapEff` of `/proc/self/status`: bit N is capability N.
    pub effective: u64,
    /// The uprobe PMU's answer.
    pub uprobes: Uprobes,
    /// False in a user namespace other than the initial one, where the
    /// kernel's `capable()` checks are not met by the namespace's caps.
    pub initial_user_namespace: bool,
}

/// One capability gotel lacks, and what fails without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    /// `CAP_…`, as capabilities(7) names it.
    pub name: &'static str,
    /// What fails without it.
    pub why: &'static str,
}

const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The set gotel documents: the one line every message ends with.
pub const NEEDED: &str = "CAP_SYS_ADMIN + CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH";

/// The same set as a pod spec's `capabilities.add` names it (`gotel
/// inject`, `k8s/`).
pub const CAPABILITIES: &[&str] = &["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"];

const SYS_ADMIN: Missing = Missing {
    name: "CAP_SYS_ADMIN",
    why: "the kernel creates uprobes only for CAP_SYS_ADMIN (perf_uprobe_event_init, Linux >= 6.16 and stable kernels since July 2025)",
};
const SYS_PTRACE: Missing = Missing {
    name: "CAP_SYS_PTRACE",
    why: "reading /proc/PID/exe, root, maps and mem of a process of another user or with capabilities gotel lacks",
};
const DAC_READ_SEARCH: Missing = Missing {
    name: "CAP_DAC_READ_SEARCH",
    why: "reading /proc/PID/mem and environ of a process of another user, and executables gotel's user cannot read",
};
const BPF: Missing = Missing {
    name: "CAP_BPF",
    why: "loading the BPF program",
};

impl Privileges {
    fn has(&self, cap: u32) -> bool {
        self.effective & (1 << cap) != 0
    }

    /// The capabilities of [`NEEDED`] that are missing, most fundamental
    /// first. Where the uprobe PMU still admits CAP_PERFMON (kernels before
    /// the change), CAP_BPF stands in for CAP_SYS_ADMIN's share of loading.
    pub fn missing(&self) -> Vec<Missing> {
        let admin = self.has(CAP_SYS_ADMIN);
        let mut out = Vec::new();
        match self.uprobes {
            Uprobes::Refused => out.push(SYS_ADMIN),
            Uprobes::Unknown if !admin => out.push(SYS_ADMIN),
            Uprobes::Allowed if !admin && !self.has(CAP_BPF) => out.push(BPF),
            _ => {}
        }
        if !self.has(CAP_SYS_PTRACE) {
            out.push(SYS_PTRACE);
        }
        if !self.has(CAP_DAC_READ_SEARCH) && !self.has(CAP_DAC_OVERRIDE) {
            out.push(DAC_READ_SEARCH);
        }
        out
    }

    /// Whether nothing can be traced: no uprobes, or no BPF program. The
    /// others fail per process (those of other users, or more privileged).
    pub fn fatal(&self) -> bool {
        self.missing()
            .iter()
            .any(|m| m.name == SYS_ADMIN.name || m.name == BPF.name)
    }

    /// The start-up line naming what is missing; None when nothing is.
    pub fn message(&self) -> Option<String> {
        let missing = self.missing();
        if missing.is_empty() {
            return None;
        }
        let list = missing
            .iter()
            .map(|m| format!("{} ({})", m.name, m.why))
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if missing.len() == 1 {
            "capability"
        } else {
            "capabilities"
        };
        let userns = if self.initial_user_namespace {
            ""
        } else {
            "; gotel runs in a user namespace, whose capabilities the kernel does not count for uprobes and BPF"
        };
        Some(format!(
            "missing {noun} {list}; run gotel as root or with {NEEDED}{userns}"
        ))
    }
}

/// What this process holds, asking the kernel where it can.
pub fn current() -> Privileges {
    Privileges {
        effective: crate::proc::effective_capabilities().unwrap_or(0),
        uprobes: uprobes_allowed(),
        initial_user_namespace: crate::proc::in_initial_user_namespace(),
    }
}

/// Asks the uprobe PMU whether it would create a uprobe for us, without
/// creating one: `perf_event_open` with the attributes aya uses but no path.
/// The kernel checks privilege (`perf_allow_kernel`, then
/// `perf_uprobe_event_init`) before it looks at the path, so EACCES is a
/// refusal and EINVAL (no path) a yes.
pub fn uprobes_allowed() -> Uprobes {
    let Some(pmu) = std::fs::read_to_string("/sys/bus/event_source/devices/uprobe/type")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    else {
        return Uprobes::Unknown;
    };
    // perf_event_attr up to config2 (PERF_ATTR_SIZE_VER1): type, size, then
    // zeros; config1 (the uprobe path) stays null.
    const SIZE: usize = 72;
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
    let mut attr = [0u64; SIZE / 8];
    attr[0] = u64::from(pmu) | ((SIZE as u64) << 32);
    // SAFETY: perf_event_open reads `SIZE` bytes of `attr`, which lives
    // across the call; a returned fd is ours and closed at once.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            0,
            -1,
            -1,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd >= 0 {
        // SAFETY: closing the fd the kernel just gave us.
        unsafe { libc::close(fd as i32) };
        return Uprobes::Allowed;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => Uprobes::Refused,
        Some(libc::EINVAL) => Uprobes::Allowed,
        _ => Uprobes::Unknown,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pod_spec_set_is_the_documented_set() {
        let caps: Vec<String> = super::CAPABILITIES
            .iter()
            .map(|c| format!("CAP_{c}"))
            .collect();
        assert_eq!(caps.join(" + "), super::NEEDED);
    }

    use super::*;

    const ALL: u64 = (1 << 41) - 1;

    fn p(effective: u64, uprobes: Uprobes) -> Privileges {
        Privileges {
            effective,
            uprobes,
            initial_user_namespace: true,
        }
    }

    fn names(p: Privileges) -> Vec<&'static str> {
        p.missing().iter().map(|m| m.name).collect()
    }

    #[test]
    fn root_misses_nothing() {
        assert_eq!(p(ALL, Uprobes::Allowed).message(), None);
        let set = 1 << CAP_SYS_ADMIN | 1 << CAP_SYS_PTRACE | 1 << CAP_DAC_READ_SEARCH;
        assert_eq!(p(set, Uprobes::Allowed).message(), None);
        // CAP_DAC_OVERRIDE passes the same read checks.
        let set = 1 << CAP_SYS_ADMIN | 1 << CAP_SYS_PTRACE | 1 << CAP_DAC_OVERRIDE;
        assert_eq!(p(set, Uprobes::Allowed).message(), None);
    }

    #[test]
    fn the_perfmon_set_misses_sys_admin_on_this_kernel() {
        // CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE (+ CAP_DAC_READ_SEARCH):
        // the PMU says EACCES.
        let set = 1 << CAP_BPF | 1 << 38 | 1 << CAP_SYS_PTRACE | 1 << CAP_DAC_READ_SEARCH;
        let refused = p(set, Uprobes::Refused);
        assert_eq!(names(refused), ["CAP_SYS_ADMIN"]);
        assert!(refused.fatal());
        assert_eq!(
            refused.message().unwrap(),
            "missing capability CAP_SYS_ADMIN (the kernel creates uprobes only for CAP_SYS_ADMIN (perf_uprobe_event_init, Linux >= 6.16 and stable kernels since July 2025)); run gotel as root or with CAP_SYS_ADMIN + CAP_SYS_PTRACE + CAP_DAC_READ_SEARCH"
        );
        // An older kernel admits CAP_PERFMON: nothing is missing.
        assert_eq!(p(set, Uprobes::Allowed).message(), None);
        // Without CAP_BPF there, loading fails.
        let no_bpf = p(
            1 << 38 | 1 << CAP_SYS_PTRACE | 1 << CAP_DAC_OVERRIDE,
            Uprobes::Allowed,
        );
        assert_eq!(names(no_bpf), ["CAP_BPF"]);
        assert!(no_bpf.fatal());
    }

    #[test]
    fn names_each_missing_capability_in_one_line() {
        let none = p(0, Uprobes::Refused);
        assert_eq!(
            names(none),
            ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"]
        );
        let msg = none.message().unwrap();
        assert!(
            msg.starts_with("missing capabilities CAP_SYS_ADMIN ("),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
        // Per-process failures are not fatal: other processes are traced.
        let admin = p(1 << CAP_SYS_ADMIN, Uprobes::Allowed);
        assert_eq!(names(admin), ["CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"]);
        assert!(!admin.fatal());
        // Without a PMU to ask, the documented set decides.
        let ptrace = 1 << CAP_SYS_PTRACE | 1 << CAP_DAC_READ_SEARCH;
        assert_eq!(names(p(ptrace, Uprobes::Unknown)), ["CAP_SYS_ADMIN"]);
        assert_eq!(p(ALL, Uprobes::Unknown).message(), None);
    }

    #[test]
    fn says_when_a_user_namespace_is_why() {
        let userns = Privileges {
            initial_user_namespace: false,
            ..p(ALL, Uprobes::Refused)
        };
        let msg = userns.message().unwrap();
        assert!(msg.contains("CAP_SYS_ADMIN ("), "{msg}");
        assert!(msg.ends_with("runs in a user namespace, whose capabilities the kernel does not count for uprobes and BPF"), "{msg}");
    }

    #[test]
    fn this_process_is_asked_of_the_kernel() {
        // Tests run as root: the kernel creates uprobes for us.
        let me = current();
        assert_eq!(me.uprobes, Uprobes::Allowed);
        assert!(me.has(CAP_SYS_ADMIN) && me.has(CAP_SYS_PTRACE));
        assert_eq!(me.message(), None);
    }
}
