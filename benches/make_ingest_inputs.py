#!/usr/bin/env python3
"""Inputs for the ingest benchmark in BENCHMARKS.md: a large JSONL batch and hostile pages.

    python3 benches/make_ingest_inputs.py benches/out/ingest
    /usr/bin/time -v target/release/warta ingest benches/out/ingest/many.jsonl > /dev/null

Writes many.jsonl (100,000 synthetic articles, about 200 MB), big.txt (a 9.8 MB page whose
first 4 MB are menu lines), oneline.txt (9.8 MB in one line), deep.html (200,000 nested
divs) and scripts.html (200,000 script elements). Seeded, so every run writes the same bytes.
"""
import json
import pathlib
import random
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "benches/out/ingest")
out.mkdir(parents=True, exist_ok=True)
random.seed(1)
WORDS = (
    "rusia amerika serikat menteri luar negeri lavrov keamanan jaminan nato presiden putin "
    "moskow washington kata dia mereka kami"
).split()


def sentence():
    w = [random.choice(WORDS) for _ in range(random.randint(6, 25))]
    return w[0].capitalize() + " " + " ".join(w[1:]) + random.choice([".", ".", ".", "?", "!"])


with open(out / "many.jsonl", "w") as f:
    for i in range(100_000):
        paragraphs = "\n\n".join(" ".join(sentence() for _ in range(3)) for _ in range(6))
        text = f"Judul Berita Nomor {i}\n\n{paragraphs}\n\nBACA JUGA: lain\n"
        f.write(json.dumps({"id": f"a{i}", "text": text}) + "\n")

with open(out / "big.txt", "w") as f:
    size, i = 0, 0
    while size < 4_000_000:
        line = f"Menu item {i}\n"
        f.write(line)
        size, i = size + len(line), i + 1
    while size < 9_800_000:
        p = " ".join(sentence() for _ in range(5)) + "\n\n"
        f.write(p)
        size += len(p)

with open(out / "oneline.txt", "w") as f:
    size = 0
    while size < 9_800_000:
        s = sentence() + " "
        f.write(s)
        size += len(s)

body = "<p>Isi berita yang cukup panjang di sini untuk dibaca.</p>"
(out / "deep.html").write_text(
    "<html><body>" + "<div>" * 200_000 + body + "</div>" * 200_000 + "</body></html>"
)
(out / "scripts.html").write_text(
    "<html><body>" + "<script>var a=1<2;</script>" * 200_000 + body + "</body></html>"
)
