#!/usr/bin/env bash
# Writes the run_records seeds: the record files of real tiny runs (an NB201 search with a
# magnitude selection, a DARTS search, an NB201 retraining), joined at NUL bytes in the order
# darts_pt::fuzz::run_records reads them. Usage: fuzz/seed-run-records.sh [path/to/darts-pt]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/darts-pt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=fuzz/corpus/run_records
mkdir -p "$out"
common=(--preset tiny --device cpu --train-images 256 --epochs 2)
"$bin" search --space nb201 "${common[@]}" --out "$tmp/nb201" 2>/dev/null
"$bin" select --run "$tmp/nb201" --method magnitude >/dev/null 2>&1
"$bin" search --space darts "${common[@]}" --layers 3 --channels 4 --out "$tmp/darts" 2>/dev/null
"$bin" train --genotype "$tmp/nb201" --label magnitude "${common[@]}" --out "$tmp/train" \
    >/dev/null 2>/dev/null
join() {
    local dir=$1 first=1
    for f in config.toml run.json metrics.jsonl alpha.jsonl events.jsonl selection.json result.json; do
        [ $first = 1 ] || printf '\0'
        first=0
        [ -f "$dir/$f" ] || continue
        case $f in
            *.jsonl) head -n 12 "$dir/$f" ;;
            *) cat "$dir/$f" ;;
        esac
    done
}
for run in nb201 darts train; do
    join "$tmp/$run" > "$out/$run.records"
done
ls -l "$out"
