#!/usr/bin/env bash
# The device call of real-gpu.sh, rehearsed where there is no GPU: on a copy of the tree as
# the device gets it (tracked and untracked files git does not ignore: no node_modules, no
# dist) plus .gpu-carry, with the stand-in nvidia-smi and nvcc first on PATH, the carried
# node forced, xz decompression done by python3, and nvcc's -arch refused (its fallback).
#
#   bash test/gpu/pack.sh && bash test/gpu/sim/dryRun.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ -f .gpu-carry/node.xz ] || { echo "dryRun.sh: no .gpu-carry: run bash test/gpu/pack.sh first" >&2; exit 1; }

dry=$(mktemp -d /tmp/poolvisor-dry.XXXXXX)
mkdir -p "$dry/tree"
git ls-files -co --exclude-standard -z | tar --null -T - -c | tar -x -C "$dry/tree"
cp -a .gpu-carry "$dry/tree/"
echo "dry run in $dry/tree (tree + carry: $(du -sm "$dry/tree" | cut -f1) MiB)"
[ ! -e "$dry/tree/node_modules" ] && [ ! -e "$dry/tree/dist" ] || { echo "dryRun.sh: the copy has node_modules or dist" >&2; exit 1; }

set +e
(
  cd "$dry/tree" &&
    env PATH="$PWD/test/gpu/sim:$PATH" OUT="$dry/out" FAKE_GPU_DIR="$dry/fake-gpu" \
      USE_CARRIED_NODE=1 UNXZ_WITH=python3 FAKE_NVCC_REJECT_ARCH=1 IDLE_MEASURE_MS=2000 SAMPLING_CALLS=20 \
      bash test/gpu/real-gpu.sh >"$dry/stdout" 2>&1
)
rc=$?
set -e
rm -rf "$dry/tree"
echo "real-gpu.sh: exit $rc (its output: $dry/stdout)"
ls -la "$dry/out"
files=$(find "$dry/out" -type f | wc -l)
big=$(find "$dry/out" -type f -size +16M | wc -l)
echo "files in \$OUT: $files (at most 8 come back), over 16 MiB: $big"
[ "$files" -le 8 ] && [ "$big" -eq 0 ] || exit 1
exit "$rc"
