"""Which feature steers towards a concept? A quick, teacher-forced check of search's candidates.

Search finds features that *fire* on a concept's words; steering needs one that, when turned up, makes the
model *say* them. Those differ: a feature may fire on "ocean" and also on "African", and clamping it
then brings up neither. The check: on a neutral chat exchange (nothing about the concept), clamp each
candidate at ``strength`` and measure how much more probability the model puts on the concept's words
at every position of the reply, against the unsteered model. One forward pass per candidate; no
generation, so it takes well under a second for five candidates on a CPU.
"""

from __future__ import annotations

import pandas as pd
import torch

from ..checks import check_feature
from ..tokens import first_token_ids

# A neutral exchange: the model's next-token predictions over the reply are where steering shows.
CHECK_PROMPT = "What did you do today?"
CHECK_REPLY = ("I spent the morning at home, answered a few messages and then went out for a walk. In the "
               "afternoon I read for a while, cooked dinner and called a friend before going to bed early.")


@torch.no_grad()
def steer_check(lab, features, words: list[str], strength: float = 1.0, method: str = "clamp") -> pd.DataFrame:
    """Rank ``features`` by how far steering each one raises the log-probability of ``words``.

    Returns a DataFrame (best first): ``feature``, ``promotion`` (mean gain, in nats, of the log of the
    probability mass on the words' first tokens over the reply's positions) and ``top_gain`` (the
    largest gain at any position).
    """
    features = [check_feature(f, lab.need_sae().d_sae) for f in features]
    if not features:
        raise ValueError("steer_check needs at least one feature index.")
    if isinstance(words, str):
        words = [words]
    targets = first_token_ids(lab.tokenizer, [w for w in words if w.strip()])
    if not targets:
        raise ValueError("steer_check needs at least one non-empty word to look for.")
    prompt = lab.chat_ids(CHECK_PROMPT)
    reply = lab.tokenizer(CHECK_REPLY, add_special_tokens=False).input_ids
    ids = torch.tensor([prompt + reply], device=lab.device)
    positions = slice(len(prompt) - 1, ids.shape[1] - 1)  # predictions of every reply token

    def mass():
        logp = lab.model(input_ids=ids).logits[0, positions].float().log_softmax(-1)
        return logp[:, targets].logsumexp(-1)

    base = mass()
    rows = []
    for f in features:
        with lab.steering({f: strength}, method):
            gain = mass() - base
        rows.append({"feature": f, "promotion": float(gain.mean()), "top_gain": float(gain.max())})
    return pd.DataFrame(rows).sort_values("promotion", ascending=False, ignore_index=True)
