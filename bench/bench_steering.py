"""Steering benchmarks on the default model (SmolLM2-135M-Instruct + the shipped SAE), CPU, 2 threads.

    .venv/bin/python bench/bench_steering.py          # prints a Markdown table; results go in docs/benchmarks.md

- steered/plain: tokens/s of ``generate_rows`` with a clamp on one feature (what ``lab.generate(steer=...)``
  runs) ÷ tokens/s of a plain HF ``model.generate``, same prompt, 64 new tokens forced (``min_new_tokens``),
  greedy; 7 back-to-back pairs in alternating order, the median of the pairs' ratios. Target ≥ 0.95.
- sweep/one: one batched call with the baseline and 4 clamp strengths (5 rows, 64 tokens each) ÷ one plain
  generation of 64 tokens; 7 back-to-back rounds, the median of their ratios. Target ≤ 1.5. Beside it, plain HF ``generate`` of the
  same 5 rows without steering: what batching itself costs on this CPU; and the model's decoder blocks alone
  (no output layer, no sampling) run over 5 rows for as many steps: a floor that no batched generation of
  this model can go under here.
- slider release → first token: with the panel generating, a new request (what a released slider sends) until
  the first streamed update of the new run; against prompt prefill (the prompt's forward) + one decoding step
  (median step of a plain generation) + 100 ms. Median of 5.
"""

from __future__ import annotations

import statistics
import threading
import time

import torch

PROMPT = "Write a short story about a walk in the park."
N = 64
REPEATS = 7


