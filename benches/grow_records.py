#!/usr/bin/env python3
"""A bigger finished run from a finished one, for measuring the briefing's assembly alone
(BENCHMARKS.md, "Batch runs"): every record of RUN/articles.jsonl copied COPIES times under
new ids (`ID-cK`, its sentence ids and citations renamed with it), with RUN/run.json.

    python3 benches/grow_records.py benches/out/batch/run benches/out/batch/run100k 10
    /usr/bin/time -v target/release/warta merge benches/out/batch/run100k \
        --out benches/out/batch/merged100k

Each copy's embeddings are its original's, slightly moved (seeded), so copies are near
duplicates of each other, as agency copy printed by many outlets is.
"""
import base64
import json
import pathlib
import random
import shutil
import struct
import sys

run, out, copies = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
shutil.copy(run / "run.json", out / "run.json")
random.seed(7)


def rename(sentence_id, article, new):
    return new + sentence_id[len(article):]


def nudge(b64):
    floats = struct.unpack(f"<{len(base64.b64decode(b64)) // 4}f", base64.b64decode(b64))
    moved = [x + random.uniform(-0.02, 0.02) for x in floats]
    return base64.b64encode(struct.pack(f"<{len(moved)}f", *moved)).decode()


with open(run / "articles.jsonl") as src, open(out / "articles.jsonl", "w") as dst:
    for line in src:
        record = json.loads(line)
        article = record["id"]
        for k in range(copies):
            new = f"{article}-c{k}"
            r = json.loads(line)
            r["id"] = new
            for s in r["sentences"]:
                s["id"] = rename(s["id"], article, new)
            for s in r["summary"]:
                s["citations"] = [rename(c, article, new) for c in s["citations"]]
            for c in r["candidates"]:
                c["sentence"] = rename(c["sentence"], article, new)
                c["embedding"] = nudge(c["embedding"])
            dst.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
