#!/usr/bin/env python3
"""What the vocabulary shortlist (`translate --shortlist`) changes, on data it was not made from.

    python benches/shortlist_eval.py --warta target/release/warta [--json FILE]

For each fixture checkpoint (tests/fixtures/marian-shared, marian-separate), dtype (f32,
int8) and search (greedy, 4 beams):

1. the table's text: benches/sentences.txt without the fixture's 26 reference inputs (58
   sentences), and the model's own translations of them with the same dtype and search;
2. `warta shortlist` learns a table from those pairs, with its default settings (50 targets
   a source token, the 100 most frequent targets for every sentence: Bergamot's sizes,
   not tuned here);
3. both sets are translated with and without `--shortlist` (`--no-retry`, so each line is
   exactly what the search gives), and the lines that come out the same are counted: on
   the 58 the table was made from (in-sample) and on the 26 reference inputs (held out).

Also reported: the mean number of candidate tokens a held-out sentence has, of the
vocabulary. Nothing here feeds back into the defaults; the held-out share is the figure.

The fixtures are small copy-task models that stray from their input (they loop and
invent words), which a table learnt from 58 sentences cannot foresee: the shares are a
floor for a real model whose table is learnt from a real corpus. Prints Markdown on stdout.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from wartacli import candidate_counts, lines, translate, warta

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ["marian-shared", "marian-separate"]


def candidates_per_sentence(binary, model, path, table):
    """Mean candidates of a sentence of `path` under `table`, as warta counts them, and the
    model's vocabulary."""
    found = candidate_counts(binary, model, path, table)
    config = json.loads((Path(model) / "config.json").read_text(encoding="utf-8"))
    vocab = config.get("decoder_vocab_size") or config["vocab_size"]
    return sum(n * m for n, _, m in found) / sum(n for n, _, _ in found), vocab


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warta", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in FIXTURES:
            model = ROOT / "tests" / "fixtures" / name
            held = json.loads((model / "reference.json").read_text(encoding="utf-8"))["inputs"]
            corpus = [s for s in lines((ROOT / "benches" / "sentences.txt").read_text(encoding="utf-8"))
                      if s not in held]
            held_path, corpus_path = tmp / f"{name}.held.txt", tmp / f"{name}.corpus.txt"
            held_path.write_text("\n".join(held) + "\n", encoding="utf-8")
            corpus_path.write_text("\n".join(corpus) + "\n", encoding="utf-8")
            for dtype in ["f32", "int8"]:
                for beams in [1, 4]:
                    own = translate(a.warta, model, corpus_path, dtype, beams)
                    own_path = tmp / f"{name}.{dtype}.{beams}.own.txt"
                    own_path.write_text("\n".join(own) + "\n", encoding="utf-8")
                    table = tmp / f"{name}.{dtype}.{beams}.vmap"
                    table.write_text(warta(a.warta, "shortlist", "--model", model, "--source", corpus_path,
                                           "--target", own_path), encoding="utf-8")
                    row = {"model": name, "dtype": dtype, "beams": beams, "corpus": len(corpus),
                           "held_out": len(held)}
                    for part, path, full in [("in_sample", corpus_path, own),
                                             ("held_out", held_path, None)]:
                        full = full or translate(a.warta, model, path, dtype, beams)
                        short = translate(a.warta, model, path, dtype, beams, shortlist=table)
                        row[part + "_same"] = sum(x == y for x, y in zip(full, short))
                        if part == "held_out":
                            row["differ"] = [i for i, (x, y) in enumerate(zip(full, short)) if x != y]
                    row["candidates"], row["vocab"] = candidates_per_sentence(a.warta, model, held_path, table)
                    results.append(row)
                    print(f"{name} {dtype} beams={beams}: in-sample {row['in_sample_same']}/{len(corpus)}, "
                          f"held-out {row['held_out_same']}/{len(held)}", file=sys.stderr)
    out = ["| model | dtype | search | in-sample same | held-out same | candidates per held-out sentence | held-out inputs that differ |",
           "|---|---|---|---|---|---|---|"]
    for r in results:
        out.append(f"| {r['model']} | {r['dtype']} | {'greedy' if r['beams'] == 1 else str(r['beams']) + ' beams'} | "
                   f"{r['in_sample_same']}/{r['corpus']} | {r['held_out_same']}/{r['held_out']} | "
                   f"{r['candidates']:.0f} of {r['vocab']} | {', '.join(map(str, r['differ'])) or '-'} |")
    print("\n".join(out))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
