"""Fast tests of saewidgets.corpus on tiny synthetic sources and a fake word-level tokenizer, and
of the corpus sample shipped inside the package."""

import gzip
import hashlib
import json
import lzma
import os
import stat
import textwrap
import warnings

import numpy as np
import pytest

from saewidgets import corpus


class WordTokenizer:
    """Just enough of a Hugging Face tokenizer: one id a whitespace-separated word."""

    name_or_path = "word-tokenizer"
    bos_token_id, eos_token_id = 1, 2

    def get_vocab(self):
        return {"<|endoftext|>": 0, "<s>": 1, "</s>": 2}

    def __call__(self, texts, add_special_tokens=True):
        assert add_special_tokens is False
        return {"input_ids": [[3 + hash(w) % 997 for w in t.split()] for t in texts]}


def sentence(i, lang="en"):
    words = {"en": "the cat sat on a warm mat while", "de": "der Hund lief über die grüne Wiese"}
    return f"{words[lang]} number {i} and then {i * 7 % 13} more words."


@pytest.fixture
def fortunes(tmp_path):
    root = tmp_path / "fortunes"
    (root / "de").mkdir(parents=True)
    (root / "off").mkdir()
    en = [sentence(i) for i in range(200)]
    (root / "cookie").write_text("\n%\n".join(en + en[:20]) + "\n%\n")  # 20 exact duplicates
    (root / "cookie.dat").write_bytes(b"\x00\x01binary index")
    (root / "de" / "sprueche").write_text("\n%\n".join(sentence(i, "de") for i in range(100)))
    (root / "sprueche").write_text((root / "de" / "sprueche").read_text())  # top-level copy
    (root / "off" / "rude").write_text("an offensive fortune that must not appear\n%\n")
    (root / "ascii-art").write_text("   /\\_/\\   ascii art picture of a cat\n%\n")
    return root


@pytest.fixture
def gcide(tmp_path):
    root = tmp_path / "dictd"
    root.mkdir()
    entries = {f"Word{i}": f"Word{i} \\Word\"{i}\\, n.\n   A thing numbered {i}, with {{cross}} "
                           f"references.\n   [1913 Webster]\n" for i in range(150)}
    data, index, digits = b"", [], corpus._B64_DIGITS

    def b64(n):
        out = ""
        while True:
            out = digits[n % 64] + out
            n //= 64
            if not n:
                return out

    for word, text in entries.items():
        raw = text.encode() + b"\n"
        index.append(f"{word}\t{b64(len(data))}\t{b64(len(raw))}")
        data += raw
    (root / "gcide.index").write_text("\n".join(index) + "\n")
    (root / "gcide.dict.dz").write_bytes(gzip.compress(data))
    return root


@pytest.fixture
def stdlib(tmp_path):
    root = tmp_path / "python3.11"
    (root / "test").mkdir(parents=True)
    (root / "os.py").write_text('"""Operating system stuff."""\nimport sys\n')
    funcs = "\n\n".join(
        f'def f{i}(x):\n    """Return x plus {i}, a tiny example function."""\n    return x + {i}'
        for i in range(60)
    )
    (root / "mathy.py").write_text(funcs + "\n")
    (root / "test" / "test_mathy.py").write_text("def test_skipped():\n    assert False\n")
    return root


def build(tmp_path, fortunes, gcide, stdlib, name="out", **kwargs):
    args = dict(tokenizer=WordTokenizer(), target_tokens=10_000, min_tokens=100, n_chat=200,
                roots={"fortunes": fortunes, "gcide": gcide, "stdlib": stdlib},
                readers=["fortunes", "gcide", "stdlib"], verbose=False)
    args.update(kwargs)
    return corpus.build(tmp_path / name, **args)


