"""Chat conversations in SmolLM2's chat template, built from the natural documents.

Each exchange asks about one document (a word's meaning, a quote, a verse, a Python function, …)
and answers from it; a conversation keeps its first document's split key, and a second exchange
comes from the same side of the split, so no held-out text reaches a training conversation.
"""

from __future__ import annotations

import ast
import functools
import inspect
import random
import re
import textwrap

from .documents import _chunks, _doc, is_heldout


DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
_SYSTEMS = [DEFAULT_SYSTEM] * 6 + [
    "You are a helpful assistant.",
    "You are a concise assistant. Answer briefly.",
    "You are a friendly tutor who explains things clearly.",
]


def chat_format(messages: list[dict], system: str | None = None) -> str:
    """Messages in SmolLM2's chat template (the template adds its default system prompt)."""
    if messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system or DEFAULT_SYSTEM}, *messages]
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def _excerpt(text: str, max_chars: int) -> str:
    return _chunks(text.strip(), max_chars)[0].strip()


def _ask_word(rng, doc):
    word = doc["title"]
    if not re.fullmatch(r"[A-Za-z][A-Za-z' -]{1,30}", word):
        return None
    if word[1:].islower():  # the dictionary capitalises every headword
        word = word.lower()
    q = rng.choice(["What does the word \"{w}\" mean?", "Define {w}.", "What is the meaning of "
                    "'{w}'?", "Can you explain what {w} means?", "{w} — what does it mean?"])
    a = _excerpt(doc["text"], 700)
    if rng.random() < 0.5:
        a = f"Here is the dictionary entry for \"{word}\":\n\n{a}"
    return q.format(w=word), a


def _ask_fortune(rng, doc):
    topic = doc["title"]
    q = rng.choice(["Tell me a fortune.", "Give me a quote about {t}.", "Do you know a good "
                    "saying about {t}?", "Cheer me up with a quote.", "Say something wise.",
                    "Tell me something funny about {t}."])
    a = doc["text"].strip() if rng.random() < 0.5 else "Here's one:\n\n" + doc["text"].strip()
    return q.format(t=topic), a


_ASK_IN = {
    "de": ["Erzähl mir einen Spruch.", "Kennst du ein gutes Zitat?", "Sag mir etwas Lustiges."],
    "es": ["Dime una frase célebre.", "¿Conoces un buen refrán?", "Cuéntame algo gracioso."],
    "it": ["Dimmi una frase famosa.", "Conosci una bella citazione?", "Raccontami qualcosa."],
    "ru": ["Расскажи мне цитату.", "Знаешь хорошую поговорку?", "Скажи что-нибудь смешное."],
    "pl": ["Podaj mi jakiś cytat.", "Znasz dobre przysłowie?", "Powiedz coś zabawnego."],
    "cs": ["Řekni mi nějaký citát.", "Znáš dobré přísloví?", "Řekni mi něco vtipného."],
    "sk": ["Povedz mi nejaký citát.", "Poznáš dobré príslovie?"],
    "pt": ["Me conte uma frase.", "Você conhece um bom ditado?", "Diga algo engraçado."],
}


def _ask_foreign_fortune(rng, doc):
    lang = doc["source"].removeprefix("fortunes-")
    if lang not in _ASK_IN:
        return None
    return rng.choice(_ASK_IN[lang]), doc["text"].strip()


def _ask_verse(rng, doc):
    verses = doc["text"].split("\n\n", 1)[1].splitlines()
    number, verse = rng.choice(verses).split(" ", 1)
    ref = f"{doc['title']}:{number}"
    q = rng.choice(["What does {r} say?", "Quote {r} from the King James Bible.",
                    "Can you recite {r}?"]).format(r=ref)
    a = f"{ref} reads: \"{verse}\"" if rng.random() < 0.5 else verse
    return q, a


def _ask_speech(rng, doc):
    name, year = doc["title"].split("|")
    q = rng.choice(["Show me a passage from {n}'s {y} State of the Union address.",
                    "What did {n} say in the {y} State of the Union?",
                    "Quote part of the {y} State of the Union address."]).format(n=name, y=year)
    pieces = _chunks(doc["text"], 800)
    return q, rng.choice(pieces).strip()


@functools.lru_cache(maxsize=4096)
def _functions(module_source: str) -> list[tuple[str, str, str]]:
    """(qualified name, docstring, source) of the documented functions in a module."""
    try:
        tree = ast.parse(module_source)
    except SyntaxError:
        return []
    lines = module_source.splitlines(keepends=True)  # (ast.get_source_segment re-splits per call)
    found = []
    for node in tree.body:
        members = [("", node)]
        if isinstance(node, ast.ClassDef):
            members += [(node.name + ".", n) for n in node.body]
        for prefix, fn in members:
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(fn):
                source = textwrap.dedent("".join(lines[fn.lineno - 1 : fn.end_lineno]))
                found.append((prefix + fn.name, inspect.cleandoc(ast.get_docstring(fn)), source))
    return found


