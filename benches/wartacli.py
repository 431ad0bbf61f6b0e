"""Running the warta binary from the bench scripts (shortlist_eval.py, int8_agreement.py):
one `translate` call per (model, dtype, search), its lines back."""
import re
import subprocess
import sys


def lines(text):
    return text.rstrip("\n").split("\n")


def warta(binary, *args):
    """`warta -q ARGS`'s stdout; a failure ends the script with warta's stderr."""
    r = subprocess.run([str(binary), "-q", *map(str, args)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"warta {' '.join(map(str, args))} failed: {r.stderr}")
    return r.stdout


def translate(binary, model, path, dtype, beams, shortlist=None):
    """The lines of `path` translated each as it is (`--no-retry`), with the table
    `shortlist` when given."""
    args = ["translate", "--model", model, "--dtype", dtype, "--beams", beams, "--no-retry", path]
    if shortlist:
        args[-1:-1] = ["--shortlist", shortlist]
    return lines(warta(binary, *args))


def candidate_counts(binary, model, path, table, batch=32, required=True):
    """(sentences, batch union, mean a sentence) of each batch of `path` under the shortlist
    `table`, as warta's debug log (`-vv`) counts them, from a run of one new token a line.
    Without them the script ends, or, with `required=False`, the list is empty (compare.py
    asks after its timed runs and keeps its report)."""
    r = subprocess.run([str(binary), "-vv", "translate", "--model", str(model), "--shortlist", str(table),
                        "--batch-size", str(batch), "--beams", "1", "--max-new-tokens", "1", "--no-retry",
                        "--device", "cpu", str(path)], capture_output=True, text=True, check=False)
    found = [(int(n), int(u), float(m)) for n, u, m in re.findall(
        r"shortlist: (\d+) sentences, (\d+) candidates in the batch, ([0-9.]+) a sentence", r.stderr)]
    if not found and required:
        sys.exit(f"no shortlist lines in warta's debug log: {r.stderr[-500:]}")
    return found