def main() -> None:
    torch.set_num_threads(2)
    import saewidgets as sw
    from saewidgets.generation import generate_rows

    lab = sw.load()
    ids = lab.chat_ids(PROMPT)
    x = torch.tensor([ids])
    feature = int(lab.encode(PROMPT).top(k=1).feature.iloc[-1])  # any live feature: the cost does not depend on it
    pad = lab.tokenizer.pad_token_id

    def hf_seconds(rows: int = 1) -> float:  # plain HF generate of `rows` copies of the prompt, N tokens each
        xr = x.repeat(rows, 1)
        t = time.perf_counter()
        lab.model.generate(xr, attention_mask=torch.ones_like(xr), max_new_tokens=N, min_new_tokens=N,
                           do_sample=False, pad_token_id=pad, top_p=None, top_k=None)
        return time.perf_counter() - t

    def plain():
        return N / hf_seconds()

    def steered():
        b = generate_rows(lab, [ids], [({feature: 8.0}, "clamp")], max_new_tokens=N, min_new_tokens=N)
        return b.tokens[0] / b.seconds

    plain(), steered()
    # Pairs run back to back, the order alternating, so the slow drifts of a shared machine cancel in each
    # pair's ratio; the median over pairs is the figure, with the range beside it.
    rates_p, rates_s, pair_ratios = [], [], []
    for i in range(REPEATS):
        if i % 2 == 0:
            p = plain()
            s = steered()
        else:
            s = steered()
            p = plain()
        rates_p.append(p)
        rates_s.append(s)
        pair_ratios.append(s / p)
    tp, ts = statistics.median(rates_p), statistics.median(rates_s)

    def sweep():
        rows = [(None, "clamp")] + [({feature: s}, "clamp") for s in (2.0, 4.0, 8.0, 16.0)]
        t = time.perf_counter()
        generate_rows(lab, [ids] * 5, rows, max_new_tokens=N, min_new_tokens=N)
        return time.perf_counter() - t

    @torch.no_grad()
    def body_five():  # 5 rows through the decoder blocks only, one position a step after the prefill
        from transformers import DynamicCache

        x5 = x.repeat(5, 1)
        t = time.perf_counter()
        cache = DynamicCache(config=lab.model.config)
        lab.model.model(input_ids=x5, past_key_values=cache, use_cache=True)
        step = x5[:, -1:]
        for i in range(N - 1):
            lab.model.model(input_ids=step, past_key_values=cache, use_cache=True,
                            cache_position=torch.tensor([x5.shape[1] + i]))
        return time.perf_counter() - t

    one, five, sweep_ratios, floor_ratios, body_ratios = [], [], [], [], []
    for i in range(REPEATS):
        # hf5: Hugging Face's own batching of the same 5 rows, no steering: the floor for a 5-row sweep
        runs = [("one", hf_seconds), ("sweep", sweep), ("hf5", lambda: hf_seconds(5)), ("body5", body_five)]
        times = {name: fn() for name, fn in (runs if i % 2 == 0 else runs[::-1])}
        one.append(times["one"])
        five.append(times["sweep"])
        sweep_ratios.append(times["sweep"] / times["one"])
        floor_ratios.append(times["hf5"] / times["one"])
        body_ratios.append(times["body5"] / times["one"])
    t_one, t_sweep = statistics.median(one), statistics.median(five)

    # slider release -> first streamed token
    panel = lab.steer({feature: 4.0}, prompt=PROMPT, max_new_tokens=N)
    panel.run()
    panel.wait()  # the unsteered text is cached from now on, as after a first run in the browser
    first = {}

    def watch(change):
        r = change["new"]
        if r.get("id") in first and first[r["id"]] is None and r.get("tokens", 0) >= 1:
            first[r["id"]] = time.perf_counter()

    panel.observe(watch, names="result")
    latencies = []
    for i in range(5):
        panel.strengths = {feature: 4.0 + i}
        panel.run()  # generating...
        while panel.result.get("tokens", 0) < 5:
            time.sleep(0.002)
        panel.strengths = {feature: 5.5 + i}
        t0 = time.perf_counter()
        first[panel._ids + 1] = None
        rid = panel.run()  # ... a slider is released
        while first.get(rid) is None:
            time.sleep(0.001)
        latencies.append(first[rid] - t0)
        panel.wait()
    prefill = []
    with lab.steering({feature: 4.0}):
        for _ in range(5):
            t = time.perf_counter()
            with torch.no_grad():
                lab.model(input_ids=x)
            prefill.append(time.perf_counter() - t)
    step = 1 / tp
    budget = statistics.median(prefill) + step + 0.100
    latency = statistics.median(latencies)

    print(f"prompt: {len(ids)} tokens (chat template), {N} new tokens, torch threads {torch.get_num_threads()}")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| plain HF generate | {tp:.1f} tok/s | |")
    print(f"| steered (clamp, one feature) | {ts:.1f} tok/s | |")
    print(f"| steered ÷ plain, median of {REPEATS} back-to-back pairs (range) | **{statistics.median(pair_ratios):.3f}** "
          f"({min(pair_ratios):.3f}–{max(pair_ratios):.3f}) | ≥ 0.95 |")
    print(f"| one plain generation ({N} tokens) | {t_one:.2f} s | |")
    print(f"| sweep: baseline + 4 strengths, one call | {t_sweep:.2f} s | |")
    print(f"| sweep ÷ one, median of {REPEATS} back-to-back rounds (range) | **{statistics.median(sweep_ratios):.2f}×** "
          f"({min(sweep_ratios):.2f}–{max(sweep_ratios):.2f}) | ≤ 1.5× |")
    print(f"| plain HF generate of the same 5 rows ÷ one (the batching floor) | {statistics.median(floor_ratios):.2f}× "
          f"({min(floor_ratios):.2f}–{max(floor_ratios):.2f}) | |")
    print(f"| the decoder blocks alone over the same 5 rows (no output layer) ÷ one | {statistics.median(body_ratios):.2f}× "
          f"({min(body_ratios):.2f}–{max(body_ratios):.2f}) | |")
    print(f"| slider release → first streamed token | {latency * 1000:.0f} ms | |")
    print(f"| budget: prefill {statistics.median(prefill) * 1000:.0f} ms + step {step * 1000:.0f} ms + 100 ms "
          f"| {budget * 1000:.0f} ms | latency ≤ budget: **{'yes' if latency <= budget else 'no'}** |")


if __name__ == "__main__":
    main()
