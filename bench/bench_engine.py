"""Engine benchmarks: encode cost against a plain HF forward, load time, and resident memory.

    .venv/bin/python bench/bench_engine.py            # prints a Markdown table; results go in docs/benchmarks.md

- encode/forward: ``lab.encode`` on 512 tokens (runs to layer 15, then the SAE) against a plain
  ``model(input_ids)`` forward of the same 512 tokens (all 30 layers and the LM head); median of 7 runs each, alternating.
- load: ``sw.load()`` in a fresh Python process (imports included) with the safetensors cache built;
  first-run conversion from the GGUF measured into an empty temporary cache.
- memory: peak resident set size of a fresh process after ``sw.load()`` (ru_maxrss).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

LOAD_SNIPPET = """
import time, resource
t = time.perf_counter()
import saewidgets as sw
lab = sw.load()
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def timed_pair(a, b, repeats=7):
    """Median times of a and b, run alternately so a changing load on the machine hits both alike."""
    a(), b()  # warm-up
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((a, times_a), (b, times_b)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return statistics.median(times_a), statistics.median(times_b)


def fresh_process(snippet: str, env=None) -> list[float]:
    out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, env=env, check=True)
    return [float(v) for v in out.stdout.split()[-2:]]


def main() -> None:
    import saewidgets as sw

    lab = sw.load()
    import saewidgets.corpus

    text = open(saewidgets.corpus.__file__).read()
    ids = lab.tokenize(text)[:512]
    prompt = lab.tokenizer.decode(ids[1:])
    n_tokens = len(lab.tokenize(prompt))
    batch = torch.tensor([ids])
    def forward_pass():
        with torch.no_grad():
            lab.model(input_ids=batch, use_cache=False)

    encode, forward = timed_pair(lambda: lab.encode(prompt), forward_pass)

    load_seconds, rss_mb = fresh_process(LOAD_SNIPPET)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SAEWIDGETS_CACHE": cache}
        first_seconds, _ = fresh_process(LOAD_SNIPPET, env)

    rows = [
        ("`lab.encode` 512 tokens", f"{encode * 1000:.0f} ms", f"plain HF forward, same tokens: {forward * 1000:.0f} ms",
         f"{encode / forward:.2f}", "≤ 0.6"),
        ("`sw.load()`, cache built (fresh process)", f"{load_seconds:.1f} s", "", "", "≤ 5 s"),
        ("`sw.load()`, first run (GGUF conversion)", f"{first_seconds:.1f} s", "", "", "reported"),
        ("resident memory after `sw.load()`", f"{rss_mb:.0f} MB", "", "", "≤ 1,200 MB"),
    ]
    print(f"encode measured on {n_tokens} tokens; torch threads {torch.get_num_threads()}\n")
    print("| measure | saewidgets | peer | ratio | target |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
