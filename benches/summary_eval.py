"""Summary quality: ROUGE of `warta summarize` beside LEAD-3 and a greedy oracle.

For each set (see `summary_data.py` for the data and its fixed splits), the articles are
written as warta JSONL records, `warta summarize` briefs them, and each article's summary
(the sentences its summary cites) is scored against the reference summary with
`rouge-score` (stemmed F1), beside LEAD-3 (warta's first three sentences) and the greedy
oracle (up to three of warta's sentences), all on warta's own sentence split. Also: mean
words per summary, articles left without a summary, and the run's time.

    python3 -m venv /tmp/trainvenv && /tmp/trainvenv/bin/pip install rouge-score numpy
    /tmp/trainvenv/bin/python benches/summary_eval.py --warta target/release/warta \
        --embedding target/models/all-MiniLM-L6-v2 --indosum /path/to/indosum \
        --bbc "/path/to/BBC News Summary" --set indosum:tune --set bbc:tune \
        --set indosum:held-out --set bbc:held-out --work /tmp/summary-eval

`--warta-arg` passes a flag on to warta (repeat it); `--limit N` takes the first N
articles of each set for a quick look.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent))
import summary_data  # noqa: E402

METRICS = ("rouge1", "rouge2", "rougeLsum")


def run_set(spec, a):
    name = spec.replace(":", "-")
    work = a.work / name
    work.mkdir(parents=True, exist_ok=True)
    articles = summary_data.load(spec, {"indosum": a.indosum, "bbc": a.bbc})
    if a.limit:
        articles = articles[: a.limit]
    inputs = work / "inputs.jsonl"
    with inputs.open("w") as f:
        for x in articles:
            f.write(json.dumps(summary_data.warta_record(x), ensure_ascii=False) + "\n")
    models = work / "models.toml"
    models.write_text(f'[embedding]\nmodel = "{a.embedding}"\n')
    out = work / "out"
    if out.exists():
        shutil.rmtree(out)  # a fresh run, not a resumed one
    t = time.time()
    subprocess.run([a.warta, "summarize", str(inputs), "--out", str(out), "--models", str(models),
                    "--threads", str(a.threads), *a.warta_arg],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.time() - t
    b = json.loads((out / "briefing.json").read_text())
    briefed = {x["id"]: x for x in b["articles"]}
    systems = {"warta": [], "lead3": [], "oracle": []}
    words = {k: [] for k in systems}
    missing = 0
    for x in articles:
        got = briefed.get(x["id"])
        if got is None or not got["summary"]:
            missing += 1
            continue
        texts = [s["translation"] for s in got["sentences"]]
        index = {s["id"]: i for i, s in enumerate(got["sentences"])}
        chosen = sorted({index[c] for s in got["summary"] for c in s["citations"]})
        picks = {
            "warta": chosen,
            "lead3": list(range(min(3, len(texts)))),
            "oracle": summary_data.greedy_oracle(texts, x["reference"]),
        }
        for k, p in picks.items():
            summary = [texts[i] for i in p]
            systems[k].append(summary_data.rouge(summary, x["reference"]))
            words[k].append(sum(len(s.split()) for s in summary))
    return {
        "set": spec,
        "articles": len(articles),
        "no_summary": missing,
        "seconds": seconds,
        "systems": {k: {**{m: mean(r[m] for r in v) for m in METRICS}, "words": mean(words[k])}
                    for k, v in systems.items() if v},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warta", required=True)
    ap.add_argument("--embedding", required=True, help="the embedding model directory")
    ap.add_argument("--indosum")
    ap.add_argument("--bbc")
    ap.add_argument("--set", action="append", required=True, help="e.g. indosum:tune, bbc:held-out")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warta-arg", action="append", default=[])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    results = [run_set(spec, a) for spec in a.set]
    for r in results:
        print(f"\n{r['set']}: {r['articles']} articles, {r['no_summary']} without a summary, "
              f"warta summarize {r['seconds']:.0f} s")
        print("| system | ROUGE-1 | ROUGE-2 | ROUGE-Lsum | words |")
        print("|---|---|---|---|---|")
        lead = r["systems"]["lead3"]
        for k, v in r["systems"].items():
            ratio = f" ({v['rouge1'] / lead['rouge1']:.3f}x)" if k == "warta" else ""
            print(f"| {k} | {v['rouge1']:.2f}{ratio} | {v['rouge2']:.2f} | {v['rougeLsum']:.2f} | {v['words']:.0f} |")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
