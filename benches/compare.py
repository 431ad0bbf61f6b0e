#!/usr/bin/env python3
"""Speed benchmark: warta vs HF transformers (PyTorch) vs CTranslate2, same machine, same run.

    python benches/compare.py --warta target/release/warta [--model DIR] [options]

For one Marian checkpoint (HF format) and the 64 Indonesian sentences of
benches/sentences.txt, every (engine, configuration) pair runs in its own process, started
through /usr/bin/time so that its peak RSS is its own. Configurations (all with
min_new_tokens = max_new_tokens = 32, so every sentence gets exactly 32 new tokens):

    beam4-b32   beam search, 4 beams, batch 32
    greedy-b32  greedy, batch 32
    greedy-b1   greedy, batch 1

Engines:

    hf           MarianMTModel.generate, float32, torch.set_num_threads(T), inference_mode
    hf-bf16      the same with the model loaded in bfloat16 (PyTorch's CPU bf16 kernels)
    ct2-float32  ctranslate2.Translator on a float32 conversion (ct2-transformers-converter)
    ct2-int8     ctranslate2.Translator on an int8 conversion (--quantization int8)
    ct2-float32-inter
                 the float32 conversion with inter_threads = T, intra_threads = 1: batches
                 run in parallel, one per thread (as warta runs its batches)
    warta        `warta translate --model DIR --beams B --batch-size N --min-new-tokens 32
                  --max-new-tokens 32 --threads T --device cpu -v --no-retry FILE`; its time
                  is the `N lines, T tokens in S s` line it logs on stderr (after loading).
                  --no-retry: the other engines do not translate a looping or cut hypothesis
                  again, and every engine must generate the same 2,048 tokens
    warta-int8   the same with `--dtype int8` (projections quantised at load, int8 kernels)
    warta-bf16   the same with `--dtype bf16`

Vocabulary shortlist engines (not in the default set: a shortlist changes output):

    ct2-int8-vmap    ct2-int8 converted with `--vocab_mapping FILE`, translated with
                     use_vmap=True (CTranslate2's vocabulary map)
    warta-int8-vmap  warta-int8 with `--shortlist FILE`; warta-vmap the same in f32

FILE is --vmap, or else a synthetic table written under --work: for each source token of
the sentences, 50 target tokens drawn uniformly at random, and 100 for every sentence
(the sizes of Bergamot's shortlists). Drawn at random, the candidates of a batch overlap
little: the union is as large as a table of this size gives, so the speed-up is a low one.
The report gives the candidates per sentence and per batch, as warta's debug log counts
them. CTranslate2 restricts every sentence of a batch to the batch's union, warta each
sentence to its own candidates (its own tokens copied through among them); the output
projection of both runs over the union. The -vmap engines run on the CPU only.

With --device cuda every engine runs on the GPU (HF: model and inputs moved there and
synchronised before each clock read; CTranslate2: device="cuda"; warta: --device cuda), and
the GPU engines are hf-fp16 (torch_dtype float16), ct2-float16, ct2-int8_float16, warta-f16
and warta-bf16 beside the f32 ones (default: all of GPU_ENGINES). scripts/gpu-check.sh runs
this.

The Python engines time the same span as warta's log line: tokenize, generate and detokenize
all 64 sentences (length-sorted into batches, as warta and CTranslate2 do), after loading and
one untimed warm-up batch. warta is run once untimed (warm-up: page cache) and then timed.
tokens/s = 64 * 32 / seconds. The tokens each engine actually generated are counted and
checked (a mismatch is flagged), and the translations are compared with HF's line by line.

The checkpoint is used through a copy under --work (symlinks to the weights) whose
config.json / generation_config.json lack `forced_eos_token_id`: opus-mt's config forces
`</s>` at max_length, which beats min_new_tokens in HF (and in warta, which follows HF), so
the 32nd token would be `</s>`; CTranslate2 has no such rule. Without it all three engines
produce 32 real tokens in 32 decoder steps per sentence.

Prints a Markdown report (machine, versions, tables, exact commands) on stdout; with
--json FILE also writes the raw results. An engine that fails shows its error in the table
and the others go on.

Run it on an idle machine: under contention PyTorch's OpenMP threads collapse (10x slower
seen). The report shows, for each timed span, how many cores the engine kept busy and the
share of the machine other processes took. --wait-idle S waits for a quiet machine before
each run; --nice -15 (root) runs the engines at a higher priority, also for their scheduler
autogroup (what counts between sessions when kernel.sched_autogroup_enabled = 1).
--repeat N times N runs per engine and configuration and shows the median.

Other modes:
    python benches/compare.py --write-sentences    # (re)write benches/sentences.txt
    python benches/compare.py worker ...           # internal: one engine, one config
"""

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from wartacli import candidate_counts

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SENTENCES = HERE / "sentences.txt"
DEFAULT_WORK = HERE / "out"
MODEL_CANDIDATES = [
    ROOT / "tests" / "fixtures" / "big" / "opus-mt-id-en-shape",
    HERE / "out" / "opus-mt-id-en-shape",
]
CONFIGS = {
    "beam4-b32": dict(beams=4, batch=32),
    "greedy-b32": dict(beams=1, batch=32),
    "greedy-b1": dict(beams=1, batch=1),
}
# HF's engines and the torch dtype each loads the model in.
HF_DTYPES = {"hf": "float32", "hf-fp16": "float16", "hf-bf16": "bfloat16"}
ENGINES = ["hf", "hf-bf16", "ct2-float32", "ct2-float32-inter", "ct2-int8", "warta", "warta-int8",
           "warta-bf16"]
