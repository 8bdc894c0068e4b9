#!/usr/bin/env bash
# Builds the studio page into web/dist/: the crate for wasm32 (wasm SIMD on, for burn's CPU
# backend), a size pass (wasm-opt from binaryen, when installed), the JavaScript bindings
# (wasm-bindgen, the version in Cargo.lock) and the page's static files.
#   web/build.sh            release build
#   DARTS_PT_WEB_OPT=0 web/build.sh   skip wasm-opt (faster, larger)
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "web/build.sh: needs wasm-bindgen $want (found: ${have:-none});" \
    "install it with: cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" \
  cargo build --release --locked --target wasm32-unknown-unknown --bin darts-pt

out=web/dist
rm -rf "$out" && mkdir -p "$out"
wasm="$target_dir/wasm32-unknown-unknown/release/darts-pt.wasm"
# wasm-opt runs before wasm-bindgen: Debian's binaryen (108) breaks the reference-typed table
# that wasm-bindgen writes ("WebAssembly.Table.set(): Argument 1 is invalid").
if [ "${DARTS_PT_WEB_OPT:-1}" != 0 ] && command -v wasm-opt >/dev/null; then
  mkdir -p "$target_dir/web-opt"
  wasm-opt -O2 --strip-debug --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$wasm" -o "$target_dir/web-opt/darts-pt.wasm"
  wasm="$target_dir/web-opt/darts-pt.wasm"
fi
wasm-bindgen --target web --no-typescript --out-dir "$out" "$wasm"
cp web/index.html web/style.css web/loader.js "$out/"
raw=$(stat -c %s "$out/darts-pt_bg.wasm")
gz=$(gzip -9c "$out/darts-pt_bg.wasm" | wc -c)
echo "web/dist: darts-pt_bg.wasm $((raw / 1024)) KiB, $((gz / 1024)) KiB gzipped"
