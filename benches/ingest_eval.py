#!/usr/bin/env python3
"""Ingest accuracy and speed on real article pages, warta beside trafilatura, in one run.

    python3 benches/ingest_eval.py --pages ../shared/realpages --warta target/release/warta \
        --trafilatura-python /path/to/venv/bin/python --held-out republika,tempo,viva

The pages directory holds HTML files and a TRUTH.md whose table has the columns
`file | outlet | title | date_on_page | iso | url | notes` (the headline as the page shows it,
the publication instant; notes starting with PHOTO mark photo and gallery pages). Each system
is scored per page on:

- headline: exact, after whitespace and quote normalisation;
- instant: the publication instant to the minute (a time without a zone is not an instant);
- day: the publication day, in the page's own zone;
- body: an article body, and not the site's chrome: with a reference body (--bodies), at
  least 80 % of its sentences of prose; else at least half of the content words of the
  page's own description (og:description, description, twitter:description), or, on a
  page without one, 50 words or more. A photo page passes with a body
  free of chrome or with a reported error (nothing to brief is a right answer there);
- clean: no "Baca juga" / related / most-read / tag / share / footer chrome in the body
  (CHROME below), on pages that gave a body;
- recall (optional, `--bodies FILE`): the share of the reference body's sentences of prose
  (six words or more, ending a sentence) found in the body, the reference being the element
  an XPath in FILE names (annotations only, no publisher text).

Files whose names start with an outlet in --held-out are reported apart: they were kept out
of every tuning decision. Speed: trafilatura is timed as its extraction loop inside one warm
interpreter; warta as a process reading all pages --rounds times (per pass), and as a process
per pass, start-up included (--repeat times each, medians).
Other extractors' outputs can be scored too: --jsonl NAME=FILE, one {"file", "title", "date",
"text"} record per page (a missing record or an "error" field is a reported failure).
trafilatura runs in a virtual environment outside the repository (pip install
trafilatura==2.3.1 lxml_html_clean); its package is never needed by warta.
"""
import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

# Chrome that must not be in a body: line-start labels and phrases that only site furniture
# says. Matched case-insensitively on each line (paragraph) of the body.
CHROME = [
    r"^\s*(baca juga|lihat juga|simak juga|tonton juga|berita terkait|artikel terkait|"
    r"related news|read also|also read|jangan lewatkan|berita lainnya|artikel lainnya|"
    r"terpopuler|paling banyak dibaca|most read|most popular|popular (news|videos|photos)|"
    r"trending( tags)?|tags?\s*:|topik\s*:|share\s*:|bagikan\s*:)",
    r"telah dilihat \d+ kali",
    r"\ball rights reserved\b",
    r"^\s*(about us|advertise|contact us|site map|privacy policy|pedoman media siber)\b",
    r"\bnewsletter\b",
    r"^\s*(facebook|twitter|whatsapp|google\+|email|copy link|line)\s*$",
    r"^\s*(like|dislike) \(\d+\)\s*$",
    r"^\s*\d+ (comments?|komentar)\s*$",
]
CHROME_RE = [re.compile(p, re.I) for p in CHROME]

TRAFILATURA_SCRIPT = r"""
import json, sys, time, trafilatura
files = json.loads(sys.stdin.read())
pages = [open(f, 'rb').read() for f in files]
params = {"extensive_search": True, "original_date": True,
          "outputformat": "%Y-%m-%dT%H:%M:%S%z"}
out, times = [], []
for rep in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    res = []
    for f, html in zip(files, pages):
        try:
            d = trafilatura.bare_extraction(html, with_metadata=True, date_extraction_params=params)
        except Exception as e:  # a failure is scored as one
            res.append({"file": f, "error": repr(e)})
            continue
        d = d.as_dict() if hasattr(d, "as_dict") else (d or {})
        res.append({"file": f, "title": d.get("title"), "date": d.get("date"), "text": d.get("text")})
    times.append(time.perf_counter() - t0)
    out = res
print(json.dumps({"times": times, "records": out}))
"""


def read_truth(path):
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) < 7:
            continue
        rows.append({
            "file": cells[0].strip("`"),
            "title": cells[2],
            "iso": cells[4],
            "notes": cells[6],
        })
    return rows


def norm_title(s):
    s = unicodedata.normalize("NFKC", s or "")
    for q in "“”„‟″«»":
        s = s.replace(q, '"')
    for q in "‘’‚‛′`":
        s = s.replace(q, "'")
    return " ".join(s.split())


def parse_iso(s):
    """(aware datetime or None, naive date or None)."""
    if not s:
        return None, None
    s = s.strip()
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\s*(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?)?", s)
    if not m:
        return None, None
    y, mo, d, h, mi, sec, z = m.groups()
    day = dt.date(int(y), int(mo), int(d))
    if h is None or z is None:
        return None, day
    if z == "Z":
        tz = dt.timezone.utc
    else:
        sign = -1 if z[0] == "-" else 1
        digits = z[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))
    return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0), tzinfo=tz), day


