"""The summary-quality data sets and the ROUGE arithmetic shared by the scorer's training
(`train_scorer.py`) and the summary benchmark: one definition of each split, of the
greedy oracle and of ROUGE.

Data (outside the repo; pass its paths):
- IndoSum (Kurniawan & Louvan 2018, CC BY-SA 4.0): Indonesian news, JSONL folds with
  tokenised `paragraphs` and a `summary`. Only the five `dev.0N.jsonl` folds are at hand
  (the train/test folds are too big for the mirror we read). Splits: `train` = dev.01-03,
  `tune` = dev.04 less any article in train, `held-out` = dev.05 less any article in
  dev.01-04 (folds share a few articles).
- BBC News Summary (Greene & Cunningham's BBC corpus with extractive reference summaries):
  `News Articles/<category>/NNN.txt` (title, blank line, paragraphs) and
  `Summaries/<category>/NNN.txt`. Splits by the SHA-1 of "category/NNN": first byte odd =
  `held-out`; even: second byte even = `train`, odd = `tune`.

`held-out` parts are for reporting only: nothing is tuned on them.

ROUGE is the `rouge-score` package's (stemmed F1; its tokenizer keeps [a-z0-9], fine for
English and Indonesian); the greedy oracle adds, up to 3 times, the sentence that most
raises ROUGE-1 + ROUGE-2 F1 of the picked set, and stops when none does (as BertSum's
labels are made).
"""
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

from rouge_score import rouge_scorer, tokenize

from oneline_eval import detok  # IndoSum's tokens back into text, one definition
from nltk.stem import porter

_STEMMER = porter.PorterStemmer()
SCORER = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)


def _indosum_fold(path):
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        a = json.loads(line)
        paragraphs = [[detok(s) for s in p] for p in a["paragraphs"]]
        paragraphs = [[s for s in p if s] for p in paragraphs]
        paragraphs = [p for p in paragraphs if p]
        yield {
            "id": "indosum-" + a["id"],
            "title": None,
            "paragraphs": paragraphs,
            "reference": [detok(s) for s in a["summary"]],
        }


def indosum(folder, split):
    folder = Path(folder)
    folds = {"train": ["01", "02", "03"], "tune": ["04"], "held-out": ["05"]}[split]
    earlier = {"train": [], "tune": ["01", "02", "03"], "held-out": ["01", "02", "03", "04"]}[split]
    seen = set()
    for f in earlier:
        seen.update(a["id"] for a in _indosum_fold(folder / f"dev.{f}.jsonl"))
    for f in folds:
        for a in _indosum_fold(folder / f"dev.{f}.jsonl"):
            if a["id"] not in seen:
                seen.add(a["id"])
                yield a


def _bbc_part(key):
    h = hashlib.sha1(key.encode()).digest()
    if h[0] % 2 == 1:
        return "held-out"
    return "train" if h[1] % 2 == 0 else "tune"


def bbc(root, split):
    root = Path(root)
    for path in sorted((root / "News Articles").glob("*/*.txt")):
        key = f"{path.parent.name}/{path.stem}"
        if _bbc_part(key) != split:
            continue
        text = path.read_text(encoding="latin-1")
        blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
        if len(blocks) < 2:
            continue
        title, body = blocks[0], blocks[1:]
        summary = (root / "Summaries" / path.parent.name / path.name).read_text(encoding="latin-1")
        # The summaries join sentences with no space after the stop.
        reference = [s.strip() for s in re.split(r'(?<=[.!?])(?=["A-Z])', summary) if s.strip()]
        yield {
            "id": f"bbc-{path.parent.name}-{path.stem}",
            "title": title,
            "paragraphs": [[b] for b in body],
            "reference": reference,
        }


def load(spec, paths):
    """`spec` is "indosum:train", "bbc:held-out", …; `paths` maps a set to its folder."""
    name, split = spec.split(":")
    if name == "indosum":
        return list(indosum(paths["indosum"], split))
    if name == "bbc":
        return list(bbc(paths["bbc"], split))
    raise SystemExit(f"unknown set {name!r}")


def warta_record(a):
    """An article as a warta JSONL input record (paragraphs separated by a blank line)."""
    rec = {"id": a["id"], "text": "\n\n".join(" ".join(p) for p in a["paragraphs"])}
    if a["title"]:
        rec["title"] = a["title"]
    return rec


def tokens(text):
    return tokenize.tokenize(text, _STEMMER)


def _ngrams(toks, n):
    return Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def _f1(picked, ref):
    overlap = sum((picked & ref).values())
    p = overlap / max(1, sum(picked.values()))
    r = overlap / max(1, sum(ref.values()))
    return 0.0 if overlap == 0 else 2 * p * r / (p + r)


def greedy_oracle(sentences, reference, k=3):
    """Indices (sorted) of up to `k` sentences that greedily maximise R1 + R2 F1."""
    ref_toks = tokens(" ".join(reference))
    ref1, ref2 = _ngrams(ref_toks, 1), _ngrams(ref_toks, 2)
    toks = [tokens(s) for s in sentences]
    picked, best = [], 0.0
    while len(picked) < k:
        choice = None
        for i in range(len(sentences)):
            if i in picked:
                continue
            t = [w for j in sorted(picked + [i]) for w in toks[j]]
            score = _f1(_ngrams(t, 1), ref1) + _f1(_ngrams(t, 2), ref2)
            if score > best:
                best, choice = score, i
        if choice is None:
            break
        picked.append(choice)
    return sorted(picked)


def rouge(summary, reference):
    """ROUGE-1/2/Lsum F1 (x100) of a summary (list of sentences) against a reference."""
    s = SCORER.score("\n".join(reference), "\n".join(summary))
    return {k: 100 * s[k].fmeasure for k in ("rouge1", "rouge2", "rougeLsum")}
