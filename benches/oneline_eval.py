#!/usr/bin/env python3
"""Whole articles on one line: does ingest keep every sentence that is not chrome?

    python3 benches/oneline_eval.py --warta target/release/warta \
        --dev /path/to/indosum/dev.01.jsonl --held-out /path/to/indosum/dev.05.jsonl

Real articles from IndoSum (Kurniawan & Louvan 2018, CC BY-SA 4.0; the folds are JSONL with
tokenised `paragraphs`) are written as JSONL records whose whole text is one line, as
datasets and flattened scrapes carry them: as they are, and with a sentence of chrome at the
start, at the end, or at both (the shapes that lost whole articles before: a comment-form
notice, a copyright line, a trailing agency credit, a leading date line, a related-article
link, a channel promotion). `warta ingest` reads them all in one run; each article's known
body sentences are then looked for in its output.

Known body sentences are the article's own sentences, less those that are chrome in the
source itself (IndoSum keeps some "Baca juga : …" lines and editors' sign-offs; KNOWN_CHROME
below, an independent check, not warta's rules): those are counted apart, as chrome warta removed or kept.
The --dev file may be used to look at failures; the --held-out file is for reporting only.
"""
import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

KNOWN_CHROME = re.compile(
    r"^\s*(baca juga|lihat juga|simak juga|tonton juga|berita terkait|artikel terkait|"
    r"editor\s*:|penulis\s*:|reporter\s*:|wartawan\s*:|pewarta\s*:|sumber\s*:|foto\s*:|video\s*:)"
    # an editor's sign-off: "(nat)", "(rah / rah)", "[cob]"
    r"|^\s*[(\[]\s*[\w.]{1,12}(\s*/\s*[\w.]{1,12}){0,3}\s*[)\]]\s*$", re.I)

# Chrome put around the articles: (where, text). {title} is another article's first words.
CHROME = [
    ("start", "Your email address will not be published."),
    ("start", "Baca juga: {title}."),
    ("start", "Senin, 27 Maret 2017 - 10:15 WIB"),
    ("end", "©2017 Kabar Online. All rights reserved."),
    ("end", "/AFP"),
    ("end", "Simak breaking news dan berita pilihan kami langsung di ponselmu."),
    ("end", "Artikel ini telah tayang di Kabar.com dengan judul {title}."),
    ("end", "(REUTERS/Danny Moloshok)"),
]


def detok(tokens):
    """IndoSum's tokens back into text."""
    out = ""
    quote_open = False
    for t in tokens:
        if t == '"':
            if quote_open:
                out += '"'
            else:
                out += (" " if out else "") + '"'
            quote_open = not quote_open
            continue
        glue_left = t in {".", ",", ";", ":", "!", "?", ")", "]", "%", "'s"} or (
            out.endswith(("(", "[")) or (out.endswith('"') and quote_open))
        out += t if (glue_left or not out) else " " + t
    return re.sub(r"\s+", " ", out).strip()


def words(s):
    return " ".join(re.findall(r"\w+", s.lower()))


def articles(path):
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        a = json.loads(line)
        sents = [detok(s) for p in a["paragraphs"] for s in p]
        sents = [s for s in sents if s]
        if len(sents) >= 2:
            yield a["id"], sents


def records(path, rng):
    arts = list(articles(path))
    titles = [" ".join(s[0].split()[:8]) for _, s in arts]
    recs = []
    for n, (aid, sents) in enumerate(arts):
        variant = n % 4  # plain, chrome at the start, at the end, at both
        start = [c for c in CHROME if c[0] == "start"]
        end = [c for c in CHROME if c[0] == "end"]
        pre, post = "", ""
        title = rng.choice(titles)
        if variant in (1, 3):
            pre = rng.choice(start)[1].format(title=title) + " "
        if variant in (2, 3):
            c = rng.choice(end)[1].format(title=title)
            post = c if c.startswith(("/", "(")) else " " + c
        text = pre + " ".join(sents) + post
        recs.append({"id": f"r{n}", "text": text, "_sents": sents, "_variant": variant})
    return recs


def run(warta, recs):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in recs:
            f.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")
        path = f.name
    p = subprocess.run([warta, "-q", "ingest", path], capture_output=True, text=True)
    Path(path).unlink()
    out = {}
    for line in p.stdout.splitlines():
        a = json.loads(line)
        out[a["id"]] = a["text"]
    return out, p.stderr


def report(name, recs, out, verbose):
    kept = total = chrome_total = chrome_kept = lost_articles = intact = 0
    by_variant = {}
    misses = []
    for r in recs:
        body = words(out.get(r["id"], ""))
        if r["id"] not in out:
            lost_articles += 1
        all_kept = True
        for s in r["_sents"]:
            found = words(s) in body
            if KNOWN_CHROME.search(s):
                chrome_total += 1
                chrome_kept += found
                continue
            total += 1
            kept += found
            v = by_variant.setdefault(r["_variant"], [0, 0])
            v[0] += found
            v[1] += 1
            if not found:
                all_kept = False
                misses.append((r["id"], s))
        intact += all_kept
    names = ["plain", "chrome at the start", "chrome at the end", "chrome at both ends"]
    print(f"| {name} | {len(recs)} | {kept}/{total} ({100 * kept / total:.2f} %) | {intact}/{len(recs)} | "
          f"{lost_articles} | {chrome_total - chrome_kept}/{chrome_total} | "
          + " / ".join(f"{100 * v[0] / v[1]:.2f}" for _, v in sorted(by_variant.items())) + " |")
    if verbose:
        for rid, s in misses[:40]:
            print(f"  lost {rid}: {s[:160]}", file=sys.stderr)
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warta", required=True)
    ap.add_argument("--dev", required=True, help="IndoSum fold to look at failures on")
    ap.add_argument("--held-out", help="IndoSum fold for reporting only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()
    print("| articles | records | known body sentences kept | articles with every body sentence | "
          "articles lost | chrome sentences in the source removed | kept by variant: plain / start / end / both (%) |")
    print("|---|---|---|---|---|---|---|")
    for name, path in [("development", args.dev), ("held out", args.held_out)]:
        if not path:
            continue
        recs = records(path, random.Random(args.seed))
        out, stderr = run(args.warta, recs)
        report(f"{name} ({Path(path).name})", recs, out, args.verbose and name == "development")


if __name__ == "__main__":
    main()