def description(html):
    for pat in [
        r'<meta[^>]+property=["\']og:description["\'][^>]*content=["\']([^"\']*)',
        r'<meta[^>]+content=["\']([^"\']*)["\'][^>]*property=["\']og:description',
        r'<meta[^>]+name=["\']description["\'][^>]*content=["\']([^"\']*)',
        r'<meta[^>]+content=["\']([^"\']*)["\'][^>]*name=["\']description',
        r'<meta[^>]+name=["\']twitter:description["\'][^>]*content=["\']([^"\']*)',
    ]:
        m = re.search(pat, html, re.I)
        if m and len(m.group(1).split()) >= 5:
            import html as h
            return h.unescape(m.group(1))
    return None


def content_words(s):
    return {w for w in re.findall(r"\w+", (s or "").lower()) if len(w) >= 4 and not w.isdigit()}


def words_norm(s):
    return " ".join(re.findall(r"\w+", (s or "").lower()))


def reference_sentences(html_path, xpath, python):
    """The reference body's sentences, read with lxml in trafilatura's environment."""
    script = (
        "import sys, json, lxml.html\n"
        "t = lxml.html.parse(sys.argv[1]).getroot()\n"
        "for e in t.xpath('//script|//style|//noscript'): e.drop_tree()\n"
        "inline = {'a','b','i','em','strong','span','small','sup','sub','u','font','time','abbr','q','cite','mark'}\n"
        "for e in t.iter():\n"
        "    if isinstance(e.tag, str) and e.tag not in inline:\n"
        "        e.tail = '\\n' + (e.tail or '')\n"
        "nodes = t.xpath(sys.argv[2])\n"
        "print(json.dumps([n.text_content() for n in nodes]))\n"
    )
    out = subprocess.run([python, "-c", script, str(html_path), xpath],
                         capture_output=True, text=True, check=True).stdout
    sents = []
    for block in "\n".join(json.loads(out)).split("\n"):
        sents += [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(block.split()))]
    # Sentences of prose only: related headlines and credits in the element are not.
    return [s for s in sents if len(s.split()) >= 6 and re.search(r"[.!?][\"'”’)]*$", s)]


def score(truth, rec, html, refs):
    photo = truth["notes"].upper().startswith("PHOTO")
    r = {}
    title = rec.get("title") if rec else None
    r["headline"] = bool(title) and norm_title(title) == norm_title(truth["title"])
    want, want_day = parse_iso(truth["iso"])
    got, got_day = parse_iso(rec.get("date") if rec else None)
    r["instant"] = got is not None and want is not None and \
        got.replace(second=0) == want.replace(second=0)
    if got is not None:
        got_day = got.astimezone(want.tzinfo).date() if want is not None else got.date()
    r["day"] = got_day is not None and got_day == want_day
    text = (rec.get("text") or "") if rec and not rec.get("error") else ""
    lines = [l for l in re.split(r"\n+", text) if l.strip()]
    chrome = [l for l in lines if any(c.search(l) for c in CHROME_RE)]
    r["chrome_lines"] = chrome
    desc = description(html)
    if refs:
        body = words_norm(text)
        r["recall"] = sum(1 for s in refs if words_norm(s) in body) / len(refs)
        is_article = r["recall"] >= 0.8
    elif desc:
        want_words = content_words(desc)
        share = len(want_words & content_words(text)) / max(1, len(want_words))
        is_article = share >= 0.5
    else:
        is_article = len(text.split()) >= 50
    if photo:
        r["body"] = (not text) or not chrome
    else:
        r["body"] = bool(text) and is_article
    r["clean"] = bool(text) and not chrome
    r["has_body"] = bool(text)
    return r


def run_warta(binary, files, repeat, rounds):
    """Records, and seconds per pass over all pages: a process per pass (start-up included),
    and within one process reading the pages `rounds` times (start-up spread out)."""
    once, steady = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.run([binary, "-q", "ingest", *map(str, files)], capture_output=True, text=True)
        once.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([binary, "-q", "ingest", *map(str, files * rounds)], capture_output=True)
        steady.append((time.perf_counter() - t0) / rounds)
    recs = {}
    for line in p.stdout.splitlines():
        a = json.loads(line)
        recs[Path(a["source"]).name] = {"title": a["title"], "date": a["date"], "text": a["text"]}
    return recs, once, steady, p.stderr


def run_trafilatura(python, files, repeat):
    p = subprocess.run([python, "-c", TRAFILATURA_SCRIPT, str(repeat)],
                       input=json.dumps([str(f) for f in files]), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"trafilatura failed:\n{p.stderr}")
    out = json.loads(p.stdout)
    recs = {Path(r["file"]).name: r for r in out["records"]}
    return recs, out["times"]


