"""Trains the extractive summariser's sentence scorer and writes `src/summarize/scorer.json`.

The scorer is a logistic regression over the features warta computes itself
(`src/summarize/features.rs`, written out by `examples/summary_features.rs`), fitted to the
sentences a greedy ROUGE oracle picks for each article's reference summary (the labels of
BertSum-style extractive training). The training sets are the `train` parts of
`summary_data.py` (IndoSum dev.01-03 and a third of BBC News Summary); the `tune` parts
report how the weights do on articles they were not fitted to. `held-out` parts are never
read here.

    python3 -m venv /tmp/trainvenv && /tmp/trainvenv/bin/pip install rouge-score numpy
    cargo build --release --example summary_features
    /tmp/trainvenv/bin/python benches/train_scorer.py --warta target/release/warta \
        --features-bin target/release/examples/summary_features \
        --model target/models/all-MiniLM-L6-v2 --indosum /path/to/indosum \
        --bbc "/path/to/BBC News Summary" --work /tmp/scorer-work

Feature files are cached in --work (delete them after changing features.rs).
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import summary_data  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def featurise(spec, a, work, limit):
    """Articles of set `spec` with warta's sentences, features and oracle labels."""
    name = spec.replace(":", "-")
    feats = work / f"{name}.features.jsonl"
    articles = {x["id"]: x for x in summary_data.load(spec, {"indosum": a.indosum, "bbc": a.bbc})}
    if limit:
        articles = dict(list(articles.items())[:limit])
    if not feats.exists():
        inputs = work / f"{name}.inputs.jsonl"
        with inputs.open("w") as f:
            for x in articles.values():
                f.write(json.dumps(summary_data.warta_record(x), ensure_ascii=False) + "\n")
        ingested = work / f"{name}.ingested.jsonl"
        t = time.time()
        with ingested.open("w") as out:
            subprocess.run([a.warta, "ingest", str(inputs)], stdout=out, check=False)
        with ingested.open() as src, (work / f"{name}.tmp").open("w") as out:
            subprocess.run([a.features_bin, a.model], stdin=src, stdout=out, check=True)
        (work / f"{name}.tmp").rename(feats)
        log(f"{spec}: features of {len(articles)} articles in {time.time() - t:.0f}s")
    rows = []
    for line in feats.open():
        r = json.loads(line)
        x = articles.get(r["id"])
        if x is None or not r["sentences"]:
            continue
        texts = [s["text"] for s in r["sentences"]]
        r["labels"] = summary_data.greedy_oracle(texts, x["reference"])
        r["reference"] = x["reference"]
        rows.append(r)
    return rows


def matrix(rows):
    X = np.array([f for r in rows for f in r["features"]], dtype=np.float64)
    y = np.array([float(i in r["labels"]) for r in rows for i in range(len(r["features"]))])
    return X, y


# A feature that varies in fewer than this share of the training sentences gets weight 0:
# its weight would rest on too few examples (IndoSum has no titles, so the title features
# are set by the handful of articles where ingest found one).
MIN_SUPPORT = 0.02


def fit(X, y, l2):
    """L2-regularised logistic regression by Newton's method on standardised features."""
    mean, scale = X.mean(0), X.std(0)
    mode = np.array([np.bincount(np.unique(c, return_inverse=True)[1]).max() for c in X.T])
    unsupported = (1 - mode / len(X)) < MIN_SUPPORT
    scale[scale < 1e-6] = 1.0
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    Z[:, :-1][:, unsupported] = 0.0
    w = np.zeros(Z.shape[1])
    reg = l2 * np.eye(Z.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-Z @ w))
        grad = Z.T @ (p - y) + reg @ w
        hess = (Z * (p * (1 - p))[:, None]).T @ Z + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    w[:-1][unsupported] = 0.0
    return mean, scale, w[:-1], w[-1]


def scores(r, mean, scale, w, b):
    F = np.array(r["features"], dtype=np.float64)
    return ((F - mean) / scale) @ w + b


