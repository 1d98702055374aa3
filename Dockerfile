# syntax=docker/dockerfile:1
# The gotel image: one static-ish binary (glibc, libgcc_s, libm) with the BPF object
# embedded, on distroless/cc. Build context: the repository root.
#
#   docker build -t gotel:dev .
#
# NOT RUN: the machines this was written on have no Docker (k8s/README.md says what was
# and was not run). The build stage does what scripts/bootstrap.sh + `cargo build
# --release` do there, on the same Debian release (12, bookworm), so the glibc the binary
# is linked against is the one distroless/cc-debian12 ships.

FROM rust:1-bookworm AS build
# sidecar/build.rs compiles ebpf/gotel.bpf.c with clang (-target bpf); the program
# includes <linux/bpf.h>, <linux/ptrace.h> (linux-libc-dev) and <bpf/bpf_helpers.h>
# (libbpf-dev). Nothing else is needed at run time: the object is embedded in the binary.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends clang llvm libbpf-dev linux-libc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the crate is built from (.dockerignore keeps target/ and .git/ out as well).
COPY Cargo.toml Cargo.lock ./
COPY sidecar sidecar
COPY ebpf ebpf
RUN cargo build --release --locked -p gotel \
    && install -D -m 0755 target/release/gotel /out/usr/local/bin/gotel

# distroless/cc: glibc, libgcc_s and CA certificates (OTLP over TLS uses the system
# roots), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="gotel" \
      org.opencontainers.image.description="Trace any Go function's arguments, results and latency with eBPF uprobes; a pod sidecar exporting OTLP" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12"
# The only file this stage adds to the base image.
COPY --from=build /out/usr/local/bin/gotel /usr/local/bin/gotel
# Root (uid 0), on purpose. gotel needs SYS_ADMIN, SYS_PTRACE and DAC_READ_SEARCH in
# its effective set (README, Privileges). Kubernetes and Docker put the
# capabilities a pod spec adds into the effective set of uid 0 only: for another user they
# land in the bounding set and nowhere else (there are no ambient capabilities in the pod
# API). A non-root user would therefore need file capabilities on the binary (setcap
# ...+ep), which the kernel honours only without no_new_privs, i.e. with
# allowPrivilegeEscalation: true, and which also apply when someone runs the image
# without the pod's capability list. Root with every other capability dropped
# (k8s/overlays/sidecar: drop ALL, add only the set, allowPrivilegeEscalation: false,
# read-only root filesystem) grants less.
USER 0:0
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/gotel"]
CMD ["run", "--config", "/etc/gotel/gotel.yaml", "--admin", "0.0.0.0:9464"]
