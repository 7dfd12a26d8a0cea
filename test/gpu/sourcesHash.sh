#!/usr/bin/env bash
# A short hash of the sources dist/ is built from, run in the repository root: pack.sh
# records it, real-gpu.sh compares it on the GPU machine, so a stale dist is said out loud.
set -euo pipefail
find src machines tsconfig.json tsconfig.build.json package.json package-lock.json -type f -print0 |
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
