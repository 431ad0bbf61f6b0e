#!/usr/bin/env bash
# Does warta's `cuda` build work on this GPU, and how fast is it: one report file, in
# under eight minutes, for a machine that is lent for minutes.
#
#   WARTA=path/to/warta WARTA_PARITY_TEST=path/to/translate-HASH scripts/gpu-check.sh [REPORT]
#   (default REPORT: gpu-check.md)
#
# Run it from a copy of the repo on the GPU machine, which has a driver, CUDA and PyTorch but
# no Rust: build the binary and the parity test elsewhere (`eval "$(scripts/cuda-toolkit.sh
# DIR)"; cargo build --release --features cuda; cargo test --release --features cuda --test
# translate --no-run`, which names the test binary) and carry both, with
# target/models/all-MiniLM-L6-v2 for part (c).
# The CUDA 13 libraries the binary links must be on LD_LIBRARY_PATH (README, "Devices").
# WARTA_DEVICE=cpu runs the same checks on the CPU (a rehearsal of the script itself).
#
# (a) Parity: the HF-parity test run on the GPU in f32 (every decoding setting the fixtures
#     record, each input alone and in a padded batch), against the committed references HF
#     made on the CPU and against references HF makes on this GPU now. Without the test
#     binary, the fixtures' inputs are translated on the GPU and compared line for line with
#     the same binary on the CPU.
# (b) Speed: benches/compare.py on the GPU, beam 4 and greedy at batch 32: warta f32, f16 and
#     bf16 beside HF transformers (f32, fp16) and CTranslate2 (float32, float16,
#     int8_float16) when its wheel is installed, on the full-size random checkpoint
#     (made here by tests/fixtures/make_fixtures.py --big if absent).
# (c) A `warta brief` of examples/articles on the GPU, with the fixture translator.
#
# Each part has its own time limit, cut to what is left of the whole check's 7 minutes 40
# seconds (GPU_CHECK_SECONDS), and reports its failure; the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
report="${1:-gpu-check.md}"
warta="${WARTA:-target/release/warta}"
device="${WARTA_DEVICE:-cuda}"
py="${PYTHON:-python3}"
work="$(mktemp -d)"
# Seconds since a `date +%s%N` stamp, to the millisecond (no bc on every machine).
since() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }
trap 'rm -rf "$work"' EXIT
deadline=$(( $(date +%s) + ${GPU_CHECK_SECONDS:-460} ))
# The smaller of a part's own limit ($1 seconds) and what is left of the whole check's.
limit() { local left=$(( deadline - $(date +%s) )); [ "$left" -lt 1 ] && left=1; [ "$left" -lt "$1" ] && echo "$left" || echo "$1"; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

{
  echo "# warta GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "- binary: \`$warta\` ($("$warta" --version 2>&1 | head -n 1)), device: $device"
  echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"
  echo "- python: $("$py" -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1 | tail -n 1)"
} > "$report"

# (a) parity: token ids against HF transformers, on the CPU's references and on this device's
if [ -n "${WARTA_PARITY_TEST:-}" ]; then
  {
    echo
    echo "## (a) HF parity on $device in f32 (tests/translate.rs, marian_matches_hf_generate)"
    echo
  } >> "$report"
  refs=""
  if timeout "$(limit 120)" "$py" tests/fixtures/make_fixtures.py --stage references --device "$device" \
      --out "$work/refs" > "$work/refs.log" 2>&1; then
    refs="$(ls -d "$work"/refs/*/ | tr '\n' ':')"
  else
    echo "HF on $device did not finish: \`$(tail -n 1 "$work/refs.log")\`; only the committed (CPU) references are compared." >> "$report"
    echo >> "$report"
  fi
  start=$(date +%s%N)
  WARTA_PARITY_DEVICE="$device" WARTA_MARIAN_FIXTURES="$refs" timeout "$(limit 90)" "$WARTA_PARITY_TEST" \
    marian_matches_hf_generate --exact --nocapture > "$work/parity.log" 2>&1
  status=$?
  {
    echo "Each fixture's HF references: \`marian-*\` made by HF on the CPU (committed), \`marian-*-$device\` made by HF on this $device just now."
    echo "A comparison is one input's token ids, scores within 1e-4 and text, alone and in a padded batch."
    echo
    echo '```'
    grep -E '^parity:|FAIL' "$work/parity.log" | head -n 60
    echo "exit status $status after $(since "$start") s"
    echo '```'
  } >> "$report"
else
  # Without the test binary: the same inputs' text, line for line against the CPU.
  {
    echo
    echo "## (a) Fixtures on $device in f32, against the CPU (no WARTA_PARITY_TEST given)"
    echo
    echo "| fixture | beams | lines identical | seconds on $device |"
    echo "|---|---|---|---|"
  } >> "$report"
  for fixture in tests/fixtures/marian-shared tests/fixtures/marian-separate; do
    name="$(basename "$fixture")"
    "$py" -c 'import json, sys; print("\n".join(t.replace("\n", " ") for t in json.load(open(sys.argv[1]))["inputs"]))' \
      "$fixture/reference.json" > "$work/$name.txt"
    for beams in 1 4; do
      start=$(date +%s%N)
      if timeout "$(limit 120)" "$warta" translate -q --no-retry --beams "$beams" --device "$device" --dtype f32 \
          --model "$fixture" "$work/$name.txt" > "$work/$name.$beams.dev" 2> "$work/$name.$beams.err"; then
        secs=$(since "$start")
        timeout "$(limit 120)" "$warta" translate -q --no-retry --beams "$beams" --device cpu --dtype f32 \
          --model "$fixture" "$work/$name.txt" > "$work/$name.$beams.cpu" 2>/dev/null
        same=$(paste -d '\t' "$work/$name.$beams.dev" "$work/$name.$beams.cpu" | awk -F '\t' '$1 == $2' | wc -l)
        echo "| $name | $beams | $same / $(wc -l < "$work/$name.txt") | $secs |" >> "$report"
      else
        echo "| $name | $beams | failed: $(tail -n 1 "$work/$name.$beams.err") | - |" >> "$report"
      fi
    done
  done
fi

# (b) speed, the BENCHMARKS.md comparison on the GPU
model="tests/fixtures/big/opus-mt-id-en-shape"
if [ ! -f "$model/config.json" ]; then
  timeout "$(limit 180)" "$py" tests/fixtures/make_fixtures.py --big > "$work/big.log" 2>&1 || true
fi
{
  echo
  echo "## (b) Speed on $device (benches/compare.py)"
  echo
} >> "$report"
if [ -f "$model/config.json" ]; then
  engines="hf,hf-fp16,warta,warta-f16,warta-bf16"
  if "$py" -c 'import ctranslate2' 2>/dev/null; then
    engines="$engines,ct2-float32,ct2-float16,ct2-int8_float16"
  fi
  [ "$device" = cpu ] && engines="hf,warta"
  if ! timeout "$(limit 360)" "$py" benches/compare.py --device "$device" --model "$model" --warta "$warta" \
      --engines "$engines" --configs beam4-b32,greedy-b32 --repeat 1 --timeout "$(limit 120)" \
      --work "$work/compare" > "$work/compare.md" 2> "$work/compare.err"; then
    echo "compare.py did not finish: \`$(tail -n 1 "$work/compare.err")\`" >> "$report"
  fi
  sed -n '/^| engine |/,/^$/p' "$work/compare.md" >> "$report"
else
  echo "no full-size checkpoint: \`$(tail -n 1 "$work/big.log")\`" >> "$report"
fi

# (c) a briefing on the device
{
  echo
  echo "## (c) warta brief examples/articles on $device"
  echo
} >> "$report"
minilm="target/models/all-MiniLM-L6-v2"
if [ -f "$minilm/config.json" ]; then
  printf '[translation]\nmodel = "%s"\n[embedding]\nmodel = "%s"\n' \
    "$PWD/tests/fixtures/marian-shared" "$PWD/$minilm" > "$work/models.toml"
  start=$(date +%s%N)
  if timeout "$(limit 60)" "$warta" brief examples/articles --device "$device" --out "$work/brief" \
      --models "$work/models.toml" -q 2> "$work/brief.err"; then
    echo "done in $(since "$start") s: $("$py" -c 'import json, sys; b = json.load(open(sys.argv[1])); print(len(b["articles"]), "articles,", len(b["overview"]), "overview sentences")' "$work/brief/briefing.json")" >> "$report"
  else
    echo "failed: \`$(tail -n 2 "$work/brief.err" | tr '\n' ' ')\`" >> "$report"
  fi
else
  echo "skipped: no $minilm (carry it from the build machine)" >> "$report"
fi
echo "report: $report" >&2