def _ask_code(rng, doc):
    functions = [f for f in _functions(doc["text"]) if not f[0].split(".")[-1].startswith("_")]
    if not functions:
        return None
    name, docstring, source = rng.choice(functions)
    module = doc["title"]
    summary = " ".join(docstring.split("\n\n")[0].split()).rstrip(".")
    if rng.random() < 0.5 and 0 < len(source) <= 2500 and summary:
        q = f"Write a Python function `{name.split('.')[-1]}` that does this: {summary}."
        a = f"Here is how the standard library's `{module}` module does it:\n\n```python\n" \
            f"{source.rstrip()}\n```"
        return q, a
    q = rng.choice(["What does `{m}.{f}` do?", "Explain the Python function {m}.{f}.",
                    "What is `{f}` in the `{m}` module for?"]).format(m=module, f=name)
    return q, _excerpt(docstring, 1200)


def _ask_docs(rng, doc):
    title = doc["title"]
    body = doc["text"].split("\n", 1)[-1].strip()
    if not title or len(body) < 100:
        return None
    q = rng.choice(["Can you explain \"{t}\" from the Python docs?", "Tell me about {t}.",
                    "What does the Python documentation say about {t}?"]).format(t=title)
    return q, _excerpt(body, 1000)


def _ask_email(rng, doc):
    subject = doc["title"]
    body = doc["text"].split("\n\n", 1)[-1]
    if doc["source"] == "email-ham" and subject and rng.random() < 0.5:
        return f"Write an email with the subject \"{subject}\".", _excerpt(body, 1200)
    q = "Is this email spam?\n\n" + _excerpt(doc["text"], 900)
    if doc["source"] == "email-spam":
        a = rng.choice(["Yes, this looks like spam.", "This is most likely spam: it is an "
                        "unsolicited message trying to sell something.", "Yes. I would not reply."])
    else:
        a = rng.choice(["No, this looks like a normal email.", "It doesn't look like spam; it "
                        "reads like an ordinary message.", "No, it seems legitimate."])
    return q, a


_ASKERS = {
    "gcide": _ask_word, "fortunes-en": _ask_fortune, "kjv": _ask_verse, "sotu": _ask_speech,
    "python-stdlib": _ask_code, "python-docs": _ask_docs, "email-ham": _ask_email,
    "email-spam": _ask_email, **{f"fortunes-{lang}": _ask_foreign_fortune for lang in _ASK_IN},
}


def make_chat(docs: list[dict], n: int = 12_000, heldout_fraction: float = 0.02,
              seed: int = 0) -> list[dict]:
    """`n` conversations in SmolLM2's chat template, built from `docs`.

    Each exchange asks about one document (a word's definition, a quote, a verse, a Python
    function, …) and answers from it, round-robin over the kinds so that no kind dominates.
    A quarter of the conversations have a second exchange, taken from the same side of the
    held-out split, and each conversation inherits its first document's split key.
    """
    rng = random.Random(seed)
    by_kind: dict[str, dict[str, list[dict]]] = {}  # asker → source → documents
    for doc in docs:
        asker = _ASKERS.get(doc["source"])
        if asker:
            by_kind.setdefault(asker.__name__, {}).setdefault(doc["source"], []).append(doc)
    kinds = sorted(by_kind)
    if not kinds:
        return []
    exchanges = {False: [], True: []}  # by held-out side
    attempts = 0
    while sum(map(len, exchanges.values())) < n and attempts < 4 * n:
        kind = by_kind[kinds[attempts % len(kinds)]]  # round-robin over kinds, not sources,
        attempts += 1  # so that eight fortune languages don't make chat mostly fortunes
        source = rng.choice(sorted(kind))
        doc = rng.choice(kind[source])
        qa = _ASKERS[source](rng, doc)
        if qa:
            exchanges[is_heldout(doc["key"], heldout_fraction)].append((*qa, doc["key"]))
    chats = []
    for side in exchanges.values():
        rng.shuffle(side)
        i = 0
        while i < len(side):
            turns = side[i : i + (2 if rng.random() < 0.25 else 1)]
            i += len(turns)
            messages = [{"role": "system", "content": rng.choice(_SYSTEMS)}]
            for q, a, _ in turns:
                messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            chats.append(_doc(chat_format(messages), "chat", key=turns[0][2]))
    return chats
