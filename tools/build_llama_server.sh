#!/usr/bin/env bash
# Build a standalone llama.cpp `llama-server` for the engine end-to-end tests (tests/engine/).
#
# Usage: tools/build_llama_server.sh DEST_DIR
#
# Idempotent: when DEST_DIR/bin/llama-server --version already works, prints its path and exits 0.
# Otherwise downloads the llama-cpp-python sdist (which vendors llama.cpp) with pip, or uses the
# tarball named by $LLAMA_SDIST, builds only the llama-server target with static llama/ggml libraries
# (the binary can be copied anywhere; it still links the system libstdc++, libgomp and OpenSSL), and installs:
#   DEST_DIR/bin/llama-server
#   DEST_DIR/vocab/ggml-vocab-llama-spm.gguf   (tokenizer for tests/engine/tiny_gguf.py)
#   DEST_DIR/VERSION                           (sdist version and `llama-server --version` output)
# Point the tests at it with VRAM_ADVISOR_ENGINE_DIR=DEST_DIR.
# Needs cmake >= 3.14, a C++17 compiler and pip. Takes ~6 minutes on 2 cores.
set -euo pipefail

SDIST_VERSION="0.3.36"          # llama-cpp-python release; pins the vendored llama.cpp commit
VOCAB="ggml-vocab-llama-spm.gguf"

die() { echo "build_llama_server: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DEST_DIR"
DEST="$1"
mkdir -p "$DEST" || die "cannot create $DEST"
DEST="$(cd "$DEST" && pwd)"
BIN="$DEST/bin/llama-server"

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1 && [ -f "$DEST/vocab/$VOCAB" ]; then
    echo "$BIN"
    exit 0
fi

for tool in cmake tar; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH"
done
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 \
    || die "no C++ compiler (c++, g++ or clang++) on PATH"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/llama-server-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [ -n "${LLAMA_SDIST:-}" ]; then
    [ -f "$LLAMA_SDIST" ] || die "LLAMA_SDIST=$LLAMA_SDIST is not a file"
    SDIST="$LLAMA_SDIST"
    echo "build_llama_server: using sdist $SDIST" >&2
else
    PY="${PYTHON:-python3}"
    command -v "$PY" >/dev/null 2>&1 || die "'$PY' not found on PATH (set PYTHON=...)"
    echo "build_llama_server: downloading llama-cpp-python==$SDIST_VERSION sdist" >&2
    "$PY" -m pip download --quiet --no-deps --no-binary :all: \
        "llama-cpp-python==$SDIST_VERSION" -d "$WORK/dl" \
        || die "pip download of llama-cpp-python==$SDIST_VERSION failed"
    SDIST="$(ls "$WORK"/dl/llama_cpp_python-*.tar.gz 2>/dev/null | head -n 1)"
    [ -n "$SDIST" ] || die "pip download produced no llama_cpp_python-*.tar.gz in $WORK/dl"
fi

mkdir -p "$WORK/src"
tar -xzf "$SDIST" -C "$WORK/src" || die "cannot extract $SDIST"
LLAMA="$(ls -d "$WORK"/src/*/vendor/llama.cpp 2>/dev/null | head -n 1)"
[ -n "$LLAMA" ] && [ -f "$LLAMA/CMakeLists.txt" ] || die "no vendor/llama.cpp/CMakeLists.txt in $SDIST"
[ -f "$LLAMA/models/$VOCAB" ] || die "vocabulary $VOCAB missing from $LLAMA/models"
VERSION_NAME="$(basename "$(dirname "$(dirname "$LLAMA")")")"   # llama_cpp_python-X.Y.Z

JOBS="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
START=$(date +%s)
echo "build_llama_server: configuring $LLAMA" >&2
cmake -S "$LLAMA" -B "$WORK/build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF \
    -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON \
    >"$WORK/cmake.log" 2>&1 \
    || { tail -n 40 "$WORK/cmake.log" >&2; die "cmake configure failed (log tail above)"; }
echo "build_llama_server: building llama-server with -j$JOBS" >&2
cmake --build "$WORK/build" --target llama-server -j"$JOBS" >"$WORK/build.log" 2>&1 \
    || { tail -n 60 "$WORK/build.log" >&2; die "build of llama-server failed (log tail above)"; }
BUILT="$WORK/build/bin/llama-server"
[ -x "$BUILT" ] || die "build finished but $BUILT is missing"

mkdir -p "$DEST/bin" "$DEST/vocab"
install -m 0755 "$BUILT" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
cp -f "$LLAMA/models/$VOCAB" "$DEST/vocab/$VOCAB"
VERSION_OUT="$("$BIN" --version 2>&1)" || die "installed $BIN does not run: $VERSION_OUT"
{
    echo "sdist: $VERSION_NAME"
    echo "build_seconds: $(( $(date +%s) - START ))"
    echo "$VERSION_OUT"
} >"$DEST/VERSION"
echo "build_llama_server: built in $(( $(date +%s) - START )) s" >&2
echo "$BIN"
