#!/usr/bin/env bash
# Speed comparison warta vs HF transformers vs CTranslate2 (see benches/compare.py).
#
#   benches/compare.sh [compare.py options...]      e.g. --repeat 3 --wait-idle 600
#
# Environment: PYTHON (a Python with torch, transformers, sentencepiece, ctranslate2;
# default python3), WARTA (a warta binary; default: cargo build --release, then
# target/release/warta), MODEL (default: tests/fixtures/big/opus-mt-id-en-shape, made by
# `tests/fixtures/make_fixtures.py --big` when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ -z "${MODEL:-}" ]; then
    MODEL=tests/fixtures/big/opus-mt-id-en-shape
    [ -f "$MODEL/config.json" ] || "$PY" tests/fixtures/make_fixtures.py --big
fi

if [ -z "${WARTA:-}" ]; then
    cargo build --release --locked
    WARTA=target/release/warta
fi

exec "$PY" benches/compare.py --model "$MODEL" --warta "$WARTA" "$@"
