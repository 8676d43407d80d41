#!/usr/bin/env bash
# Build mamba-ssm and causal-conv1d wheels for the H200 check (sm_90 only).
#
# STATUS: PREPARED, NOT YET EXECUTED. Written without a GPU and not run: the
# compile was not attempted on the 2-core development machine. Every step
# is checked as it goes and the script stops at the first failure; expect
# to fix details on the first real run, and record what changed in
# docs/gpu.rst.
#
# What it does, on a CPU machine (no GPU needed) with internet access to PyPI:
#   1. a separate venv (never the project's .venv) with Python 3.12, the
#      device's Python, so the extension wheels get the cp312 tag;
#   2. torch==2.11.0 from PyPI, a CUDA 13 build like the device's
#      2.11.0+cu130, so the extensions' C++ ABI matches;
#   3. the sdists of mamba-ssm and causal-conv1d (versions pinned below);
#   4. patches their setup.py to build for sm_90 alone (upstream hard-codes
#      sm_75 ... sm_121, 8 architectures) and without -lineinfo (smaller);
#   5. `pip wheel --no-build-isolation --no-deps` with nvcc 13,
#      TORCH_CUDA_ARCH_LIST=9.0, MAMBA_FORCE_BUILD=TRUE,
#      CAUSAL_CONV1D_FORCE_BUILD=TRUE and MAX_JOBS;
#   6. imports both compiled extensions once (no GPU needed to import);
#   7. checks the wheels plus the rest of the working tree stay under the
#      64 MiB that travels to the device, copies them to <repo>/wheels/ and
#      makes git ignore that folder (.git/info/exclude), so the device
#      tool's `carry` takes it along.
#
# Usage (from anywhere):
#   bash packaging/build_cuda_wheels.sh
# Environment knobs (defaults in brackets):
#   PYTHON      Python 3.12 interpreter      [python3.12, else pyenv's 3.12.x]
#   CUDA_HOME   CUDA 13 toolkit with nvcc    [/usr/local/cuda]
#   BUILD_DIR   scratch: venv, sdists, logs  [/tmp/maat-cuda-build]
#   MAX_JOBS    parallel compile jobs        [number of CPUs]
#   MAMBA_VERSION [2.3.2.post1]  CAUSAL_CONV1D_VERSION [1.7.0]  TORCH_VERSION [2.11.0]
# Expected cost: about 3 GB of downloads (torch and its CUDA 13 libraries).
# The compile is the slow part: many templated scan kernels; plan on tens of
# minutes on 2 cores (run it under nice), a few minutes on 16.
#
# On the device (see docs/gpu.rst): carry ["wheels"], then
#   python3 -m pip install -q --no-index --no-deps --no-compile \
#       --target /tmp/site wheels/*.whl && export PYTHONPATH=/tmp/site:$PWD/src
# (--no-deps: the device image already has torch 2.11, triton, einops,
# transformers and huggingface_hub; mamba-ssm's tilelang and quack-kernels
# requirements are optional imports that we do not use.)

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-/tmp/maat-cuda-build}"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
MAX_JOBS="${MAX_JOBS:-$(nproc)}"
MAMBA_VERSION="${MAMBA_VERSION:-2.3.2.post1}"
CAUSAL_CONV1D_VERSION="${CAUSAL_CONV1D_VERSION:-1.7.0}"
TORCH_VERSION="${TORCH_VERSION:-2.11.0}"
LIMIT_MIB=64        # what one device call may carry, working tree included
MARGIN_MIB=2        # room for files added before the device run

say() { printf '\n== %s\n' "$*"; }
die() { printf 'build_cuda_wheels: %s\n' "$*" >&2; exit 1; }

# --- 0. toolchain ---------------------------------------------------------
if [[ -z "${PYTHON:-}" ]]; then
    if command -v python3.12 >/dev/null 2>&1 && python3.12 -V >/dev/null 2>&1; then
        PYTHON=python3.12
    else
        PYTHON="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12 \
            2>/dev/null | tail -1)"
    fi
fi
[[ -n "${PYTHON:-}" ]] || die "no Python 3.12 found; set PYTHON=/path/to/python3.12"
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' \
    || die "$PYTHON is not Python 3.12 (the device runs 3.12; wheels are cp312)"
