#!/usr/bin/env bash
# Install what KEEL_MODEL=local needs, once per user:
#
# 1. llama.cpp's `llama-server`, built from the llama.cpp source vendored in the pinned
#    llama-cpp-python sdist (downloaded with pip, checked against its sha256; only the server
#    target is built, statically, for a portable AVX2 target: 8-12 min on 2 cores). Installed
#    at $KEEL_TOOLS_DIR/llama-server/bin/llama-server (default ~/.keel/tools) with a stamp
#    naming the sdist's hash and the build flags, so a re-run is a no-op.
# 2. The GGUF model files named on the command line (default: qwen2.5-coder-0.5b
#    smollm2-135m), fetched by `python -m keel.model_store fetch` into $KEEL_MODELS_DIR
#    (default ~/.keel/models): downloaded as wheels, never installed or imported, verified by
#    size, sha256 and GGUF name. Files already there and verified are not fetched again.
#
# Usage: scripts/install-local-model.sh [MODEL...]     (python -m keel.model_store list)
# Needs Keel's venv (.venv, `make venv`; KEEL_VENV_PYTHON overrides), cmake and a C++
# compiler. CMAKE_ARGS adds or overrides build flags (a different value rebuilds).
set -euo pipefail

cd "$(dirname "$0")/.."
tools_dir="${KEEL_TOOLS_DIR:-$HOME/.keel/tools}"
server_dir="$tools_dir/llama-server"
server="$server_dir/bin/llama-server"
python="${KEEL_VENV_PYTHON:-.venv/bin/python}"
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(qwen2.5-coder-0.5b smollm2-135m)

sdist_version="0.3.36"
sdist_sha256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
cmake_flags=(
    -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DBUILD_SHARED_LIBS=OFF
)
# shellcheck disable=SC2206 # CMAKE_ARGS is a list of flags
[[ -z "${CMAKE_ARGS:-}" ]] || cmake_flags+=(${CMAKE_ARGS})
stamp_text="llama-cpp-python $sdist_version sdist sha256 $sdist_sha256; cmake ${cmake_flags[*]}"

die() { echo "install-local-model: $*" >&2; exit 1; }

[[ -x "$python" ]] || die "no Keel venv at $python: run make venv (or set KEEL_VENV_PYTHON)"

build_server() {
    command -v cmake >/dev/null || die "needs cmake (apt-get install -y cmake)"
    command -v c++ >/dev/null || die "needs a C++ compiler (apt-get install -y build-essential)"
    local work start
    work=$(mktemp -d "${TMPDIR:-/tmp}/keel-llama-build.XXXXXX")
    # shellcheck disable=SC2064 # expand $work now
    trap "rm -rf '$work'" EXIT
    start=$(date +%s)
    echo "install-local-model: building llama-server from llama-cpp-python $sdist_version's" \
        "vendored llama.cpp (8-12 min on 2 cores)"
    "$python" -m pip download -q --no-deps --no-binary llama-cpp-python -d "$work/sdist" \
        "llama-cpp-python==$sdist_version"
    local sdist="$work/sdist/llama_cpp_python-$sdist_version.tar.gz"
    [[ -f "$sdist" ]] || die "pip did not download $sdist"
    local got
    got=$(sha256sum "$sdist" | cut -d' ' -f1)
    [[ "$got" == "$sdist_sha256" ]] ||
        die "$(basename "$sdist"): sha256 $got, expected $sdist_sha256 - not installing it"
    tar -xzf "$sdist" -C "$work"
    local src="$work/llama_cpp_python-$sdist_version/vendor/llama.cpp"
    [[ -f "$src/CMakeLists.txt" ]] || die "no llama.cpp source in the sdist ($src)"
    cmake -S "$src" -B "$work/build" "${cmake_flags[@]}" >"$work/configure.log" 2>&1 ||
        { tail -30 "$work/configure.log" >&2; die "cmake configure failed"; }
    cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 ||
        { tail -30 "$work/build.log" >&2; die "cmake build failed"; }
    "$work/build/bin/llama-server" --version >/dev/null 2>&1 ||
        die "the built llama-server does not run (--version failed)"
    # install: a new binary replaces the old one atomically, then the stamp is written
    mkdir -p "$server_dir/bin"
    cp "$work/build/bin/llama-server" "$server.new"
    mv -f "$server.new" "$server"
    printf '%s\n' "$stamp_text" >"$server_dir/stamp"
    rm -rf "$work"
    trap - EXIT
    echo "install-local-model: built $server ($(($(date +%s) - start)) s)"
}

if [[ -x "$server" && -f "$server_dir/stamp" && "$(cat "$server_dir/stamp")" == "$stamp_text" ]]; then
    echo "install-local-model: $server is up to date (llama-cpp-python $sdist_version sdist)"
else
    build_server
fi

"$python" -m keel.model_store fetch "${models[@]}"
