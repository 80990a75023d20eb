"""Texts for lab.prepare from wherever a user keeps them: lists, .txt/.jsonl/.parquet files and globs, datasets."""

from __future__ import annotations

import json

import pytest

from saewidgets import text_sources as ts


def test_a_list_of_strings_streams_as_it_is():
    assert list(ts.texts(["a b", "c d"])) == ["a b", "c d"]
    with pytest.raises(ts.TextSourceError, match="text 1 is a int"):
        list(ts.texts(["fine", 3]))


def test_txt_files_are_cut_into_documents_at_blank_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(ts, "DOC_CHARS", 20)
    (tmp_path / "a.txt").write_text("first paragraph is here\n\nsecond one\n\nthird\n")
    docs = list(ts.texts(tmp_path / "a.txt"))
    assert docs == ["first paragraph is here", "second one\n\nthird"]


def test_jsonl_reads_the_text_column_and_names_the_columns_when_missing(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"text": "one"}, {"text": "two", "id": 2}, "three"]) + "\n")
    assert list(ts.texts(path)) == ["one", "two", "three"]
    with pytest.raises(ts.TextSourceError, match=r"no text column 'body' \(has: text\)"):
        list(ts.texts(path, text_column="body"))


def test_parquet_and_globs_and_folders(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"content": ["p one", "p two"], "n": [1, 2]}), tmp_path / "x.parquet")
    (tmp_path / "y.jsonl").write_text(json.dumps({"content": "j one"}) + "\n")
    assert list(ts.texts(str(tmp_path / "*.parquet"), "content")) == ["p one", "p two"]
    assert list(ts.texts(tmp_path, "content")) == ["p one", "p two", "j one"]  # a folder: every known file, sorted
    with pytest.raises(ts.TextSourceError, match="no text column 'text'"):
        list(ts.texts(tmp_path / "x.parquet"))
    with pytest.raises(ts.TextSourceError, match="no .txt, .jsonl, .parquet files match"):
        ts.texts(str(tmp_path / "*.csv"))


def test_a_datasets_dataset_by_its_text_column():
    import datasets

    ds = datasets.Dataset.from_dict({"sentence": ["s one", "s two"], "label": [0, 1]})
    assert list(ts.texts(ds, "sentence")) == ["s one", "s two"]
    with pytest.raises(ts.TextSourceError, match=r"no text column 'text' \(has: sentence, label\)"):
        ts.texts(ds)
    assert ts.describe(ds).startswith("dataset")


def test_a_hub_dataset_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ts.TextSourceError, match=r"dataset 'someone/texts'.*HF_HUB_OFFLINE=1.*local file"):
        ts.texts("someone/texts")


def test_paths_that_do_not_exist_and_single_strings_say_what_to_pass(tmp_path):
    with pytest.raises(ts.TextSourceError, match="does not exist"):
        ts.texts(str(tmp_path / "missing.jsonl"))
    with pytest.raises(ts.TextSourceError, match="one string of text where many texts are needed"):
        ts.texts("The Golden Gate Bridge is a bridge.")
    (tmp_path / "n.csv").write_text("a,b\n")
    with pytest.raises(ts.TextSourceError, match="unknown text file type '.csv'"):
        ts.texts(tmp_path / "n.csv")