[[ -x "$CUDA_HOME/bin/nvcc" ]] || die "no nvcc at $CUDA_HOME/bin/nvcc; set CUDA_HOME"
NVCC_RELEASE="$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')"
[[ "$NVCC_RELEASE" == 13.* ]] || die "nvcc is $NVCC_RELEASE; need CUDA 13 (torch cu130)"
command -v g++ >/dev/null || die "no g++ (apt-get install g++)"
say "python $("$PYTHON" -V 2>&1), nvcc $NVCC_RELEASE at $CUDA_HOME, MAX_JOBS=$MAX_JOBS"

mkdir -p "$BUILD_DIR"/{src,wheels,logs}
rm -f "$BUILD_DIR"/wheels/*.whl

# --- 1-2. separate venv with torch 2.11 (CUDA 13) -------------------------
VENV="$BUILD_DIR/venv"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
say "installing torch==$TORCH_VERSION and build tools into $VENV"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "torch==$TORCH_VERSION" setuptools wheel packaging ninja
"$PY" - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda,
      "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)
assert torch.version.cuda and torch.version.cuda.startswith("13."), \
    "this torch is not a CUDA 13 build; the device runs 2.11.0+cu130"
EOF

# Headers that torch's CUDA headers include (cublas_v2.h, cusparse.h,
# cusolverDn.h) come with torch's nvidia-* wheels, not with a bare nvcc.
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
NV_INCLUDES="$(find "$SITE/nvidia" -type d -name include 2>/dev/null | sort | paste -sd: -)"
for header in cublas_v2.h cusparse.h cusolverDn.h; do
    found=no
    for dir in ${NV_INCLUDES//:/ } "$CUDA_HOME/include"; do
        [[ -f "$dir/$header" ]] && found=yes && break
    done
    [[ $found == yes ]] || die "$header not found under $SITE/nvidia or $CUDA_HOME/include"
done
export CPATH="${NV_INCLUDES}${CPATH:+:$CPATH}"
NVCC_APPEND_FLAGS="${NVCC_APPEND_FLAGS:-}"
for dir in ${NV_INCLUDES//:/ }; do NVCC_APPEND_FLAGS+=" -I$dir"; done
export NVCC_APPEND_FLAGS

# --- 3. sdists --------------------------------------------------------------
say "downloading sdists mamba-ssm==$MAMBA_VERSION causal-conv1d==$CAUSAL_CONV1D_VERSION"
# The SKIP flags only let pip read the metadata without compiling anything.
MAMBA_SKIP_CUDA_BUILD=TRUE CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE \
    "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
    -d "$BUILD_DIR/src" "mamba-ssm==$MAMBA_VERSION" \
    "causal-conv1d==$CAUSAL_CONV1D_VERSION"
MAMBA_SRC="$BUILD_DIR/src/mamba_ssm-$MAMBA_VERSION"
CONV_SRC="$BUILD_DIR/src/causal_conv1d-$CAUSAL_CONV1D_VERSION"
rm -rf "$MAMBA_SRC" "$CONV_SRC"
tar -xzf "$BUILD_DIR/src/mamba_ssm-$MAMBA_VERSION.tar.gz" -C "$BUILD_DIR/src"
tar -xzf "$BUILD_DIR/src/causal_conv1d-$CAUSAL_CONV1D_VERSION.tar.gz" -C "$BUILD_DIR/src"

# --- 4. sm_90 only, no -lineinfo -------------------------------------------
# Both setup.py files (checked for mamba-ssm 2.3.2.post1, causal-conv1d 1.7.0)
# append "-gencode", "arch=compute_XX,code=sm_XX" pairs to cc_flag and then
# reach "    if FORCE_CXX11_ABI:". One line inserted before that keeps the
# other flags and replaces the architectures by sm_90.
for src in "$MAMBA_SRC" "$CONV_SRC"; do
    "$PY" - "$src/setup.py" <<'EOF'
import sys
path = sys.argv[1]
text = open(path).read()
anchor = "    if FORCE_CXX11_ABI:\n"
if text.count(anchor) != 1 or '"-lineinfo",' not in text:
    sys.exit(f"{path}: layout changed (anchor or -lineinfo not found once); "
             "patch the architecture list by hand")
keep_sm90 = (
    "    # maat_detector build: Hopper (H100/H200) only.\n"
    "    cc_flag = [f for f in cc_flag if f != '-gencode' and "
    "not f.startswith('arch=')] + ['-gencode', 'arch=compute_90,code=sm_90']\n"
)
text = text.replace(anchor, keep_sm90 + anchor).replace('"-lineinfo",', "")
open(path, "w").write(text)
print("patched", path)
EOF
done

# --- 5. build -----------------------------------------------------------------
export CUDA_HOME TORCH_CUDA_ARCH_LIST="9.0" MAX_JOBS
export MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE
for src in "$CONV_SRC" "$MAMBA_SRC"; do
    name="$(basename "$src")"
    say "building $name (log: $BUILD_DIR/logs/$name.log)"
    start=$SECONDS
    if ! nice -n 10 "$PY" -m pip wheel -v --no-build-isolation --no-deps \
            -w "$BUILD_DIR/wheels" "$src" >"$BUILD_DIR/logs/$name.log" 2>&1; then
        tail -40 "$BUILD_DIR/logs/$name.log"
        die "building $name failed; full log above"
    fi
    echo "built $name in $((SECONDS - start)) s"
done
ls -l "$BUILD_DIR"/wheels/*.whl

# --- 6. smoke test: the extensions load (no GPU needed to import) ----------
say "importing the compiled extensions"
"$PY" -m pip install -q --no-deps --force-reinstall "$BUILD_DIR"/wheels/*.whl
"$PY" - <<'EOF'
import torch  # noqa: F401  (loads libc10/libtorch for the extensions)
import causal_conv1d_cuda
import selective_scan_cuda
print("ok:", selective_scan_cuda.__file__, causal_conv1d_cuda.__file__)
EOF
if command -v cuobjdump >/dev/null || [[ -x "$CUDA_HOME/bin/cuobjdump" ]]; then
    CUOBJDUMP="$(command -v cuobjdump || echo "$CUDA_HOME/bin/cuobjdump")"
    for so in "$SITE"/selective_scan_cuda*.so "$SITE"/causal_conv1d_cuda*.so; do
        echo "$(basename "$so"): $("$CUOBJDUMP" --list-elf "$so" | grep -o 'sm_[0-9]*' \
            | sort -u | paste -sd' ' -)"
    done
fi

# --- 7. size check and hand-over ---------------------------------------------
say "size check: wheels + working tree <= ${LIMIT_MIB} MiB - ${MARGIN_MIB} MiB margin"
"$PY" - "$REPO" "$BUILD_DIR/wheels" "$LIMIT_MIB" "$MARGIN_MIB" <<'EOF'
import os, subprocess, sys
from pathlib import Path
repo, wheels, limit, margin = Path(sys.argv[1]), Path(sys.argv[2]), *map(int, sys.argv[3:])
listed = subprocess.run(
    ["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard", "-z"],
    capture_output=True, check=True).stdout.split(b"\0")
tree = sum((repo / os.fsdecode(p)).stat().st_size for p in listed
           if p and (repo / os.fsdecode(p)).is_file())
whl = sum(p.stat().st_size for p in wheels.glob("*.whl"))
mib = 2**20
print(f"working tree {tree / mib:.1f} MiB + wheels {whl / mib:.1f} MiB "
      f"= {(tree + whl) / mib:.1f} MiB (limit {limit} MiB, margin {margin} MiB)")
if tree + whl > (limit - margin) * mib:
    sys.exit("too large to carry: drop files from the tree, or shrink the wheels "
             "(fewer kernels: e.g. leave out the complex-valued scan sources)")
EOF

mkdir -p "$REPO/wheels"
rm -f "$REPO"/wheels/*.whl
cp "$BUILD_DIR"/wheels/*.whl "$REPO/wheels/"
EXCLUDE="$(git -C "$REPO" rev-parse --git-path info/exclude)"
[[ "$EXCLUDE" = /* ]] || EXCLUDE="$REPO/$EXCLUDE"
grep -qx '/wheels/' "$EXCLUDE" 2>/dev/null || echo '/wheels/' >>"$EXCLUDE"
git -C "$REPO" check-ignore -q wheels/x.whl || die "wheels/ is not ignored by git"
say "done: $(ls "$REPO"/wheels/ | paste -sd' ' -) in $REPO/wheels (git-ignored)"
cat <<'EOF'
Device call (docs/gpu.rst, "Running the check"): carry ["wheels"], timeout_s 540,
  set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile \
    --target /tmp/site wheels/*.whl && export PYTHONPATH=/tmp/site:$PWD/src \
    PYTHONUNBUFFERED=1 && python3 benchmarks/gpu_check.py --out $OUT \
    --budget-s 420 2>&1 | tee $OUT/gpu_check.log
EOF
