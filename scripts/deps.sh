#!/usr/bin/env bash
# Installs what holter's tests and demo use, where missing (Debian; needs root).
# Safe to run again: it installs nothing that is already there.
set -euo pipefail
declare -A pkg=(
  [cc]=gcc [objcopy]=binutils [rustc]=rustc [go]=golang-go [strace]=strace [perf]=linux-perf [unshare]=util-linux [ip]=iproute2
  [debuginfod]=debuginfod [xz]=xz-utils [java]=openjdk-17-jre-headless [busybox]=busybox-static [runc]=runc [podman]=podman [dockerd]=docker.io [tar]=tar [chromium]=chromium [tc]=iproute2 [python3]=python3
  [musl-gcc]=musl-tools [catatonit]=catatonit
)
# The static agent (deploy/build.sh, tests/tests/kube_play.rs) needs Rust's musl standard library.
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl >&2 || echo "holter: rustup target add x86_64-unknown-linux-musl failed" >&2
fi
missing=()
for cmd in "${!pkg[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg[$cmd]}")
done
# libc's start_thread and clone3 are named by its detached debug symbols (no command).
[ -d /usr/lib/debug/.build-id ] || missing+=(libc6-dbg)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "holter: missing tools (${missing[*]}); install them (Debian: apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "holter: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
