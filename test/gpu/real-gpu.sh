#!/usr/bin/env bash
# Issue #17: poolvisor's GPU paths on a real GPU, in one command for a GPU machine with
# no network and perhaps no Node (test/gpu/realGpuCheck.mjs says what each check does).
#
# Pack, here (this repo with npm ci done, Node >= 20 x64, xz; nvcc optional):
#   bash test/gpu/pack.sh
#     writes .gpu-carry/ (git-ignored): node.xz, runtime.tar.gz (dist + the runtime
#     node_modules), prebuilt/ (the CUDA programs, a fallback), manifest.txt
# Device call, in the repository root, with carry ['.gpu-carry']:
#   bash test/gpu/real-gpu.sh
#     (timeout_s 300 leaves room: it takes 1-2 minutes and stops itself before ~4.5)
# Back in $OUT (5 files): real-gpu.json (every value measured, its unit in its name),
#   real-gpu.txt (the verdicts), real-gpu.log (all this script printed), gpu-grow.log (the
#   runaway's own count), nvidia-smi-q.txt.
# Exit status: the check's (0 all passed, 1 some failed, 2 the pool could not be loaded,
#   3 its watchdog fired), 4 no usable node, 5 no CUDA programs, 124 the check hung.
# Dry run where there is no GPU: bash test/gpu/sim/dryRun.sh
set -u

OUT=${OUT:-$PWD/real-gpu-out}
mkdir -p "$OUT"
work=$(mktemp -d /tmp/poolvisor-gpu.XXXXXX)
# The whole run stays under this; each step's own timeout is shorter.
budget_s=270

section() {
  echo
  echo "== $* (+${SECONDS}s)"
}

# Decompresses an .xz file with xz, or with Python's lzma where xz is missing.
unxz_to() {
  if [ "${UNXZ_WITH:-}" != python3 ] && command -v xz >/dev/null; then
    xz -dc "$1" >"$2" && return 0
  fi
  echo "decompressing $1 with python3's lzma"
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
}

# Sets NODE: the node on PATH if it is >= 20 (unless USE_CARRIED_NODE=1), else the carried one.
pick_node() {
  if [ "${USE_CARRIED_NODE:-}" != 1 ] && command -v node >/dev/null; then
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$major" -ge 20 ]; then
      NODE=$(command -v node)
      echo "using $NODE $(node --version)"
      return 0
    fi
    echo "node on PATH is $(node --version 2>&1): older than 20"
  else
    echo "node on PATH: $(command -v node || echo none)${USE_CARRIED_NODE:+ (USE_CARRIED_NODE=1: not used)}"
  fi
  if [ ! -f .gpu-carry/node.xz ]; then
    echo "no node >= 20 and no .gpu-carry/node.xz: run bash test/gpu/pack.sh and carry .gpu-carry"
    return 1
  fi
  mkdir -p "$work/bin"
  unxz_to .gpu-carry/node.xz "$work/bin/node" && chmod +x "$work/bin/node" || return 1
  if ! "$work/bin/node" --version; then
    echo "the carried node does not run here:"
    ldd "$work/bin/node" || true
    return 1
  fi
  NODE=$work/bin/node
  echo "using the carried node: $NODE $("$NODE" --version)"
}

# dist/ and the runtime node_modules: the tree's own if it has them, else the carried ones.
unpack_runtime() {
  if [ -f dist/src/index.js ] && [ -d node_modules/xstate ]; then
    echo "dist/ and node_modules/ are in the tree: using them"
    return 0
  fi
  if [ ! -f .gpu-carry/runtime.tar.gz ]; then
    echo "no dist/ or node_modules/ in the tree and no .gpu-carry/runtime.tar.gz: run bash test/gpu/pack.sh and carry .gpu-carry"
    return 1
  fi
  mkdir -p "$work/runtime"
  tar -xzf .gpu-carry/runtime.tar.gz -C "$work/runtime" || return 1
  for path in dist node_modules; do
    if [ -e "$path" ]; then
      echo "$path/ is in the tree: kept"
    else
      mv "$work/runtime/$path" "$path" && echo "$path/ unpacked from the carry"
    fi
  done
  ls node_modules
  local packed now
  packed=$(sed -n 's/^sources: //p' .gpu-carry/manifest.txt 2>/dev/null)
  now=$(bash test/gpu/sourcesHash.sh 2>/dev/null)
  if [ "$packed" = "$now" ]; then
    echo "dist was built from these sources ($now)"
  else
    echo "WARNING: dist was built from other sources (packed $packed, here $now): run pack.sh again after a change"
  fi
}