def read_split(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_read_fortunes_languages_and_exclusions(fortunes):
    docs = list(corpus.read_fortunes(fortunes))
    sources = {d["source"] for d in docs}
    assert sources == {"fortunes-en", "fortunes-de"}
    texts = " ".join(d["text"] for d in docs)
    assert "offensive" not in texts and "ascii art" not in texts
    # the top-level copy of de/sprueche is read once, as German
    assert sum(d["source"] == "fortunes-de" for d in docs) == 100


def test_bad_encoding_is_skipped_with_a_warning(fortunes):
    (fortunes / "latin").write_bytes("caf\xe9 au lait, a fortune in latin-1\n%\n".encode("latin-1"))
    with pytest.warns(UserWarning, match="latin"):
        docs = list(corpus.read_fortunes(fortunes))
    assert docs and not any("lait" in d["text"] for d in docs)


def test_gcide_markup_is_cleaned(gcide):
    docs = list(corpus.read_gcide(gcide))
    assert len(docs) == 150
    text = docs[0]["text"]
    assert text.startswith("Word0, n.") and "[1913 Webster]" not in text and "{" not in text


def test_stdlib_skips_tests(stdlib):
    modules = {d["title"] for d in corpus.read_stdlib(stdlib)}
    assert modules == {"os", "mathy"}


def test_build_dedups_caps_and_splits(tmp_path, fortunes, gcide, stdlib):
    manifest = build(tmp_path, fortunes, gcide, stdlib, heldout_fraction=0.2, max_share=0.3)
    out = tmp_path / "out"
    train, held = read_split(out / corpus.TRAIN_FILE), read_split(out / corpus.HELDOUT_FILE)
    texts = [d["text"] for d in train + held]
    norm = [corpus._norm(t) for t in texts]
    assert len(set(norm)) == len(norm)  # exact duplicates dropped (the 20 repeated cookies)
    assert not {corpus._norm(d["text"]) for d in train} & {corpus._norm(d["text"]) for d in held}
    assert held, "a 20% held-out split of this corpus can't be empty"
    assert {d["source"] for d in train} >= {"fortunes-en", "gcide", "python-stdlib", "chat"}
    # no domain above the cap, budgets within the target
    total = sum(f["tokens"] for f in manifest["files"].values())
    assert total <= 10_000 + 200  # the last document of a domain may overshoot a little
    per_domain = {}
    for row in manifest["sources"].values():
        per_domain[row["domain"]] = per_domain.get(row["domain"], 0) + sum(row["tokens"].values())
    cap = max(0.3, 1 / len(per_domain))
    assert all(t <= cap * total + 100 for t in per_domain.values()), per_domain
    assert manifest["sources"]["fortunes-de"]["package"] == "fortunes-de"
    assert sorted(os.listdir(out)) == sorted([corpus.TRAIN_FILE, corpus.HELDOUT_FILE,
                                              corpus.MANIFEST_FILE])  # no temp files left


def test_build_is_deterministic(tmp_path, fortunes, gcide, stdlib):
    a = build(tmp_path, fortunes, gcide, stdlib, name="a", heldout_fraction=0.1)
    b = build(tmp_path, fortunes, gcide, stdlib, name="b", heldout_fraction=0.1)
    assert a["files"] == b["files"]  # same sha256 for train and held-out
    # the split of a document never depends on what else is in the corpus
    c = build(tmp_path, fortunes, gcide, stdlib, name="c", heldout_fraction=0.1, n_chat=0,
              readers=["fortunes"])
    held_a = {d["text"] for d in read_split(tmp_path / "a" / corpus.HELDOUT_FILE)}
    train_c = {d["text"] for d in read_split(tmp_path / "c" / corpus.TRAIN_FILE)}
    assert not held_a & train_c


def test_chat_never_crosses_the_split(tmp_path, fortunes, gcide, stdlib):
    docs, _ = corpus.read_sources({"fortunes": fortunes, "gcide": gcide, "stdlib": stdlib},
                                  readers=["fortunes", "gcide", "stdlib"])
    chats = corpus.make_chat(docs, n=300, heldout_fraction=0.3)
    assert len(chats) > 100
    held_keys = {d["key"] for d in docs if corpus.is_heldout(d["key"], 0.3)}
    for chat in chats:
        assert chat["text"].startswith("<|im_start|>system\n") and chat["text"].endswith(
            "<|im_end|>\n")
        # every answer comes from documents on the same side as the conversation's key
        side = chat["key"] in held_keys
        for doc in docs:
            if doc["text"].strip() in chat["text"] and len(doc["text"]) > 40:
                assert (doc["key"] in held_keys) == side


def test_chat_format_matches_smollm2_template():
    text = corpus.chat_format([{"role": "user", "content": "Hi"},
                               {"role": "assistant", "content": "Hello!"}])
    assert text == (f"<|im_start|>system\n{corpus.DEFAULT_SYSTEM}<|im_end|>\n"
                    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n")


def test_tiny_corpus_raises_with_the_minimum(tmp_path, fortunes, gcide, stdlib):
    with pytest.raises(ValueError, match="minimum is 10,000,000"):
        build(tmp_path, fortunes, gcide, stdlib, min_tokens=10_000_000)


def test_missing_sources_name_the_package(tmp_path):
    with pytest.raises(corpus.SourceMissingError, match="apt-get install dict-gcide"):
        corpus.build(tmp_path / "out", tokenizer=WordTokenizer(), verbose=False,
                     roots={"gcide": tmp_path / "nowhere"}, readers=["gcide"])


def test_allocate_equalises_and_caps():
    budgets = corpus.allocate({"a": 100, "b": 1000, "c": 1000, "d": 1000}, 2000, 0.4)
    assert budgets["a"] == 100 and budgets["b"] == budgets["c"] == budgets["d"] == 633
    # one huge domain: the total shrinks until it holds at most its share
    budgets = corpus.allocate({"big": 10_000, "x": 100, "y": 100}, 5000, 0.5)
    assert budgets == {"big": 200, "x": 100, "y": 100}
    # fewer domains than 1/max_share: equal shares
    assert corpus.allocate({"a": 500, "b": 500}, 800, 0.25) == {"a": 400, "b": 400}


def test_chunks_respect_the_limit():
    text = "\n\n".join(" ".join(f"word{i}{j}." for j in range(50)) for i in range(40))
    pieces = corpus._chunks(text, 300)
    assert all(len(p) <= 300 for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_token_windows_shapes_and_boundary_token():
    tok = WordTokenizer()
    texts = [sentence(i) for i in range(50)]
    windows = list(corpus.token_windows(tok, texts, seq_len=8))
    assert windows and all(w.shape == (8,) and w.dtype == np.int64 for w in windows)
    assert all(w[0] == 0 for w in windows)  # <|endoftext|> starts every window
    batches = list(corpus.token_windows(tok, texts, seq_len=8, batch_size=16))
    assert all(b.shape[1] == 8 for b in batches) and batches[0].shape == (16, 8)
    assert sum(len(b) for b in batches) == len(windows)
    with pytest.raises(ValueError, match="needs at least 127"):
        list(corpus.token_windows(tok, ["too short"], seq_len=128))


def test_load_texts_reads_a_built_corpus(tmp_path, fortunes, gcide, stdlib):
    build(tmp_path, fortunes, gcide, stdlib)
    texts = corpus.load_texts("train", tmp_path / "out")
    german = corpus.load_texts("train", tmp_path / "out", sources=["fortunes-de"])
    assert texts and german and set(german) < set(texts)
    with pytest.raises(ValueError):
        corpus.load_texts("validation", tmp_path / "out")


def test_load_texts_builds_when_missing(tmp_path, monkeypatch):
    calls = []

    def fake_build(out, **kwargs):
        calls.append(out)
        out.mkdir(parents=True)
        with gzip.open(out / corpus.TRAIN_FILE, "wt") as f:
            f.write(json.dumps({"text": "hello", "source": "x"}) + "\n")
        (out / corpus.MANIFEST_FILE).write_text(json.dumps({"format": corpus.CORPUS_FORMAT}))

    # load_documents calls build from its own module (corpus.builder), so patch it there: the
    # name re-exported by the package is a copy that load_documents never looks up
    monkeypatch.setattr(corpus.builder, "build", fake_build)
    monkeypatch.setenv("SAEWIDGETS_CACHE", str(tmp_path / "cache"))
    assert corpus.load_texts() == ["hello"]
    assert calls == [tmp_path / "cache" / "corpus"]


def test_parse_kjv_and_fake_bible_program(tmp_path):
    pretty = "\nGenesis 1\n\n  1 In the beginning.\n  2 And the earth.\n\nGenesis 2\n\n  1 Thus.\n"
    chapters = list(corpus.parse_kjv(pretty))
    assert [c["title"] for c in chapters] == ["Genesis 1", "Genesis 2"]
    assert chapters[0]["text"] == "Genesis 1\n\n1 In the beginning.\n2 And the earth."
    (tmp_path / "bible.data").write_bytes(b"")
    fake = tmp_path / "bible"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{pretty}EOF\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert len(list(corpus.read_kjv(tmp_path, bible_cmd=str(fake)))) == 2


def test_html_to_text_keeps_main_and_pre():
    html = textwrap.dedent("""\
        <html><head><title>T</title><script>var x;</script></head><body>
        <div class="nav">Navigation links</div>
        <div class="body" role="main"><h1>Title<a class="headerlink" href="#">¶</a></h1>
        <nav class="contents"><ul><li>Table of contents</li></ul></nav>
        <p>Some   <b>bold</b>
        text.</p><pre>def f():
            return 1</pre></div><div class="footer">Footer</div></body></html>""")
    text, title = corpus.html_to_text(html, main_only=True)
    assert title == "Title"
    assert text == "Title\n\nSome bold text.\n\ndef f():\n    return 1"


def test_spam_assassin_reader(tmp_path):
    data = tmp_path / "@stdlib" / "datasets-spam-assassin" / "data"
    (data / "easy-ham-1").mkdir(parents=True)
    (data / "spam-1").mkdir()
    (data / "easy-ham-1" / "1.txt").write_bytes(
        b"From x  Tue Jul 30 2002\nReceived: from somewhere\nFrom: Ann <ann@example.com>\n"
        b"Subject: Lunch\nContent-Type: text/plain\n\nShall we meet for lunch on Friday?\n")
    (data / "spam-1" / "2.txt").write_bytes(
        b"From: shop@example.com\nSubject: Offer\nContent-Type: text/html\n\n"
        b"<html><body><p>Buy <b>now</b>, limited offer!</p></body></html>\n")
    (data / "spam-1" / "3.txt").write_bytes(
        b"From: a@b.c\nSubject: ?\nContent-Type: text/plain; charset=DEFAULT_CHARSET\n\n"
        b"Body text in an unknown charset.\n")
    with pytest.warns(UserWarning, match="3.txt"):
        docs = list(corpus.read_spam_assassin(tmp_path))
    assert [d["source"] for d in docs] == ["email-ham", "email-spam"]
    assert docs[0]["text"] == ("From: Ann <ann@example.com>\nSubject: Lunch\n\n"
                               "Shall we meet for lunch on Friday?")
    assert "Received" not in docs[0]["text"] and "Buy now, limited offer!" in docs[1]["text"]


@pytest.mark.integration
def test_smollm2_tokenizer_boundary_token():
    try:
        tok = corpus.smollm2_tokenizer()
    except (FileNotFoundError, ImportError) as err:
        pytest.skip(str(err))
    assert corpus.boundary_token_id(tok) == tok.convert_tokens_to_ids("<|endoftext|>") == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        windows = list(corpus.token_windows(tok, ["The Golden Gate Bridge is red. " * 40],
                                            seq_len=64))
    assert len(windows) >= 3 and all(w[0] == 0 and len(w) == 64 for w in windows)


def test_build_if_missing_leaves_a_built_corpus_alone(tmp_path, fortunes, gcide, stdlib, capsys):
    build(tmp_path, fortunes, gcide, stdlib)
    before = (tmp_path / "out" / corpus.MANIFEST_FILE).read_bytes()
    assert corpus.main(["build", "--if-missing", "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out == f"corpus already built in {tmp_path / 'out'}\n"
    assert (tmp_path / "out" / corpus.MANIFEST_FILE).read_bytes() == before


# ---------------------------------------------------------------------------------------------
# The shipped sample


def sample_split(split):
    return list(corpus.read_sample(split))


def test_sample_is_shipped_and_matches_its_manifest():
    manifest = corpus.sample_manifest()
    data = (corpus.sample_dir() / manifest["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    assert len(data) == manifest["bytes"] < 3_000_000
    for split in ("train", "heldout"):
        docs = sample_split(split)
        assert len(docs) == manifest["splits"][split]["documents"]
        counts = {}
        for d in docs:
            counts[d["source"]] = counts.get(d["source"], 0) + 1
        assert counts == {name: row["documents"][split]
                          for name, row in manifest["sources"].items() if row["documents"][split]}


def test_sample_holds_only_redistributable_sources():
    sources = {d["source"] for split in ("train", "heldout") for d in sample_split(split)}
    assert sources and all(corpus.source_info(s).redistributable for s in sources), sources
    assert not sources & {"gcide", "chat", "fortunes-de", "fortunes-ru", "fortunes-pl",
                          "fortunes-cs", "fortunes-es", "fortunes-pt"}
    # a fair mix: every redistributable domain of the full corpus is there
    domains = {corpus.source_info(s).domain for s in sources}
    assert domains >= {"quotes", "multilingual", "literature", "speeches", "code", "docs", "email"}


def test_sample_keeps_heldout_text_out_of_train():
    train = {corpus._norm(d["text"]) for d in sample_split("train")}
    held = {corpus._norm(d["text"]) for d in sample_split("heldout")}
    assert held and not train & held


def test_sample_has_a_million_smollm2_train_tokens():
    try:
        tok = corpus.smollm2_tokenizer()
    except (FileNotFoundError, ImportError) as err:
        pytest.skip(str(err))
    texts = [d["text"] for d in sample_split("train")]
    tokens = sum(sum(corpus._count_tokens(tok, texts[i : i + 512]))
                 for i in range(0, len(texts), 512))
    assert tokens >= 1_000_000
    assert tokens == corpus.sample_manifest()["splits"]["train"]["tokens"]


def test_available_texts_falls_back_to_the_sample(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SAEWIDGETS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(corpus.builder, "build", lambda *a, **k: pytest.fail("must not build"))
    texts = corpus.available_texts("heldout")
    assert texts == [d["text"] for d in sample_split("heldout")]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sample shipped with the package" in err
    assert "python -m saewidgets.corpus build" in err
    assert not (tmp_path / "empty-cache").exists()  # nothing was built or created
    assert corpus.available_texts("train", sources=["kjv"], verbose=False)
    with pytest.raises(ValueError):
        corpus.available_texts("validation")


def test_available_texts_prefers_a_built_corpus(tmp_path, fortunes, gcide, stdlib, monkeypatch,
                                                capsys):
    monkeypatch.setenv("SAEWIDGETS_CACHE", str(tmp_path / "cache"))
    build(tmp_path, fortunes, gcide, stdlib, name="cache/corpus")
    texts = corpus.available_texts("train")
    assert texts == corpus.load_texts("train") and "gcide" in {
        d["source"] for d in corpus.available_documents("train", verbose=False)}
    assert "the full corpus in" in capsys.readouterr().err


def test_make_sample_is_deterministic_and_leaves_out_copyleft(tmp_path, fortunes, gcide, stdlib):
    build(tmp_path, fortunes, gcide, stdlib, heldout_fraction=0.2)
    full = {s: {d["text"] for d in corpus.load_documents(s, tmp_path / "out")}
            for s in ("train", "heldout")}
    args = dict(tokenizer=WordTokenizer(), train_tokens=1500, heldout_tokens=300)
    a = corpus.make_sample(tmp_path / "out", tmp_path / "a", **args)
    b = corpus.make_sample(tmp_path / "out", tmp_path / "b", **args)
    assert a == b and (tmp_path / "a" / corpus.SAMPLE_FILE).read_bytes() == (
        tmp_path / "b" / corpus.SAMPLE_FILE).read_bytes()
    assert set(a["sources"]) == {"fortunes-en", "python-stdlib"}  # not gcide, German, chat
    assert {"gcide", "fortunes-de", "chat"} <= set(a["left_out"])
    with lzma.open(tmp_path / "a" / corpus.SAMPLE_FILE, "rt") as f:
        docs = [json.loads(line) for line in f]
    assert {d["source"] for d in docs} == {"fortunes-en", "python-stdlib"}
    for split in ("train", "heldout"):
        mine = [d for d in docs if d["split"] == split]
        assert mine and all(d["text"] in full[split] for d in mine)  # held-out only from held-out
        tokens = sum(len(d["text"].split()) for d in mine)
        assert tokens == a["splits"][split]["tokens"] >= args[f"{split}_tokens"]
    assert corpus.read_sample("train", tmp_path / "a") is not None
    with pytest.raises(FileNotFoundError, match="no built corpus"):
        corpus.make_sample(tmp_path / "nothing", tmp_path / "c", **args)