def select(r, relevance, k=3, max_words=80, min_words=4, redundancy=0.6):
    """The choice `extractive::select` makes (mirrored here to tune its settings without
    re-embedding; `summary_eval.py` measures warta's own choice)."""
    texts = [s["text"] for s in r["sentences"]]
    sim = r["similarity"]
    n = len(texts)
    wc = [len(t.split()) for t in texts]
    chosen, used = [], 0
    while len(chosen) < k:
        best = None
        for i in range(n):
            if wc[i] < min_words or i in chosen or used + wc[i] > max_words:
                continue
            if any(sim[i][p] >= 0.95 for p in chosen):
                continue
            score = relevance[i] - redundancy * max([sim[i][p] for p in chosen], default=0.0)
            if best is None or score > best[1]:
                best = (i, score)
        if best is None:
            break
        chosen.append(best[0])
        used += wc[best[0]]
    if not chosen:
        pool = [i for i in range(n) if wc[i] >= min_words] or [i for i in range(n) if texts[i].strip()]
        if pool:
            chosen.append(max(pool, key=lambda i: (relevance[i], -i)))
    return sorted(chosen)


def tune_selection(rows, mean, scale, w, b):
    """Mean ROUGE-1/2/Lsum of the selection under a grid of settings."""
    out = {}
    probs = [1 / (1 + np.exp(-scores(r, mean, scale, w, b))) for r in rows]
    for max_words in (60, 80, 100, 120):
        for redundancy in (0.0, 0.1, 0.2, 0.4, 0.6):
            figs = []
            for r, p in zip(rows, probs):
                picks = select(r, p, max_words=max_words, redundancy=redundancy)
                figs.append(summary_data.rouge([r["sentences"][i]["text"] for i in picks], r["reference"]))
            out[f"max_words={max_words} redundancy={redundancy}"] = [
                float(np.mean([f[m] for f in figs])) for m in ("rouge1", "rouge2", "rougeLsum")]
    return out


def report(rows, mean, scale, w, b, k=3):
    """Mean ROUGE of LEAD-3, the top-k by score in reading order, and the oracle."""
    out = {"lead3": [], "scorer": [], "oracle": []}
    for r in rows:
        texts = [s["text"] for s in r["sentences"]]
        s = scores(r, mean, scale, w, b)
        top = sorted(np.argsort(-s, kind="stable")[:k].tolist())
        for name, picks in (("lead3", list(range(min(k, len(texts))))), ("scorer", top),
                            ("oracle", r["labels"])):
            out[name].append(summary_data.rouge([texts[i] for i in picks], r["reference"]))
    return {n: {m: float(np.mean([x[m] for x in v])) for m in ("rouge1", "rouge2", "rougeLsum")}
            for n, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warta", required=True)
    ap.add_argument("--features-bin", required=True)
    ap.add_argument("--model", required=True, help="the embedding model directory")
    ap.add_argument("--indosum", required=True)
    ap.add_argument("--bbc", required=True)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--train", default="indosum:train,bbc:train")
    ap.add_argument("--tune", default="indosum:tune,bbc:tune")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--limit", type=int, default=0, help="articles per training set (0: all)")
    ap.add_argument("--tune-limit", type=int, default=0, help="articles per tuning set (0: all)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "src/summarize/scorer.json")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    for spec in a.train.split(",") + a.tune.split(","):
        if spec.endswith(":held-out"):
            raise SystemExit("held-out sets are for reporting only")

    train = [r for spec in a.train.split(",") for r in featurise(spec, a, a.work, a.limit)]
    X, y = matrix(train)
    mean, scale, w, b = fit(X, y, a.l2)
    names = train[0]["names"]
    log(f"trained on {len(train)} articles, {len(y)} sentences, {int(y.sum())} oracle picks")
    for n, v in sorted(zip(names, w), key=lambda t: -abs(t[1])):
        log(f"  {n:22s} {v:+.3f}")
    tune = {}
    for spec in a.tune.split(","):
        rows = featurise(spec, a, a.work, a.tune_limit)
        tune[spec] = report(rows, mean, scale, w, b)
        log(f"{spec} ({len(rows)} articles):")
        for system, figs in tune[spec].items():
            log(f"  {system:7s} " + "  ".join(f"{m} {v:.2f}" for m, v in figs.items()))
        if all("similarity" in r for r in rows):
            for setting, figs in tune_selection(rows, mean, scale, w, b).items():
                log(f"  {setting:34s} " + "  ".join(f"{v:.2f}" for v in figs))
    json.dump({
        "features": names,
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 6) for v in w],
        "bias": round(float(b), 6),
        "trained_on": {
            "script": "benches/train_scorer.py",
            "sets": a.train.split(","),
            "articles": len(train),
            "sentences": int(len(y)),
            "oracle_picks": int(y.sum()),
            "l2": a.l2,
            "labels": "greedy ROUGE-1+2 oracle, up to 3 sentences",
            "tune_top3_no_redundancy": tune,
        },
    }, a.out.open("w"), indent=1)
    a.out.open("a").write("\n")
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
