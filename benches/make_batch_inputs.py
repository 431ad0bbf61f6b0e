#!/usr/bin/env python3
"""Inputs for the batch-run benchmark in BENCHMARKS.md: synthetic articles as JSONL.

    python3 benches/make_batch_inputs.py benches/out/batch 10000
    cargo build --release
    /usr/bin/time -v target/release/warta brief benches/out/batch/articles.jsonl \
        --out benches/out/batch/run --models benches/out/batch/models.toml

Writes articles.jsonl (N articles of 4 to 8 paragraphs, a fifth of them carrying a
paragraph of agency copy that other articles print too, as outlets do) and models.toml
naming the tiny fixture checkpoints (tests/fixtures/marian-shared, bert-tiny). Seeded, so
every run writes the same bytes.
"""
import json
import pathlib
import random
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "benches/out/batch")
count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
out.mkdir(parents=True, exist_ok=True)
random.seed(5)
WORDS = (
    "rusia amerika serikat menteri luar negeri lavrov keamanan jaminan nato presiden putin "
    "moskow washington kata dia mereka kami pemerintah jakarta rakyat harga beras naik "
    "banjir warga polisi ekonomi pasar sekolah guru rumah sakit dokter"
).split()


def sentence():
    w = [random.choice(WORDS) for _ in range(random.randint(6, 22))]
    return w[0].capitalize() + " " + " ".join(w[1:]) + random.choice([".", ".", ".", "?"])


def paragraph():
    return " ".join(sentence() for _ in range(random.randint(1, 3)))


agency = [paragraph() for _ in range(200)]
with open(out / "articles.jsonl", "w") as f:
    for i in range(count):
        paragraphs = [paragraph() for _ in range(random.randint(4, 8))]
        if random.random() < 0.2:
            paragraphs.insert(1, random.choice(agency))
        record = {
            "id": f"berita-{i:05d}",
            "title": sentence().rstrip(".?"),
            "date": f"2026-11-{random.randint(1, 21):02d}",
            "text": "\n\n".join(paragraphs),
        }
        f.write(json.dumps(record) + "\n")

root = pathlib.Path(__file__).resolve().parent.parent
(out / "models.toml").write_text(
    f'[translation]\nmodel = "{root / "tests/fixtures/marian-shared"}"\n'
    f'[embedding]\nmodel = "{root / "tests/fixtures/bert-tiny"}"\n'
    '[summarizer]\nkind = "extractive"\n'
)
