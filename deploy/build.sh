#!/usr/bin/env bash
# Builds the static holter-agent (musl, no runtime dependency) and the OCI
# image holding only it (deploy/Containerfile, FROM scratch).
#
#   deploy/build.sh [--arch x86_64|aarch64] [--tag IMAGE] [--engine podman|docker] [--no-image]
#
# Writes target/<triple>/release/holter-agent and, stripped, deploy/out/<arch>/holter-agent;
# tags the image (default localhost/holter-agent:<version>, the image `kubectl holter` uses by default).
# Needs: the rust-std of the target (rustup target add <triple>) and a C compiler for it
# (x86_64: Debian's musl-tools; aarch64: gcc-aarch64-linux-gnu or a musl cross gcc), podman or docker.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$(uname -m)
tag=""
engine=""
image=1
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --engine) engine=$2; shift 2 ;;
    --no-image) image=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$arch" in
  x86_64|amd64) arch=x86_64; platform=linux/amd64; cc=musl-gcc ;;
  aarch64|arm64) arch=aarch64; platform=linux/arm64
    # A musl cross gcc, else Debian's gcc-aarch64-linux-gnu: Rust's musl target
    # brings its own crt objects and libc, gcc compiles zstd's C and links.
    cc=aarch64-linux-musl-gcc
    command -v "$cc" >/dev/null || cc=aarch64-linux-gnu-gcc ;;
  *) echo "build.sh: unsupported arch $arch (x86_64 or aarch64)" >&2; exit 2 ;;
esac
triple="$arch-unknown-linux-musl"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag=${tag:-localhost/holter-agent:$version}

if ! rustc --print target-libdir --target "$triple" >/dev/null 2>&1 ||
   [ ! -d "$(rustc --print target-libdir --target "$triple")" ]; then
  echo "build.sh: the Rust standard library for $triple is not installed: rustup target add $triple" >&2
  exit 1
fi
if ! command -v "$cc" >/dev/null; then
  echo "build.sh: no C compiler for $triple ($cc): on Debian, apt-get install musl-tools (x86_64)" \
       "or gcc-aarch64-linux-gnu (aarch64)" >&2
  exit 1
fi
# zstd's C sources are compiled with the musl compiler, and linked by it.
ccvar="CC_${triple//-/_}"
linkvar="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER"
env "$ccvar=$cc" "$linkvar=${!linkvar:-$( [ "$arch" = "$(uname -m)" ] && echo cc || echo "$cc")}" \
  cargo build --release --locked --target "$triple" -p holter-agent
bin="target/$triple/release/holter-agent"
out="deploy/out/$arch"
mkdir -p "$out"
strip=strip
[ "$arch" = "$(uname -m)" ] || strip="${cc%gcc}strip"
"$strip" -o "$out/holter-agent" "$bin" 2>/dev/null || cp "$bin" "$out/holter-agent"
if file "$out/holter-agent" | grep -q 'dynamically linked'; then
  echo "build.sh: $out/holter-agent is dynamically linked: not what the image needs" >&2
  exit 1
fi
echo "build.sh: $bin $(stat -c %s "$bin") bytes; stripped $out/holter-agent $(stat -c %s "$out/holter-agent") bytes"
[ "$image" = 1 ] || exit 0

if [ -z "$engine" ]; then
  if command -v podman >/dev/null; then engine=podman
  elif command -v docker >/dev/null; then engine=docker
  else echo "build.sh: neither podman nor docker found (--no-image builds the binary only)" >&2; exit 1
  fi
fi
cp deploy/Containerfile "$out/Containerfile"
"$engine" build --platform "$platform" -f "$out/Containerfile" -t "$tag" "$out" >/dev/null
size=$("$engine" image inspect --format '{{.Size}}' "$tag")
echo "build.sh: image $tag ($size bytes); push it where your nodes pull from and pass --image to kubectl holter"