find_nvcc() {
  command -v nvcc && return 0
  local candidate
  for candidate in /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc; do
    [ -x "$candidate" ] && echo "$candidate" && return 0
  done
  return 1
}

# Builds test/gpu/$1.cu into $work/$1 (sm_90 for the H200, then nvcc's default), or falls
# back to the program pack.sh built.
build_program() {
  local name=$1
  if [ -n "$NVCC" ]; then
    timeout 120 "$NVCC" -O2 -arch=sm_90 -o "$work/$name" "test/gpu/$name.cu" && echo "built $name (sm_90)" && return 0
    echo "nvcc -arch=sm_90 failed for $name: trying nvcc's default architecture"
    timeout 120 "$NVCC" -O2 -o "$work/$name" "test/gpu/$name.cu" && echo "built $name (default arch)" && return 0
  fi
  if [ -x ".gpu-carry/prebuilt/$name" ]; then
    cp ".gpu-carry/prebuilt/$name" "$work/$name" && echo "using the $name pack.sh built" && return 0
  fi
  echo "no $name: nvcc failed or is missing, and nothing prebuilt was carried"
  return 1
}

# Kills, by pid, any of our CUDA programs still on the GPU (their binary is in $work).
kill_leftovers() {
  local pid
  for pid in $(timeout 20 nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null); do
    case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
      "$work"/*)
        echo "leftover: pid $pid ($(readlink "/proc/$pid/exe")) still on the GPU: killing it"
        kill -9 "$pid"
        ;;
    esac
  done
}

main() {
  section "host"
  date -u
  uname -a
  id
  echo "cores: $(nproc)"
  free -m
  env | grep -E '^(CUDA|NVIDIA)' || echo "no CUDA_*/NVIDIA_* variables set"
  cat /proc/driver/nvidia/version 2>/dev/null
  ls -l /dev/nvidia* 2>/dev/null

  section "nvidia-smi"
  timeout 20 nvidia-smi
  echo "nvidia-smi: rc=$?"
  timeout 20 nvidia-smi -q >"$OUT/nvidia-smi-q.txt" 2>&1
  echo "nvidia-smi -q: rc=$? ($(wc -l <"$OUT/nvidia-smi-q.txt") lines in nvidia-smi-q.txt)"
  timeout 20 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv

  section "nvcc"
  NVCC=$(find_nvcc || true)
  if [ -n "$NVCC" ]; then
    echo "$NVCC"
    "$NVCC" --version
  else
    echo "no nvcc on PATH or in /usr/local/cuda*/bin"
  fi

  section "node"
  pick_node || return 4
  mkdir -p "$work/bin"
  [ "$NODE" = "$work/bin/node" ] || ln -sf "$NODE" "$work/bin/node"
  export PATH="$work/bin:$PATH"

  section "dist and node_modules"
  unpack_runtime || return 2

  section "CUDA programs"
  build_program gpu-grow || return 5
  build_program gpu-fixed || return 5

  section "the check: node test/gpu/realGpuCheck.mjs"
  local left=$((budget_s - SECONDS))
  [ "$left" -gt 240 ] && left=240
  [ "$left" -lt 60 ] && left=60
  GPU_GROW_BIN="$work/gpu-grow" GPU_FIXED_BIN="$work/gpu-fixed" OUT="$OUT" WATCHDOG_MS="${WATCHDOG_MS:-$(((left - 15) * 1000))}" \
    timeout -k 5 "$left" "$NODE" test/gpu/realGpuCheck.mjs
  local rc=$?
  echo "realGpuCheck.mjs: rc=$rc"

  section "after"
  kill_leftovers
  timeout 20 nvidia-smi
  echo
  cat "$OUT/real-gpu.txt" 2>/dev/null || echo "no real-gpu.txt was written"
  ls -la "$OUT"
  rm -rf "$work"
  echo "total: ${SECONDS}s, exit $rc"
  return "$rc"
}

main 2>&1 | tee "$OUT/real-gpu.log"
exit "${PIPESTATUS[0]}"
