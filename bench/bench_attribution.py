"""Speed of feature attribution on the default model (SmolLM2-135M-Instruct + the shipped SAE), CPU, 2 threads.

    nice .venv/bin/python bench/bench_attribution.py      # prints a Markdown table; docs/benchmarks.md quotes it

- one target ÷ plain forward + backward, same tokens, same run: ``attribute_targets`` for one target (SAE
  encode at the hook, the decode + error rewrite, one forward, one backward to the features and the error)
  against a plain forward of the same tokens with the hook-point activation as a leaf and one backward of the
  same log-probability to it (the least a gradient at that point costs), and against a backward all the way
  to the input embeddings. Alternating order, REPEATS pairs, the median of the pairs' ratios (and the ratio
  of the best times, which a loaded machine disturbs less). Goal ≤ 2.
- latency: ``lab.attribute`` on a 128-token prompt (the DataFrame with labels, what a user waits for), and
  the attribution view's answer to a click (``attribute_targets`` + the bars' payload); medians.
- batching: 8 targets (8 reply tokens) in one call ÷ 8 calls of one target.
"""

from __future__ import annotations

import statistics
import time

import torch

REPEATS = 9
SHORT = "The capital of France is"
LONG_TEXT = (
    "The Golden Gate Bridge is a suspension bridge spanning the Golden Gate, the strait connecting San Francisco "
    "Bay and the Pacific Ocean. Once upon a time, a little fox lived at the edge of the forest; every morning she "
    "ran to the river to drink, and every evening she came home to sleep. def mean(values):\n    total = 0\n"
    "    for v in values:\n        total += v\n    return total / len(values)\nThe city council voted on Tuesday "
    "to build a new bridge across the river, which will open next year. Water boils at 100 degrees Celsius at "
    "sea level, and it freezes at 0 degrees. Dear Anna, thank you for the lovely birthday present. I hope to "
    "see you soon, and I will bring the book you asked for when I visit in the spring."
)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    torch.set_num_threads(2)
    import saewidgets as sw
    from saewidgets.analysis.attribution import Target, attribute_targets
    from saewidgets.hooks import edit
    from saewidgets.widgets.attribution import AttributionView

    lab = sw.load()
    long_ids = lab.tokenize(LONG_TEXT)[:128]
    assert len(long_ids) == 128, len(long_ids)
    long_prompt = lab.tokenizer.decode(long_ids[1:])

    def plain(ids, to_embeddings=False):
        seq = torch.tensor([ids])
        box = {}
        with torch.enable_grad():
            if to_embeddings:
                emb = lab.model.get_input_embeddings()(seq).detach().requires_grad_(True)
                out = lab.model(inputs_embeds=emb, use_cache=False, logits_to_keep=1).logits[0, -1]
                leaf = emb
            else:
                def make_leaf(h):
                    box["x"] = h.detach().requires_grad_(True)
                    return box["x"]
                with edit(lab.model, lab.hook, make_leaf):
                    out = lab.model(input_ids=seq, use_cache=False, logits_to_keep=1).logits[0, -1]
                leaf = box["x"]
            lp = out.float().log_softmax(-1)
            torch.autograd.grad(lp[int(lp.argmax())], leaf)

    def ours(ids):
        attribute_targets(lab, ids, [Target(len(ids) - 1, None)])

    rows = []
    for name, ids in [("5-token prompt", lab.tokenize(SHORT)), ("128-token prompt", long_ids)]:
        for _ in range(2):  # warm-up
            ours(ids), plain(ids), plain(ids, True)
        ratio_hook, ratio_emb, t_ours, t_hook, t_emb = [], [], [], [], []
        for r in range(REPEATS):
            order = [ours, plain] if r % 2 == 0 else [plain, ours]
            times = {f: timed(lambda f=f: f(ids)) for f in order}
            te = timed(lambda: plain(ids, True))
            t_ours.append(times[ours]), t_hook.append(times[plain]), t_emb.append(te)
            ratio_hook.append(times[ours] / times[plain])
            ratio_emb.append(times[ours] / te)
        rows.append((name, min(t_ours), min(t_hook), statistics.median(ratio_hook), min(t_emb),
                     statistics.median(ratio_emb), min(t_ours) / min(t_hook)))

    # what a user waits for: the DataFrame (with labels) and a click in the view
    lab.attribute(long_prompt)
    frame_s = statistics.median(timed(lambda: lab.attribute(long_prompt)) for _ in range(5))
    view = AttributionView(lab, long_prompt, reply=" and", chat=False, index=len(long_ids))
    view.wait(300)

    def click():
        view._results.clear()
        view.select(len(long_ids))
        view.wait(300)

    click_s = statistics.median(timed(click) for _ in range(5))

    # batching: 8 targets (reply tokens of the short chat prompt) in one call against 8 calls
    from saewidgets.analysis.attribution import plan

    ids, targets, _ = plan(lab, "What is the capital of France?", reply=" The capital of France is Paris.",
                           reply_index=list(range(8)))
    batched = statistics.median(timed(lambda: attribute_targets(lab, ids, targets)) for _ in range(3))
    single = statistics.median(timed(lambda: [attribute_targets(lab, ids, [t]) for t in targets]) for _ in range(3))

    print("| tokens | attribution, one target (best) | plain fwd + bwd to the hook (best) | ratio (median of pairs; "
          "of bests) | plain fwd + bwd to the embeddings (best) | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, a, h, rh, e, re_, rb in rows:
        print(f"| {name} | {a * 1e3:.0f} ms | {h * 1e3:.0f} ms | **{rh:.2f}×**; {rb:.2f}× | {e * 1e3:.0f} ms | "
              f"{re_:.2f}× |")
    print()
    print(f"- `lab.attribute` on the 128-token prompt (DataFrame with explanations): {frame_s:.2f} s (median of 5)")
    print(f"- the view's answer to a click on the 128-token prompt (attribution + bars): {click_s:.2f} s (median of 5)")
    print(f"- 8 targets of a {len(ids)}-token chat exchange in one call: {batched:.2f} s; one at a time: "
          f"{single:.2f} s ({single / batched:.2f}× slower)")


if __name__ == "__main__":
    main()
