"""Whether downloads from the Hugging Face Hub are switched off, and one message for failing ones.

Anything saewidgets fetches from the Hub (a model, an SAE, a dataset) goes through here, so every
"cannot download" error reads the same way: what is missing, why, and what to do instead.
"""

from __future__ import annotations

import os

# huggingface_hub reads the first two, datasets the first and third; any one turns downloads off.
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = ("1", "TRUE", "YES", "ON")  # huggingface_hub's spelling of "true", compared upper-cased
# datasets' "not found" error, matched by name so that this module needs no datasets import.
_NOT_FOUND_NAMES = ("DatasetNotFoundError",)


def offline_variable() -> str | None:
    """The first of OFFLINE_VARIABLES that is set to a true value, or None."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").upper() in _TRUE:
            return name
    return None


def offline() -> bool:
    """True when downloads are switched off (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE or
    HF_DATASETS_OFFLINE is 1, true, yes or on, in any case)."""
    return offline_variable() is not None


def offline_message(what: str, fix: str) -> str:
    """The error for `what` (e.g. "model 'org/name'") missing locally while downloads are off.

    fix says what to do instead, e.g. "pass a local folder"; the message adds how to turn
    downloads back on.
    """
    name = offline_variable() or OFFLINE_VARIABLES[0]
    value = os.environ.get(name) or "1"
    return (f"offline: {what} is not on this machine and downloads are off ({name}={value}): "
            f"{fix}; or unset {name} on a machine with a network")


def hub_failure_message(what: str, fix: str, error: BaseException) -> str:
    """The error for a failed Hub download of `what`, from the exception the Hub library raised.

    Downloads switched off give offline_message; a repo or dataset the Hub does not know (or
    keeps private or gated) says so; anything else (no network, the Hub down, nothing in the
    local cache) is reported as the Hub being out of reach.
    """
    if offline():
        return offline_message(what, fix)
    if _is_not_found(error):
        return (f"{what} was not found on the Hugging Face Hub (or is private or gated: log in "
                f"with `hf auth login` if you have access): {fix}")
    return (f"offline: {what} is not on this machine and the Hugging Face Hub could not be "
            f"reached ({type(error).__name__}): {fix}; or try again with a network")


def _is_not_found(error: BaseException) -> bool:
    try:
        from huggingface_hub.errors import RepositoryNotFoundError  # gated repos subclass it
    except ImportError:
        RepositoryNotFoundError = ()  # noqa: N806 - without huggingface_hub only names match
    chain, seen = error, set()
    while chain is not None and id(chain) not in seen:  # datasets wraps the Hub's errors
        if isinstance(chain, RepositoryNotFoundError) or type(chain).__name__ in _NOT_FOUND_NAMES:
            return True
        seen.add(id(chain))
        chain = chain.__cause__ or chain.__context__
    return False
