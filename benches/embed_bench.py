#!/usr/bin/env python3
"""Embedding speed: warta's sentence embedder vs sentence-transformers, same sentences, same
threads, same run.

    python benches/embed_bench.py SENTENCES --model DIR [--threads 2] [--repeat 3]

SENTENCES is a text file with one sentence a line, or the articles.jsonl that `warta
summarize` writes (then its sentences, as warta segmented them, in order). DIR is a
sentence-transformers checkpoint (tests fetch all-MiniLM-L6-v2 into
target/models/all-MiniLM-L6-v2). The Python needs sentence-transformers and torch.

Both engines embed all the sentences in one call after loading and an untimed warm-up on the
first 64: sentence-transformers' `encode(batch_size=32)` (it sorts by length and pads per
batch) with `torch.set_num_threads(T)`, and warta's `Embedder::embed` through
`cargo bench --bench embed` (benches/embed.rs) with RAYON_NUM_THREADS=T. The runs alternate,
warta then sentence-transformers, --repeat times, so both see the same load; the median is
reported. sentences/s = sentences / seconds. The vectors of the last runs are compared: the
largest absolute difference of any value.

The machine should be idle: under contention PyTorch's OpenMP threads collapse (a
sentence-transformers run went from 10 s to 60 s with one other busy process on 2 cores).
--nice -15 (root) runs both engines at a higher priority, in a session of their own whose
scheduler autogroup gets the same nice value (what counts between sessions when
kernel.sched_autogroup_enabled = 1). The report gives the load average before and after.

Prints a Markdown report (machine, versions, command, table) on stdout.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def read_sentences(path):
    if path.suffix == ".jsonl":
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.extend(s["translation"] for s in json.loads(line)["sentences"])
        return out
    return [s for s in path.read_text(encoding="utf-8").splitlines()]


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def warta_binary(extra_env):
    """Builds benches/embed.rs and returns its executable."""
    r = subprocess.run(
        ["cargo", "bench", "--bench", "embed", "--no-run", "--locked"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=extra_env,
    )
    if r.returncode != 0:
        sys.exit(f"cargo bench --no-run failed:\n{r.stderr}")
    m = re.search(r"Executable benches/embed\.rs \(([^)]+)\)", r.stderr)
    if not m:
        sys.exit(f"no executable in cargo's output:\n{r.stderr}")
    return ROOT / m.group(1)


def run_warta(binary, sentences_file, model, env, out):
    r = subprocess.run(
        [str(binary), str(sentences_file), str(model), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    if r.returncode != 0:
        sys.exit(f"warta's embed bench failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


CHILD = "WARTA_EMBED_BENCH_NICE"


def rerun_niced(nice):
    """Runs this script again in a new session at nice value `nice`, for that session's
    autogroup too; returns its exit status."""

    def priority():
        os.nice(nice)
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(nice))
        except OSError:
            pass

    env = dict(os.environ, **{CHILD: str(nice)})
    return subprocess.run(
        [sys.executable, *sys.argv], env=env, start_new_session=True, preexec_fn=priority
    ).returncode


def load():
    return Path("/proc/loadavg").read_text().split()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sentences", type=Path)
    ap.add_argument("--model", type=Path, default=ROOT / "target/models/all-MiniLM-L6-v2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--nice", type=int, default=0, help="run both engines at this nice value")
    args = ap.parse_args()
    if args.nice and CHILD not in os.environ:
        sys.exit(rerun_niced(args.nice))

    t = str(args.threads)
    env = dict(os.environ, RAYON_NUM_THREADS=t, OMP_NUM_THREADS=t, MKL_NUM_THREADS=t)
    os.environ.update(OMP_NUM_THREADS=t, MKL_NUM_THREADS=t)
    import numpy as np
    import sentence_transformers
    import torch

    torch.set_num_threads(args.threads)
    sentences = read_sentences(args.sentences)
    binary = warta_binary(env)
    model = sentence_transformers.SentenceTransformer(str(args.model), device="cpu")
    model.encode(sentences[:64], batch_size=32)

    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "sentences.txt"
        # One sentence a line for warta: a sentence never holds a newline.
        listing.write_text("\n".join(s.replace("\n", " ") for s in sentences), encoding="utf-8")
        vectors_file = Path(tmp) / "warta.f32"
        warta_s, st_s = [], []
        for _ in range(args.repeat):
            w = run_warta(binary, listing, args.model, env, vectors_file)
            warta_s.append(w["seconds"][0])
            start = time.perf_counter()
            st_vectors = model.encode(sentences, batch_size=32, convert_to_numpy=True)
            st_s.append(time.perf_counter() - start)
        warta_vectors = np.fromfile(vectors_file, dtype="<f4").reshape(st_vectors.shape)
    diff = float(np.abs(warta_vectors - st_vectors).max())
    n = len(sentences)
    tokens = int(model.tokenize(sentences)["attention_mask"].sum())
    w_med, s_med = statistics.median(warta_s), statistics.median(st_s)

    print(f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs; {args.threads} threads each")
    print(
        f"- sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}, "
        f"warta's {w['backend']} encoder (benches/embed.rs)"
    )
    print(f"- {n} sentences from {args.sentences.name}, {tokens} tokens with [CLS] and [SEP] "
          f"({tokens / n:.1f} a sentence), model {args.model.name}")
    print(f"- load average (1 min) {load_before} before, {load()} after"
          + (f"; both engines at nice {args.nice}" if args.nice else ""))
    print(f"- median of {args.repeat} alternating runs; all runs: warta "
          f"{', '.join(f'{s:.2f}' for s in warta_s)} s, sentence-transformers "
          f"{', '.join(f'{s:.2f}' for s in st_s)} s")
    print(f"- command: `python benches/embed_bench.py {args.sentences} --model {args.model} "
          f"--threads {args.threads} --repeat {args.repeat}"
          + (f" --nice {args.nice}" if args.nice else "") + "`")
    print()
    print("| engine | seconds | sentences/s |")
    print("| --- | ---: | ---: |")
    print(f"| sentence-transformers | {s_med:.2f} | {n / s_med:.0f} |")
    print(f"| warta | {w_med:.2f} | {n / w_med:.0f} |")
    print()
    print(f"warta / sentence-transformers: {s_med / w_med:.2f}x; "
          f"largest absolute difference of the vectors: {diff:.2e}")


if __name__ == "__main__":
    main()
