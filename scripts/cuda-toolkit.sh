#!/usr/bin/env bash
# A CUDA toolkit for `cargo build --features cuda`, made from NVIDIA's wheels (fetched with
# pip), in a directory outside the repo, with no root and no system packages.
#
#   scripts/cuda-toolkit.sh DIR        # installs (or reuses) the toolkit in DIR
#   eval "$(scripts/cuda-toolkit.sh DIR)"   # ... and exports what the build needs
#
# It prints the environment to export on stdout (PATH, CUDA_ROOT, CUDA_PATH,
# CUDA_COMPUTE_CAP, CUDARC_CUDA_VERSION, LIBRARY_PATH) and logs on stderr.
#
# Why these pieces:
# - The toolkit is CUDA 13.0 (nvcc, cicc, ptxas, headers, cudart, nvrtc, cuBLAS, cuRAND): the
#   PTX it writes runs on drivers from 580 on (CUDA 13.0's minimum), which current datacenter
#   GPUs run; a newer toolkit's PTX would need a newer driver than many machines have.
# - cudarc (which candle pins) is told the version (CUDARC_CUDA_VERSION=13000) rather than
#   asking a driver, since the build machine has none.
# - The wheels ship only versioned libraries (libcudart.so.13); the linker looks for
#   libcudart.so, so unversioned links are made beside them.
# - libcuda is the driver's own library and is in no wheel. A stub with the driver API's
#   symbols (and libcuda.so.1 as its soname) lets the binary link; on a GPU machine the real
#   libcuda.so.1 of the driver is loaded in its place.
# - Compute capability 9.0 (H100/H200) by default; set CUDA_COMPUTE_CAP to build for others.
set -euo pipefail

dir="${1:?usage: scripts/cuda-toolkit.sh DIR}"
cap="${CUDA_COMPUTE_CAP:-90}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
log() { echo "cuda-toolkit: $*" >&2; }

# The CUDA 13.0 wheels, pinned so a build is the same build next month.
wheels=(
  "nvidia-cuda-nvcc==13.0.88"
  "nvidia-nvvm==13.0.88"
  "nvidia-cuda-crt==13.0.88"
  "nvidia-cuda-runtime==13.0.96"
  "nvidia-cuda-cccl==13.0.85"
  "nvidia-cuda-nvrtc==13.0.88"
  "nvidia-cublas==13.0.2.14"
  "nvidia-curand==10.4.0.35"
)

site="$dir/site"
root="$site/nvidia/cu13"
if [ ! -x "$root/bin/nvcc" ]; then
  python="$(command -v python3 || command -v python || true)"
  [ -n "$python" ] || { log "needs python3 with pip to fetch the wheels"; exit 1; }
  log "installing ${#wheels[@]} wheels into $site"
  "$python" -m pip install --quiet --no-deps --target "$site" "${wheels[@]}" >&2
fi
[ -x "$root/bin/nvcc" ] || { log "no nvcc in $root/bin after installing"; exit 1; }

# Unversioned library links where the linker looks.
lib="$root/lib"
for so in "$lib"/lib*.so.*; do
  base="$(basename "$so")"
  plain="$lib/${base%%.so.*}.so"
  [ -e "$plain" ] || ln -s "$base" "$plain"
done
# cudarc's build looks for lib64 as well as lib.
[ -e "$root/lib64" ] || ln -s lib "$root/lib64"

# The driver stub: every driver-API symbol the toolkit's headers declare, as an empty function.
stubs="$dir/stubs"
if [ ! -e "$stubs/libcuda.so" ]; then
  mkdir -p "$stubs"
  cc="$(command -v cc || command -v gcc)"
  grep -ohE '\bCUresult CUDAAPI cu[A-Za-z0-9_]+' "$root/include/cuda.h" \
    | awk '{print $3}' | sort -u \
    | awk '{print "void " $1 "(void) {}"}' > "$stubs/cuda_stub.c"
  # cuda.h maps many names to versioned ones (cuMemAlloc -> cuMemAlloc_v2); export both.
  grep -ohE '#define cu[A-Za-z0-9_]+ +cu[A-Za-z0-9_]+' "$root/include/cuda.h" \
    | awk '{print $3}' | sort -u \
    | awk '{print "void " $1 "(void) {}"}' >> "$stubs/cuda_stub.c"
  sort -u -o "$stubs/cuda_stub.c" "$stubs/cuda_stub.c"
  "$cc" -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stubs/libcuda.so" "$stubs/cuda_stub.c"
  log "driver stub with $(wc -l < "$stubs/cuda_stub.c") symbols in $stubs"
fi

log "toolkit ready: $("$root/bin/nvcc" --version | tail -n 2 | head -n 1)"
cat <<EOF
export PATH="$root/bin:\$PATH"
export CUDA_ROOT="$root"
export CUDA_PATH="$root"
export CUDA_COMPUTE_CAP="$cap"
export CUDARC_CUDA_VERSION=13000
export LIBRARY_PATH="$lib:$stubs\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
EOF
