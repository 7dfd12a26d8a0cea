#!/usr/bin/env bash
# Packs what test/gpu/real-gpu.sh needs on a GPU machine that may have no Node and gets
# the working tree without node_modules or dist: .gpu-carry/ (git-ignored), carried with
# the device call as carry ['.gpu-carry'].
#
#   bash test/gpu/pack.sh
#
# .gpu-carry/node.xz          this machine's node (x86-64, glibc), stripped, xz-compressed
# .gpu-carry/runtime.tar.gz   dist/ and only the node_modules the built pool loads
# .gpu-carry/prebuilt/        gpu-grow and gpu-fixed built here (if nvcc is here): a fallback
#                             for a GPU machine without nvcc; real-gpu.sh builds them there first
# .gpu-carry/manifest.txt     what was packed, from which sources, and the sizes
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
carry=$root/.gpu-carry
limit_mib=60 # the device copies at most 64 MiB: the tree and the carry together

node_bin=$(command -v node)
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "pack.sh: expected Node >= 20 here, got $(node --version)" >&2; exit 1; }
[ "$(node -p process.arch)" = x64 ] || { echo "pack.sh: expected an x64 node (the GPU machine is x86-64), got $(node -p process.arch)" >&2; exit 1; }

echo "== build"
npm run build --silent

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$carry"
mkdir -p "$carry/prebuilt"

echo "== node $(node --version) from $node_bin"
cp "$node_bin" "$work/node"
# Debug symbols are most of the binary's size and nothing the check needs.
if command -v strip >/dev/null && strip "$work/node" && "$work/node" -e 'process.exit(0)'; then
  echo "   stripped to $(du -m "$work/node" | cut -f1) MiB"
else
  cp "$node_bin" "$work/node"
  echo "   not stripped"
fi
xz -T2 -6 -c "$work/node" >"$carry/node.xz"

echo "== runtime modules"
mapfile -t packages < <(node test/gpu/runtimePackages.mjs)
printf '   %s\n' "${packages[@]}"
tar -czf "$carry/runtime.tar.gz" dist "${packages[@]}"
# It must load from a tree that has nothing else: unpack into a bare copy and import the pool.
mkdir -p "$work/tree/test"
tar -xzf "$carry/runtime.tar.gz" -C "$work/tree"
(cd "$work/tree" && "$work/node" --input-type=module -e "const m = await import('./dist/src/index.js'); if (typeof m.createPool !== 'function') process.exit(1)") ||
  { echo "pack.sh: the packed dist does not load with the packed node_modules" >&2; exit 1; }
echo "   the packed pool imports with only these modules"

nvcc_bin=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
if [ -n "$nvcc_bin" ]; then
  echo "== prebuilt CUDA programs ($nvcc_bin)"
  for program in gpu-grow gpu-fixed; do
    "$nvcc_bin" -O2 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
      -o "$carry/prebuilt/$program" "test/gpu/$program.cu"
  done
else
  echo "== no nvcc here: no prebuilt CUDA programs (real-gpu.sh then needs nvcc on the GPU machine)"
fi

tree_bytes=$(git ls-files -co --exclude-standard -z | du --files0-from=- -cb | tail -1 | cut -f1)
carry_bytes=$(du -sb "$carry" | cut -f1)
total_mib=$(((tree_bytes + carry_bytes) / 1048576))
{
  echo "packed: $(date -u +%FT%TZ) on $(uname -sm)"
  echo "node: $(node --version)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo '?')"
  echo "uncommitted: $(git status --porcelain | wc -l) paths"
  # real-gpu.sh recomputes this on the device: a difference means dist was built from other sources.
  echo "sources: $(bash test/gpu/sourcesHash.sh)"
  echo "packages: ${packages[*]}"
  echo "sizes (bytes):"
  (cd "$carry" && find . -type f ! -name manifest.txt -printf '  %p %s\n' | sort)
  echo "  tree (tracked and untracked, not ignored) $tree_bytes"
  echo "  tree + carry: $total_mib MiB (limit $limit_mib)"
} >"$carry/manifest.txt"
cat "$carry/manifest.txt"
if [ "$total_mib" -ge "$limit_mib" ]; then
  echo "pack.sh: tree + carry is $total_mib MiB, over the $limit_mib MiB this script allows" >&2
  exit 1
fi
