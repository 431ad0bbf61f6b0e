"""Running the warta binary from the bench scripts (shortlist_eval.py, int8_agreement.py):
one `translate` call per (model, dtype, search), its lines back."""
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