# With --device cuda (not run by default): HF in fp16, CTranslate2's GPU types, warta in half
# precision. `--engines` picks among both lists.
# Opt-in (--engines): the vocabulary shortlist beside CTranslate2's (a change of output).
VMAP_ENGINES = ["ct2-int8-vmap", "warta-int8-vmap", "warta-vmap"]
GPU_ENGINES = ["hf", "hf-fp16", "ct2-float32", "ct2-float16", "ct2-int8_float16", "warta",
               "warta-f16", "warta-bf16"]
RESULT_TAG = "BENCH_RESULT "
PY = sys.executable


# ------------------------------------------------------------------------------------------
# sentences
# ------------------------------------------------------------------------------------------

_SENT_RE = re.compile(r"(?<=[.!?”])\s+(?=[“A-Z0-9])")


def write_sentences(n=64):
    """64 real sentences from examples/articles: split like the fixtures do, keep 8..45 words,
    take n spread evenly over all articles."""
    sents = []
    for p in sorted((ROOT / "examples" / "articles").glob("*.txt")):
        for line in p.read_text(encoding="utf-8").splitlines():
            line = " ".join(line.split())
            for s in _SENT_RE.split(line):
                s = s.strip()
                if s and 8 <= len(s.split()) <= 45 and s not in sents:
                    sents.append(s)
    if len(sents) < n:
        sys.exit(f"only {len(sents)} sentences of 8..45 words in examples/articles")
    picked = [sents[(i * len(sents)) // n] for i in range(n)]
    SENTENCES.write_text("\n".join(picked) + "\n", encoding="utf-8")
    print(f"wrote {SENTENCES}: {n} of {len(sents)} sentences")


def read_sentences(path):
    lines = [l for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip()]
    return lines


# ------------------------------------------------------------------------------------------
# worker (runs in its own process; imports the heavy libraries)
# ------------------------------------------------------------------------------------------

def worker(argv):
    ap = argparse.ArgumentParser(prog="compare.py worker")
    ap.add_argument("--engine", required=True, choices=["hf", "ct2"])
    ap.add_argument("--model", required=True, help="HF checkpoint dir (tokenizer; HF weights)")
    ap.add_argument("--ct2-model", help="converted CTranslate2 dir")
    ap.add_argument("--compute-type", default="float32")
    ap.add_argument("--use-vmap", action="store_true", help="translate with the model's vocabulary map")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--torch-dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--inter", action="store_true",
                    help="inter_threads = threads, intra_threads = 1 (batches in parallel)")
    ap.add_argument("--sentences", required=True)
    ap.add_argument("--beams", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--new-tokens", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", required=True, help="where to write the translations")
    a = ap.parse_args(argv)

    t_load = time.perf_counter()
    import warnings

    warnings.filterwarnings("ignore")
    texts = read_sentences(a.sentences)
    n_new = a.new_tokens

    if a.engine == "hf":
        import torch

        torch.set_num_threads(a.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        from transformers import MarianMTModel, MarianTokenizer

        tok = MarianTokenizer.from_pretrained(a.model)
        eos, pad = tok.eos_token_id, tok.pad_token_id
        src_len = lambda t: len(tok(t).input_ids)  # noqa: E731

        model = MarianMTModel.from_pretrained(a.model, dtype=getattr(torch, a.torch_dtype))
        model = model.to(a.device).eval()
        sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)

        def run(batch_texts):
            """Translate all texts, length-sorted into batches; returns (texts, ids, gen_s)."""
            enc = [tok(t).input_ids for t in batch_texts]
            order = sorted(range(len(enc)), key=lambda i: -len(enc[i]))
            outs, ids, gen_s = [None] * len(enc), [None] * len(enc), 0.0
            for s in range(0, len(order), a.batch):
                idx = order[s:s + a.batch]
                inp = tok.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt").to(a.device)
                sync()
                g0 = time.perf_counter()
                with torch.inference_mode():
                    seq = model.generate(
                        **inp,
                        num_beams=a.beams,
                        do_sample=False,
                        min_new_tokens=n_new,
                        max_new_tokens=n_new,
                        length_penalty=1.0,
                        num_return_sequences=1,
                    )
                sync()
                gen_s += time.perf_counter() - g0
                seq = seq[:, 1:].tolist()  # drop the decoder start token
                dec = tok.batch_decode(seq, skip_special_tokens=True)
                for j, i in enumerate(idx):
                    ids[i] = [t for t in seq[j] if t != pad]
                    outs[i] = dec[j]
            return outs, ids, gen_s

        versions = {"torch": torch.__version__}
    else:
        # No torch / transformers here, so that the peak RSS is CTranslate2's own: the source
        # side is sentencepiece pieces + </s> (CTranslate2 maps pieces missing from its
        # vocabulary to <unk>, as MarianTokenizer does), the target side is joined pieces.
        import ctranslate2
        import sentencepiece as spm

        tr = ctranslate2.Translator(
            a.ct2_model, device=a.device, compute_type=a.compute_type,
            intra_threads=1 if a.inter else a.threads, inter_threads=a.threads if a.inter else 1,
        )
        sp = spm.SentencePieceProcessor(model_file=str(Path(a.model) / "source.spm"))
        vocab = json.loads((Path(a.model) / "vocab.json").read_text(encoding="utf-8"))
        eos, pad, unk = vocab["</s>"], vocab["<pad>"], vocab["<unk>"]
        src_len = lambda t: len(sp.encode(t)) + 1  # noqa: E731

        def run(batch_texts):
            src = [sp.encode(t, out_type=str) + ["</s>"] for t in batch_texts]
            g0 = time.perf_counter()
            res = tr.translate_batch(
                src,
                max_batch_size=a.batch,
                batch_type="examples",
                beam_size=a.beams,
                num_hypotheses=1,
                length_penalty=1.0,
                min_decoding_length=n_new,
                max_decoding_length=n_new,
                return_end_token=False,
                max_input_length=0,
                use_vmap=a.use_vmap,
            )
            gen_s = time.perf_counter() - g0
            toks = [r.hypotheses[0] for r in res]
            outs = ["".join(t).replace("\u2581", " ").strip() for t in toks]
            ids = [[vocab.get(p, unk) for p in t] for t in toks]
            return outs, ids, gen_s

        versions = {"ctranslate2": ctranslate2.__version__}
    load_s = time.perf_counter() - t_load

    # warm-up: the first (longest) batch, same configuration, untimed
    enc_len = sorted((src_len(t), i) for i, t in enumerate(texts))
    warm = [texts[i] for _, i in sorted(enc_len, reverse=True)[: a.batch]]
    run(warm)

    times, gen_times, others, cores = [], [], [], []
    hz = os.sysconf("SC_CLK_TCK")
    for _ in range(a.repeat):
        s0, c0 = cpu_busy(), time.process_time()
        t0 = time.perf_counter()
        outs, ids, gen_s = run(texts)
        times.append(time.perf_counter() - t0)
        s1, c1 = cpu_busy(), time.process_time()
        gen_times.append(gen_s)
        cores.append((c1 - c0) / max(times[-1], 1e-9))
        if s0 and s1 and s1[1] > s0[1]:
            others.append(max(0.0, ((s1[0] - s0[0]) / hz - (c1 - c0)) / ((s1[1] - s0[1]) / hz)))

    tokens = sum(len(x) for x in ids)
    n_eos = sum(x.count(eos) for x in ids)
    short = sum(1 for x in ids if len(x) != n_new)
    Path(a.out).write_text("\n".join(outs) + "\n", encoding="utf-8")
    Path(a.out + ".ids.json").write_text(json.dumps(ids))
    res = {
        "seconds": statistics.median(times),
        "all_seconds": times,
        "generate_seconds": statistics.median(gen_times),
        "load_seconds": load_s,
        "tokens": tokens,
        "eos_tokens": n_eos,
        "lines_not_n_tokens": short,
        "lines": len(outs),
        "src_tokens": sum(l for l, _ in enc_len),
        "others_cpu": max(others) if others else None,
        "engine_cores": statistics.median(cores),
        "versions": versions,
    }
    print(RESULT_TAG + json.dumps(res), flush=True)


# ------------------------------------------------------------------------------------------
# orchestration
# ------------------------------------------------------------------------------------------

def show(x):
    """A path or argument as the report shows it: relative to the repository, `python`."""
    x = str(x)
    if x == PY:
        return "python"
    root = str(ROOT) + os.sep
    return x[len(root):] if x.startswith(root) else x.replace(" " + root, " ")


def sh(cmd):
    return " ".join(shlex.quote(show(c)) for c in cmd)


def cpu_busy():
    """(busy, total) jiffies of all CPUs from /proc/stat, or None."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    # guest time is already counted in user
    total = sum(f[:8])
    return total - idle, total


def busy_fraction(seconds=2.0):
    """Fraction of all CPUs busy over a short sample (everything on the machine)."""
    a = cpu_busy()
    time.sleep(seconds)
    b = cpu_busy()
    if a is None or b is None or b[1] == a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def wait_idle(max_wait, threshold, log):
    """Wait (up to max_wait s) until the machine is at most `threshold` busy; returns the last sample."""
    t0 = time.time()
    while True:
        f = busy_fraction()
        if f is None or f <= threshold or time.time() - t0 >= max_wait:
            return f
        log(f"  machine {f * 100:.0f}% busy; waiting for it to quiet down ...")
        time.sleep(8)


NICE = 0


def _child_priority():
    """In the child, after setsid: give it (and its new scheduler autogroup, which is what
    counts against other sessions when kernel.sched_autogroup_enabled = 1) the nice value NICE."""
    os.nice(NICE)
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(NICE))
    except OSError:
        pass


def run_measured(cmd, env, timeout, log_prefix):
    """Run cmd in its own process (group) under /usr/bin/time; returns a dict with rc, peak
    RSS (MiB), wall seconds, stdout, stderr, and `others_cpu`: the share of the machine's CPU
    time that other processes used meanwhile (0 = the machine was ours)."""
    time_out = Path(str(log_prefix) + ".time")
    use_time = Path("/usr/bin/time").exists()
    full = (["/usr/bin/time", "-f", "%M %e %U %S", "-o", str(time_out)] if use_time else []) + [str(c) for c in cmd]
    stat0 = cpu_busy()
    so_p, se_p = Path(str(log_prefix) + ".stdout"), Path(str(log_prefix) + ".stderr")
    t0 = time.perf_counter()
    timed_out = False
    with open(so_p, "wb") as so, open(se_p, "wb") as se:
        try:
            p = subprocess.Popen(full, stdout=so, stderr=se, stdin=subprocess.DEVNULL, env=env,
                                 start_new_session=True,
                                 preexec_fn=_child_priority if NICE else None)
        except OSError as e:
            return {"rc": None, "error": f"cannot start: {e}", "stdout": "", "stderr": "", "rss_mib": None,
                    "wall": 0.0}
        # sample the machine's and the engine's CPU time every 0.2 s, so that the share other
        # processes took can be told for the last S seconds (warta's translation span)
        samples = []
        rc = None
        while rc is None:
            samples.append((time.perf_counter(), cpu_busy(), tree_cpu(p.pid)))
            try:
                rc = p.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if time.perf_counter() - t0 > timeout:
                    timed_out = True
                    os.killpg(p.pid, signal.SIGKILL)
                    rc = p.wait()
    wall = time.perf_counter() - t0
    stat1 = cpu_busy()
    rss, others = None, None
    if use_time and time_out.exists():
        parts = time_out.read_text().split()
        # /usr/bin/time writes "Command exited with non-zero status N" first on failure
        try:
            rss = int(parts[-4]) / 1024.0
            child_cpu = float(parts[-2]) + float(parts[-1])
            if stat0 and stat1 and stat1[1] > stat0[1]:
                hz = os.sysconf("SC_CLK_TCK")
                total = (stat1[1] - stat0[1]) / hz
                busy = (stat1[0] - stat0[0]) / hz
                others = max(0.0, (busy - child_cpu) / total)
        except (IndexError, ValueError):
            rss = None
    out = {
        "rc": rc,
        "rss_mib": rss,
        "others_cpu": others,
        "samples": samples,
        "wall": wall,
        "stdout": so_p.read_text(encoding="utf-8", errors="replace"),
        "stderr": se_p.read_text(encoding="utf-8", errors="replace"),
    }
    if timed_out:
        out["error"] = f"timed out after {timeout}s"
    elif rc != 0:
        out["error"] = f"exit status {rc}: " + last_lines(out["stderr"])
    return out


def tree_cpu(pid):
    """CPU seconds (user + system) used so far by pid's children (the engine under
    /usr/bin/time) and their threads; None if unreadable."""
    hz = os.sysconf("SC_CLK_TCK")
    total, seen = 0, False
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    for k in kids:
        try:
            f = Path(f"/proc/{k}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])  # utime, stime
            seen = True
        except (OSError, IndexError, ValueError):
            pass
    return total / hz if seen else None


def others_in_last(samples, seconds):
    """(share of the machine's CPU used by other processes, cores the engine kept busy) during
    the last `seconds` of the sampled run (approximately: sampling is every 0.2 s)."""
    good = [x for x in samples if x[1] is not None and x[2] is not None]
    if len(good) < 2:
        return None, None
    end = good[-1]
    start = next((x for x in good if x[0] >= end[0] - seconds), good[0])
    if start is end:
        start = good[-2]
    hz = os.sysconf("SC_CLK_TCK")
    total = (end[1][1] - start[1][1]) / hz
    if total <= 0 or end[0] <= start[0]:
        return None, None
    busy = (end[1][0] - start[1][0]) / hz
    mine = end[2] - start[2]
    return max(0.0, (busy - mine) / total), mine / (end[0] - start[0])


def last_lines(s, n=3, width=300):
    lines = [l.strip() for l in s.strip().splitlines() if l.strip()]
    msg = " | ".join(lines[-n:])
    return msg[-width:]


def prepare_model(src, work):
    """Copy of the checkpoint dir (symlinks) whose configs have no forced_eos_token_id."""
    dst = work / "bench-model"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        if f.name in ("config.json", "generation_config.json"):
            cfg = json.loads(f.read_text(encoding="utf-8"))
            cfg.pop("forced_eos_token_id", None)
            (dst / f.name).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        elif f.is_file():
            (dst / f.name).symlink_to(f.resolve())
    return dst


def convert_ct2(model, work, quant, env, timeout, vmap=None):
    name = f"ct2-{quant}" + ("-vmap" if vmap else "")
    out_dir = work / name
    cmd = [PY, "-m", "ctranslate2.converters.transformers", "--model", str(model),
           "--output_dir", str(out_dir), "--quantization", quant, "--force"]
    if vmap:
        cmd += ["--vocab_mapping", str(vmap)]
    r = run_measured(cmd, env, timeout, work / "logs" / f"convert-{name.removeprefix('ct2-')}")
    r["cmd"] = cmd
    r["dir"] = out_dir
    return r


def synthetic_vmap(model, sentences, path, per_source=50, frequent=100, seed=0):
    """A shortlist table in the vocabulary-map format for the bench sentences' source tokens,
    its target tokens drawn uniformly at random (see the module docs)."""
    import random

    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(Path(model) / "source.spm"))
    vocab = json.loads((Path(model) / "vocab.json").read_text(encoding="utf-8"))
    targets = sorted(t for t in vocab if t not in ("</s>", "<unk>", "<pad>"))
    rng = random.Random(seed)
    pieces = sorted({p for t in read_sentences(sentences) for p in sp.encode(t, out_type=str) if p in vocab})
    lines = ["\t" + " ".join(rng.sample(targets, frequent))]
    lines += [p + "\t" + " ".join(rng.sample(targets, per_source)) for p in pieces]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def vmap_sizes(warta, model, sentences, vmap, batch):
    """(mean candidates per sentence, mean candidates per batch) under `vmap` for batches of
    `batch`, as warta counts them; None when warta's log has no counts."""
    found = candidate_counts(warta, model, sentences, vmap, batch, required=False)
    if not found:
        return None
    sentences_n = sum(n for n, _, _ in found)
    return (sum(n * m for n, _, m in found) / sentences_n, statistics.mean(u for _, u, _ in found))


def parse_warta(stderr):
    """`N lines, T tokens in S.s` (possibly behind a log prefix); the last such line wins."""
    stderr = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", stderr)  # ANSI colours
    m = None
    for m in re.finditer(r"(\d+) lines?, (\d+) tokens? in ([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b", stderr):
        pass
    if m is None:
        return None
    secs = float(m.group(3)) / (1000.0 if m.group(4) == "ms" else 1.0)
    return {"lines": int(m.group(1)), "tokens": int(m.group(2)), "seconds": secs, "line": m.group(0)}


def machine_info():
    cpu = "?"
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "?":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "simd": " ".join(simd) or "-",
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def lib_versions(env):
    code = ("import json, torch, transformers, ctranslate2, sentencepiece;"
            "print(json.dumps({'torch': torch.__version__, 'transformers': transformers.__version__,"
            "'ctranslate2': ctranslate2.__version__, 'sentencepiece': sentencepiece.__version__}))")
    try:
        out = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:  # noqa: BLE001
        return {"error": str(e)}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        return worker(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="HF Marian checkpoint dir (default: the first of "
                    + ", ".join(str(p.relative_to(ROOT)) for p in MODEL_CANDIDATES) + " that exists)")
    ap.add_argument("--warta", type=Path, help="warta binary (leave out to skip warta)")
    ap.add_argument("--sentences", type=Path, default=SENTENCES)
    ap.add_argument("--engines", default=None,
                    help="comma list of " + ",".join(ENGINES) + " (cpu) or " + ",".join(GPU_ENGINES) + " (cuda)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma list of " + ",".join(CONFIGS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where every engine runs (cuda: the GPU engines, see the module docs)")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per (engine, config); the median is shown")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per process")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch dir (converted models, logs)")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--wait-idle", type=int, default=0, metavar="S",
                    help="before each run, wait up to S seconds for the machine to be idle (see --idle-threshold)")
    ap.add_argument("--idle-threshold", type=float, default=0.15,
                    help="machine busy fraction (all CPUs) counted as idle for --wait-idle")
    ap.add_argument("--nice", type=int, default=0, help="run the engines at this nice value (negative needs root)")
    ap.add_argument("--vmap", type=Path, help="shortlist table of the -vmap engines (default: a synthetic one)")
    ap.add_argument("--write-sentences", action="store_true", help="rewrite benches/sentences.txt and exit")
    a = ap.parse_args()

    if a.write_sentences:
        return write_sentences()
    global NICE
    NICE = a.nice

    known = GPU_ENGINES if a.device == "cuda" else ENGINES + VMAP_ENGINES
    default = GPU_ENGINES if a.device == "cuda" else ENGINES
    engines = [e.strip() for e in (a.engines or ",".join(default)).split(",") if e.strip()]
    configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    for e in engines:
        if e not in known:
            sys.exit(f"unknown engine {e} for --device {a.device} (use {','.join(known)})")
    for c in configs:
        if c not in CONFIGS:
            sys.exit(f"unknown config {c}")
    if a.warta is None and any(e.startswith("warta") for e in engines):
        engines = [e for e in engines if not e.startswith("warta")]
        print("(no --warta given: warta skipped)", file=sys.stderr)
    if a.model is None:
        a.model = next((p for p in MODEL_CANDIDATES if (p / "config.json").exists()), None)
        if a.model is None:
            sys.exit("no checkpoint: give --model, or run python tests/fixtures/make_fixtures.py --big")
    a.model = a.model.resolve()
    a.sentences = a.sentences.resolve()
    n_sent = len(read_sentences(a.sentences))
    work = a.work.resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    (work / "outputs").mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    t = str(a.threads)
    env.update(OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t, RAYON_NUM_THREADS=t,
               TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", CT2_VERBOSE="0", NO_COLOR="1")

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    info = machine_info()
    versions = lib_versions(env)
    bench_model = prepare_model(a.model, work)
    expected = n_sent * a.new_tokens

    log = lambda *x: print(*x, file=sys.stderr, flush=True)  # noqa: E731
    vmap = None
    if any(e.endswith("-vmap") for e in engines):
        vmap = a.vmap.resolve() if a.vmap else synthetic_vmap(bench_model, a.sentences, work / "synthetic.vmap")
    a.vmap_used = vmap
    conversions = {}
    for e in engines:
        if e.startswith("ct2-") and not e.endswith("-inter"):
            q = e.removesuffix("-vmap").split("-", 1)[1]
            log(f"converting to CTranslate2 {q}{' with the vocabulary map' if e.endswith('-vmap') else ''} ...")
            conversions[e] = convert_ct2(bench_model, work, q, env, a.timeout,
                                         vmap if e.endswith("-vmap") else None)
    for e in engines:
        if e.endswith("-inter"):
            base = e[: -len("-inter")]
            if base not in conversions:
                log(f"converting to CTranslate2 {base.split('-', 1)[1]} ...")
                conversions[base] = convert_ct2(bench_model, work, base.split("-", 1)[1], env, a.timeout)

    warta_version = None
    if any(e.startswith("warta") for e in engines):
        try:
            warta_version = subprocess.run([str(a.warta), "--version"], capture_output=True, text=True,
                                           timeout=60).stdout.strip() or None
        except Exception as ex:  # noqa: BLE001
            warta_version = f"? ({ex})"

    results = []
    for c in configs:
        cfg = CONFIGS[c]
        for e in engines:
            tag = f"{e}.{c}"
            out_txt = work / "outputs" / f"{tag}.txt"
            r = {"engine": e, "config": c, **cfg}
            if a.wait_idle:
                r["busy_before"] = wait_idle(a.wait_idle, a.idle_threshold, log)
            log(f"running {tag} ...")
            if e.startswith("warta"):
                cmd = [str(a.warta.resolve()) if a.warta.exists() else str(a.warta), "translate",
                       "--model", str(bench_model), "--beams", str(cfg["beams"]),
                       "--batch-size", str(cfg["batch"]), "--min-new-tokens", str(a.new_tokens),
                       "--max-new-tokens", str(a.new_tokens), "--threads", t, "--device", a.device, "-v",
                       "--no-retry", str(a.sentences)]
                dtype = e.removesuffix("-vmap").removeprefix("warta").removeprefix("-")
                if dtype:
                    cmd[-1:-1] = ["--dtype", dtype]
                if e.endswith("-vmap"):
                    cmd[-1:-1] = ["--shortlist", str(vmap)]
                r["cmd"] = sh(cmd)
                # warm-up run (page cache, lazy init), untimed
                w = run_measured(cmd, env, a.timeout, work / "logs" / f"{tag}.warmup")
                if w.get("error"):
                    r["error"] = w["error"]
                    results.append(r)
                    continue
                secs, rss, runs = [], [], []
                for k in range(a.repeat):
                    m = run_measured(cmd, env, a.timeout, work / "logs" / f"{tag}.{k}")
                    if m.get("error"):
                        r["error"] = m["error"]
                        break
                    p = parse_warta(m["stderr"])
                    if p is None:
                        r["error"] = "no `N lines, T tokens in S s` line on stderr: " + last_lines(m["stderr"])
                        break
                    secs.append(p["seconds"])
                    rss.append(m["rss_mib"])
                    o, cores = others_in_last(m["samples"], p["seconds"])
                    if cores is not None:
                        r["engine_cores"] = cores
                    if o is None:
                        o = m.get("others_cpu")
                    if o is not None:
                        r["others_cpu"] = max(r.get("others_cpu", 0.0), o)
                    runs.append(m)
                    r["warta_line"] = p["line"]
                    r["tokens"] = p["tokens"]
                    r["lines"] = p["lines"]
                if "error" not in r:
                    r["seconds"] = statistics.median(secs)
                    r["all_seconds"] = secs
                    r["rss_mib"] = max(x for x in rss if x is not None) if any(rss) else None
                    r["process_wall"] = runs[-1]["wall"]
                    out_txt.write_text(runs[-1]["stdout"], encoding="utf-8")
            else:
                if e.startswith("hf"):
                    cmd = [PY, str(Path(__file__).resolve()), "worker", "--engine", "hf",
                           "--torch-dtype", HF_DTYPES.get(e, "float32")]
                else:
                    conv = conversions[e.removesuffix("-inter")]
                    if conv.get("error"):
                        r["error"] = "conversion failed: " + conv["error"]
                        r["cmd"] = sh(conv["cmd"])
                        results.append(r)
                        continue
                    cmd = [PY, str(Path(__file__).resolve()), "worker", "--engine", "ct2",
                           "--ct2-model", str(conv["dir"]),
                           "--compute-type", e.removesuffix("-inter").removesuffix("-vmap").split("-", 1)[1]]
                    if e.endswith("-inter"):
                        cmd.append("--inter")
                    if e.endswith("-vmap"):
                        cmd.append("--use-vmap")
                cmd += ["--device", a.device, "--model", str(bench_model), "--sentences", str(a.sentences),
                        "--beams", str(cfg["beams"]), "--batch", str(cfg["batch"]),
                        "--new-tokens", str(a.new_tokens), "--threads", t, "--repeat", str(a.repeat),
                        "--out", str(out_txt)]
                r["cmd"] = sh(cmd)
                m = run_measured(cmd, env, a.timeout, work / "logs" / tag)
                line = next((l for l in m["stdout"].splitlines() if l.startswith(RESULT_TAG)), None)
                if m.get("error") or line is None:
                    r["error"] = m.get("error") or ("no result: " + last_lines(m["stderr"]))
                else:
                    r.update(json.loads(line[len(RESULT_TAG):]))
                    r["rss_mib"] = m["rss_mib"]
                    r["process_wall"] = m["wall"]
                    if r.get("others_cpu") is None:
                        r["others_cpu"] = m.get("others_cpu")
            if r.get("others_cpu") is not None and r["others_cpu"] > 0.10:
                r["warning"] = (f"machine not idle: other processes used {r['others_cpu'] * 100:.0f}% of its CPU "
                                f"meanwhile (the engine kept {fmt(r.get('engine_cores'), '.2f')} cores busy)")
            if "seconds" in r:
                # An engine's own token count where it reports one (warta translates a
                # line of two sentences as two units, so it may generate more).
                done = r.get("tokens") or expected
                r["tokens_per_s"] = done / r["seconds"] if r["seconds"] > 0 else None
                if r.get("tokens") is not None and r["tokens"] != expected:
                    r["warning"] = (r.get("warning", "") + "; " if r.get("warning") else "") + f"generated {r['tokens']} tokens, expected {expected}"
                if out_txt.exists():
                    r["outputs"] = str(out_txt)
            results.append(r)
            if "error" in r:
                log(f"  {tag}: ERROR {r['error']}")
            else:
                log(f"  {tag}: {r['seconds']:.2f}s, {r.get('tokens_per_s', 0):.1f} tok/s, "
                    f"{r.get('rss_mib') or 0:.0f} MiB, others' CPU {fmt(pct(r.get('others_cpu')), '.0f')}%")

    # agreement with HF, line by line (texts), and token ids where both have them
    for r in results:
        if r["engine"] == "hf" or "outputs" not in r:
            continue
        hf = next((x for x in results if x["engine"] == "hf" and x["config"] == r["config"] and "outputs" in x), None)
        if hf is None:
            continue
        mine_ids, ref_ids = Path(r["outputs"] + ".ids.json"), Path(hf["outputs"] + ".ids.json")
        if mine_ids.exists() and ref_ids.exists():
            mine, ref = json.loads(mine_ids.read_text()), json.loads(ref_ids.read_text())
            what = "token ids"
        else:
            mine = Path(r["outputs"]).read_text(encoding="utf-8").splitlines()
            ref = Path(hf["outputs"]).read_text(encoding="utf-8").splitlines()
            what = "text"
        r["same_as_hf"] = f"{sum(1 for x, y in zip(mine, ref) if x == y)}/{len(ref)} ({what})"

    report = render(a, info, versions, warta_version, started, results, conversions, n_sent, expected,
                    bench_model)
    print(report)
    if a.json:
        a.json.write_text(json.dumps({"machine": info, "versions": versions, "warta_version": warta_version,
                                      "started": started, "model": str(a.model), "results": results},
                                     indent=2, default=str) + "\n")


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def pct(x):
    return None if x is None else 100.0 * x


def render(a, info, versions, warta_version, started, results, conversions, n_sent, expected, bench_model):
    L = []
    L.append(f"## Speed: warta vs HF transformers vs CTranslate2 ({started})")
    L.append("")
    L.append(f"- Machine: {info['cpu']}, {info['cores_usable']} usable cores (of {info['cpu_count']}), "
             f"{info['memory']} RAM, SIMD: {info['simd']}, Linux {info['kernel']}, Python {info['python']}")
    v = ", ".join(f"{k} {val}" for k, val in versions.items())
    L.append(f"- Versions: {v}" + (f", warta: {warta_version}" if warta_version else ""))
    L.append(f"- Model: `{show(a.model)}` (benchmarked through `{show(bench_model)}`: the same files, but "
             "config.json / generation_config.json without forced_eos_token_id)")
    L.append(f"- Input: {n_sent} sentences from `{a.sentences.name}`; every sentence forced to "
             f"{a.new_tokens} new tokens (min = max), {expected} generated tokens per run; threads = {a.threads}")
    if getattr(a, "vmap_used", None):
        sizes = []
        for b in sorted({CONFIGS[r["config"]]["batch"] for r in results}):
            got = vmap_sizes(a.warta, bench_model, a.sentences, a.vmap_used, b) if a.warta else None
            sizes.append(f"batch {b}: " + ("?" if got is None else "{:.0f} per sentence, {:.0f} per batch".format(*got)))
        sizes = ", ".join(sizes)
        L.append(f"- Shortlist (-vmap engines): `{show(a.vmap_used)}`"
                 f"{'' if a.vmap else ' (synthetic: targets drawn at random, see the module docs)'}; "
                 f"candidate target tokens of a vocabulary of {len(json.loads((bench_model / 'vocab.json').read_text()))}: {sizes}")
    L.append("- Time = tokenize + generate + detokenize of all sentences, after loading and a warm-up; "
             "tokens/s = generated tokens / time; peak RSS = whole process (`/usr/bin/time` %M); "
             "engine cores = CPU seconds / wall seconds of the engine over the timed span; "
             "others' CPU % = share of the machine's CPU time other processes used over the same span "
             "(for a clean measurement: ~0, or at least the engine keeping its cores busy)")
    L.append("")
    cfgs = list(dict.fromkeys(r["config"] for r in results))
    engs = list(dict.fromkeys(r["engine"] for r in results))
    get = {(r["engine"], r["config"]): r for r in results}

    # compact table: tokens/s (x HF) per config, peak RSS per config
    head = "| engine | " + " | ".join(f"{c} tok/s" for c in cfgs) + " | " + " | ".join(f"{c} peak RSS MiB" for c in cfgs) + " |"
    L.append(head)
    L.append("|" + "---|" * (1 + 2 * len(cfgs)))
    for e in engs:
        cells = []
        for c in cfgs:
            r = get.get((e, c))
            if r is None:
                cells.append("-")
            elif "error" in r:
                cells.append("error")
            else:
                hf = get.get(("hf", c))
                ratio = ""
                if e != "hf" and hf and hf.get("tokens_per_s"):
                    ratio = f" ({r['tokens_per_s'] / hf['tokens_per_s']:.2f}x HF)"
                cells.append(f"{fmt(r.get('tokens_per_s'), '.1f')}{ratio}")
        for c in cfgs:
            r = get.get((e, c))
            cells.append("-" if r is None or "error" in r else fmt(r.get("rss_mib"), ".0f"))
        L.append(f"| {e} | " + " | ".join(cells) + " |")
    L.append("")

    # detailed table
    L.append("| engine | config | beams | batch | seconds | tokens/s | tokens generated | peak RSS MiB | "
             "load s | same output as HF | engine cores | others' CPU % | note |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        note = r.get("error") or r.get("warning") or ""
        if r["engine"].startswith("warta") and r.get("warta_line"):
            note = (note + "; " if note else "") + f"log: `{r['warta_line']}`"
        if r.get("eos_tokens"):
            note = (note + "; " if note else "") + f"{r['eos_tokens']} `</s>` among them"
        if r.get("generate_seconds") is not None:
            note = (note + "; " if note else "") + f"generate() alone {r['generate_seconds']:.2f}s"
        if r.get("all_seconds") and len(r["all_seconds"]) > 1:
            note = (note + "; " if note else "") + "runs " + ", ".join(f"{s:.2f}" for s in r["all_seconds"])
        note = note.replace("|", "\\|").replace("\n", " ")
        L.append(f"| {r['engine']} | {r['config']} | {r['beams']} | {r['batch']} | {fmt(r.get('seconds'), '.2f')} | "
                 f"{fmt(r.get('tokens_per_s'), '.1f')} | {fmt(r.get('tokens'), 'd')} | {fmt(r.get('rss_mib'), '.0f')} | "
                 f"{fmt(r.get('load_seconds'), '.1f')} | {r.get('same_as_hf', '-')} | "
                 f"{fmt(r.get('engine_cores'), '.2f')} | "
                 f"{fmt(pct(r.get('others_cpu')), '.0f')} | {note} |")
    L.append("")
    L.append("Commands (each run in its own process under `/usr/bin/time -f '%M %e %U %S'`, with OMP_NUM_THREADS, "
             f"MKL_NUM_THREADS, RAYON_NUM_THREADS = {a.threads}" + (f", at nice {a.nice}" if a.nice else "") + "):")
    L.append("")
    L.append("```sh")
    L.append("# this report")
    L.append(sh(["python", "benches/compare.py"] + sys.argv[1:]))
    for e, conv in conversions.items():
        L.append(f"# {e}: conversion (not timed)")
        L.append(sh(conv["cmd"]))
    for r in results:
        if r.get("cmd"):
            L.append(f"# {r['engine']} {r['config']}")
            L.append(r["cmd"])
    L.append("```")
    return "\n".join(L)


if __name__ == "__main__":
    main()
