#!/usr/bin/env bash
# The GPU path in one prepared run (scripts/device-check.ts does the work). Three modes:
#
#   scripts/device-check.sh prepare    on a development machine: fills .devcarry/ (gitignored) with what a machine
#                                      without Node needs: the node binary, device-check bundled into one file,
#                                      onnxruntime-node's linux-x64 files, decoded car-turn frames; and .gl/ with the
#                                      Vulkan loader .debs (the WebGPU provider reaches the GPU through Vulkan).
#   scripts/device-check.sh device [args]
#                                      on the GPU machine, from the repository root, with .devcarry and .gl carried:
#                                      installs the loader, then SD1.5 configs, UNet at 256 and 512 px in float32 and
#                                      float16 against the CPU, and one full ocd edit (at most ~10 minutes).
#   scripts/device-check.sh --dry-run [args]
#                                      here, with tsx: the same script end to end on the CPU provider at small sizes
#                                      (tiny configs, 64 and 128 px, a 2-frame 2-step edit on the tiny bundle).
#
# Output: summary.md and result.json in --out (default: $OUT when set, else device-check-out/).
#
# Size: .devcarry is ~38 MB (node.xz 24, ort.tar.xz 13, the rest small) and the tracked tree ~45 MB, over the
# 64 MiB one device call may carry. Carried files stay on a warm machine between calls, so carry node.xz in one
# call (split in two halves if needed: `split -n 2`, joined with `cat` in the last call) and the rest in the next,
# back to back. Not yet run on a GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
shift || true
out="${OUT:-device-check-out}"
CARRY=.devcarry

prepare() {
  mkdir -p "$CARRY"
  # one self-contained ES module; onnxruntime-node stays external (native binding, loaded from $CARRY/node_modules)
  npx esbuild scripts/device-check.ts --bundle --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --outfile="$CARRY/device-check.mjs" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
  # the node binary compresses slowly (minutes on two cores): kept when already there
  [ -s "$CARRY/node.xz" ] || { xz -T0 -6 -c "$(command -v node)" > "$CARRY/node.xz.tmp" && mv "$CARRY/node.xz.tmp" "$CARRY/node.xz"; }
  # GNU tar exits 1 when a file's ctime moves while it reads (another process loading the library): still complete
  tar --warning=no-file-changed -cJf "$CARRY/ort.tar.xz" node_modules/onnxruntime-common node_modules/onnxruntime-node/package.json \
    node_modules/onnxruntime-node/dist node_modules/onnxruntime-node/bin/napi-v6/linux/x64 || [ $? -eq 1 ]
  ffmpeg -v error -y -i assets/clips/car-turn.mp4 -vf "scale=256:256" -frames:v 8 -f rawvideo -pix_fmt rgb24 "$CARRY/frames-256.rgb"
  # the Vulkan loader the GPU machine may lack (its NVIDIA driver ships the ICD, not the loader)
  mkdir -p .gl /tmp/amd64/partial
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update >/dev/null && (cd .gl && apt-get $o download libvulkan1 >/dev/null)
  du -sh "$CARRY" .gl
}

device() {
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  fi
  local run=/tmp/device-check
  mkdir -p "$run"
  xz -dc "$CARRY/node.xz" > "$run/node" && chmod +x "$run/node"
  tar -xJf "$CARRY/ort.tar.xz" -C "$CARRY"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  # the bundle finds the repository (assets/) one folder up from itself, and onnxruntime-node in $CARRY/node_modules
  "$run/node" "$CARRY/device-check.mjs" --provider auto --model sd15 --sizes 256,512 --dtypes float32,float16 \
    --edit-model sd15 --edit-size 256 --edit-frames 8 --edit-steps 20 --frames-rgb "$CARRY/frames-256.rgb" --out "$out" "$@"
}

dry_run() {
  npx tsx scripts/device-check.ts --provider cpu --model tiny --sizes 64,128 --dtypes float32,float16 \
    --edit-model tiny --edit-size 128 --edit-frames 2 --edit-steps 2 --edit-compute float32 --out "$out" "$@"
}

case "$mode" in
  prepare) prepare ;;
  device) device "$@" ;;
  --dry-run|dry-run) dry_run "$@" ;;
  *) echo "usage: scripts/device-check.sh prepare | device [args] | --dry-run [args]" >&2; exit 2 ;;
esac
