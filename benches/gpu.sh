#!/usr/bin/env bash
# The device benchmark in one command: builds darts-pt, runs `darts-pt bench` on a GPU through
# Vulkan (or the API given) and the PyTorch reference on CUDA on the same shapes (the paper-scale
# rows included), and prints one side-by-side table. Raw rows are kept in $OUT (default
# $CARGO_TARGET_DIR/gpu-bench, or target/gpu-bench).
#
#   benches/gpu.sh [--device vulkan|wgpu|metal|dx12] [--torch-device cuda|cpu|none]
#                  [--only TEXT] [--steps N] [--warmup N] [--paper] [--fusion]
#
# PYTHON names the interpreter that has torch (default python3). Without a CUDA-capable
# PyTorch the darts-pt side still runs and the PyTorch columns stay empty. --paper adds the
# paper-scale DARTS row on a software adapter (it runs by default on a GPU). --fusion also
# builds with burn's operation fusion (cargo feature `fusion`) and prints its table second.
set -euo pipefail
cd "$(dirname "$0")/.."

device=vulkan torch_device=cuda only="" steps=5 warmup=2 paper=() fusion=false
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device=$2; shift 2 ;;
        --torch-device) torch_device=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --paper) paper=(--paper); shift ;;
        --fusion) fusion=true; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "gpu.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
out=${OUT:-${CARGO_TARGET_DIR:-target}/gpu-bench}
mkdir -p "$out"
filter=()
[ -n "$only" ] && filter=(--only "$only")

# Builds darts-pt with the cargo features given, runs its bench into $out/NAME.json.
bench() {
    local name=$1; shift
    cargo build --release --locked "$@"
    echo "== darts-pt bench --device $device ($name)" >&2
    "${CARGO_TARGET_DIR:-target}/release/darts-pt" bench --device "$device" --json --warmup "$warmup" \
        --steps "$steps" "${filter[@]}" "${paper[@]}" > "$out/$name.json"
}
bench darts-pt
$fusion && bench darts-pt-fusion --features fusion

rows=()
if [ "$torch_device" != none ]; then
    echo "== benches/pytorch_reference.py --device $torch_device" >&2
    if "${PYTHON:-python3}" benches/pytorch_reference.py --device "$torch_device" --json --warmup "$warmup" \
        --steps "$steps" "${filter[@]}" "${paper[@]}" > "$out/pytorch.json"; then
        rows=("$out/pytorch.json")
    else
        echo "gpu.sh: the PyTorch reference did not run (no torch, or no CUDA device for it)" >&2
    fi
fi
python3 benches/side_by_side.py "$out/darts-pt.json" "${rows[@]}" | tee "$out/table.txt"
if $fusion; then
    echo "== with burn's fusion (--features fusion)"
    python3 benches/side_by_side.py "$out/darts-pt-fusion.json" "${rows[@]}" | tee "$out/table-fusion.txt"
fi