def table(name, results, pages, label):
    cols = ["headline", "instant", "day", "body", "clean"]
    n = len(pages)
    cells = []
    for c in cols:
        if c == "clean":
            with_body = [p for p in pages if results[p]["has_body"]]
            k = sum(results[p]["clean"] for p in with_body)
            cells.append(f"{k}/{len(with_body)}")
        else:
            k = sum(results[p][c] for p in pages)
            cells.append(f"{k}/{n} ({100 * k / n:.0f} %)")
    recalls = [results[p]["recall"] for p in pages if results[p].get("recall") is not None]
    cells.append(f"{100 * statistics.mean(recalls):.1f} %" if recalls else "-")
    return f"| {name} | {label} | " + " | ".join(cells) + " |"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", required=True, type=Path)
    ap.add_argument("--warta", required=True)
    ap.add_argument("--trafilatura-python")
    ap.add_argument("--jsonl", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--held-out", default="", help="comma-separated outlet prefixes kept out of tuning")
    ap.add_argument("--bodies", type=Path, help="TSV: file, XPath of the reference body")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=8, help="passes over the pages in one warta process")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()

    truth = read_truth(args.pages / "TRUTH.md")
    files = [args.pages / t["file"] for t in truth]
    html = {t["file"]: (args.pages / t["file"]).read_text(encoding="utf-8", errors="replace") for t in truth}
    held = [h for h in args.held_out.split(",") if h]
    is_held = lambda f: any(f.startswith(h) for h in held)
    refs = {}
    if args.bodies:
        if not args.trafilatura_python:
            sys.exit("--bodies reads the reference bodies with lxml: give --trafilatura-python")
        for line in args.bodies.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                f, xpath = line.split("\t", 1)
                if f in html:
                    refs[f] = reference_sentences(args.pages / f, xpath.strip(), args.trafilatura_python)

    systems = []
    recs, once, steady, stderr = run_warta(args.warta, files, args.repeat, args.rounds)
    systems.append(("warta", recs, statistics.median(steady)))
    warta_once = statistics.median(once)
    if args.verbose and stderr.strip():
        print(stderr, file=sys.stderr)
    if args.trafilatura_python:
        trecs, ttimes = run_trafilatura(args.trafilatura_python, files, args.repeat)
        systems.append(("trafilatura 2.3.1", trecs, statistics.median(ttimes)))
    for spec in args.jsonl:
        name, path = spec.split("=", 1)
        recs = {}
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            recs[Path(r["file"]).name] = r
        systems.append((name, recs, None))

    dev = [t["file"] for t in truth if not is_held(t["file"])]
    out = [t["file"] for t in truth if is_held(t["file"])]
    print(f"{len(truth)} pages: {len(dev)} development, {len(out)} held out ({', '.join(held) or 'none'})\n")
    print("| system | pages | headline | instant (minute) | day | body | clean (of pages with a body) | body recall |")
    print("|---|---|---|---|---|---|---|---|")
    speed = []
    for name, recs, secs in systems:
        results = {t["file"]: score(t, recs.get(t["file"]), html[t["file"]], refs.get(t["file"])) for t in truth}
        for label, pages in [("development", dev), ("held out", out), ("all", dev + out)]:
            if pages:
                print(table(name, results, pages, label))
        if secs:
            speed.append((name, secs))
        if args.verbose:
            for t in truth:
                r, rec = results[t["file"]], recs.get(t["file"]) or {}
                bad = [c for c in ["headline", "instant", "day", "body", "clean"] if not r[c] and (c != "clean" or r["has_body"])]
                if bad or (r.get("recall") is not None and r["recall"] < 0.9):
                    rec_s = f" recall {r['recall']:.2f}" if r.get("recall") is not None else ""
                    print(f"  {name} {t['file']}: wrong {bad}{rec_s}; title {rec.get('title')!r}, date {rec.get('date')!r}"
                          + (f", error {rec.get('error')!r}" if rec.get("error") else "")
                          + (f", chrome {r['chrome_lines'][:3]!r}" if r["chrome_lines"] else ""), file=sys.stderr)
    print()
    print(f"| system | seconds per pass over all {len(truth)} pages (median of {args.repeat}) | pages/s |")
    print("|---|---|---|")
    for name, secs in speed:
        how = f"one process, {args.rounds} passes" if name == "warta" else "warm interpreter, extraction loop"
        print(f"| {name} ({how}) | {secs:.3f} | {len(truth) / secs:.1f} |")
    print(f"| warta (a process per pass, start-up included) | {warta_once:.3f} | {len(truth) / warta_once:.1f} |")
    if len(speed) >= 2:
        print(f"\nwarta / trafilatura pages/s: {speed[1][1] / speed[0][1]:.1f}x "
              f"({speed[1][1] / warta_once:.1f}x with warta's start-up in every pass)")


if __name__ == "__main__":
    main()
