#!/usr/bin/env python3
"""int8 (and CPU bf16) against f32 on the copy-task fixtures: issue 16's item 4.

    python benches/int8_agreement.py --warta target/release/warta [--json FILE]

For each fixture checkpoint, the share of inputs whose translation is the same in
`--dtype int8` (and `bf16`) as in f32, greedy and with 4 beams, each input its own line
(`warta translate --no-retry`), and which inputs differ; beside it, how many f32
translations are exact copies of their input (how sure the model is):

- tests/fixtures/marian-shared and marian-separate, the parity fixtures: trained a few
  hundred steps, they copy about half of the inputs and loop on others to the length
  limit, through many steps where f32's top two logits nearly tie;
- tests/fixtures/marian-copy-trained: marian-shared's architecture, data and seed trained
  4,000 steps, until it copies (make_fixtures.py --stage models --only trained).

Inputs: each fixture's 26 reference inputs (marian-copy-trained: marian-shared's), and for
marian-copy-trained also benches/sentences.txt (64 sentences, most longer than any it was
trained on). Prints Markdown on stdout.
"""
import argparse
import json
import sys
from pathlib import Path

from wartacli import lines, translate

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warta", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--work", type=Path, default=ROOT / "benches" / "out")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)

    def inputs_of(name):
        return json.loads((FIX / name / "reference.json").read_text(encoding="utf-8"))["inputs"]

    cases = [
        ("marian-shared", "reference inputs", inputs_of("marian-shared")),
        ("marian-separate", "reference inputs", inputs_of("marian-separate")),
        ("marian-copy-trained", "reference inputs", inputs_of("marian-shared")),
        ("marian-copy-trained", "benches/sentences.txt",
         lines((ROOT / "benches" / "sentences.txt").read_text(encoding="utf-8"))),
    ]
    rows = []
    for model, what, texts in cases:
        path = a.work / f"agreement-{model}-{len(texts)}.txt"
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        for beams in [1, 4]:
            f32 = translate(a.warta, FIX / model, path, "f32", beams)
            row = {"model": model, "inputs": what, "beams": beams, "n": len(texts),
                   "f32_copies": sum(x.strip() == t.strip() for x, t in zip(f32, texts))}
            for dtype in ["int8", "bf16"]:
                low = translate(a.warta, FIX / model, path, dtype, beams)
                row[dtype + "_same"] = sum(x == y for x, y in zip(f32, low))
                row[dtype + "_differ"] = [i for i, (x, y) in enumerate(zip(f32, low)) if x != y]
                # Where f32 copies its input (the model is sure), does the other agree?
                row[dtype + "_same_where_f32_copies"] = sum(
                    x == y for x, y, t in zip(f32, low, texts) if x.strip() == t.strip())
            rows.append(row)
            print(f"{model} {what} beams={beams}: int8 {row['int8_same']}/{len(texts)}", file=sys.stderr)
    out = ["| model | inputs | search | int8 = f32 | bf16 = f32 | f32 copies its input | int8 = f32 where f32 copies | inputs where int8 differs |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['inputs']} | {'greedy' if r['beams'] == 1 else '4 beams'} | "
                   f"{r['int8_same']}/{r['n']} ({100 * r['int8_same'] / r['n']:.0f} %) | {r['bf16_same']}/{r['n']} | "
                   f"{r['f32_copies']}/{r['n']} | {r['int8_same_where_f32_copies']}/{r['f32_copies']} | "
                   f"{', '.join(map(str, r['int8_differ'])) or '-'} |")
    print("\n".join(out))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
