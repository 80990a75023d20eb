"""The feature store: every artefact of one SAE (statistics, dashboards, explanations, the map, ...) in one place.

One store per SAE object (``store_of(sae)``), keyed on disk by the SAE's fingerprint (a hash of its
decoder). Every artefact is found by the same lookup:

    memory → the SAE's own folder (beside its weights; what ``lab.prepare(out=...)`` writes)
           → the shipped default (``saewidgets/data/default-sae``) → the user cache → computed

Each file records the fingerprint of the SAE it was computed from and its format version. A file
that does not match is never used: in the SAE's own folder or the cache that earns a warning naming
the file and the fix; the shipped files simply belong to another SAE. Whatever is computed is saved to
the user cache, so the next session finds it.

The store knows nothing of what an artefact holds: the analysis modules describe each kind (``Kind``:
its file name, format version and class) and pass the function that computes it. Values derived from
the weights alone (unit decoder rows, logit-lens feature vectors, a token index) are memoised with
``derived``, and recomputed when the weights change in place.
"""

from __future__ import annotations

import hashlib
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from .paths import DEFAULT_SAE_DIR, SHIPPED_SAES, cache_dir


class Artefact(Protocol):
    """What a stored artefact provides: a header (``meta``) and its own file format."""

    meta: dict

    def save(self, path: str | Path) -> Path: ...


@dataclass(frozen=True)
class Kind:
    """One kind of artefact: its file name in a store folder, its format version and its class."""

    name: str
    file: str
    format: int
    type: Any  # a class with ``load(path)`` and ``header(path)`` (see ``npz_store``)


Accept = Callable[[dict], bool]  # does a header cover what the caller needs (e.g. enough tokens)?


class FeatureStore:
    """The artefacts of one SAE. Get it with ``store_of(sae)``; ``lab.store`` is the same object."""

    def __init__(self, sae, folder: str | Path | None = None):
        self._sae = weakref.ref(sae)  # the registry below holds stores weakly by SAE: no cycle back to it
        self.folder = None if folder is None else Path(folder)
        self._held: dict[str, tuple[str, Any, str]] = {}   # kind -> (fingerprint, artefact, source)
        self._derived: dict[str, tuple[tuple, Any]] = {}   # name -> (key, value)
        self._fingerprint: tuple[int, str] | None = None

    @property
    def sae(self):
        sae = self._sae()
        if sae is None:
            raise RuntimeError("the SAE of this feature store no longer exists.")
        return sae

    def __repr__(self) -> str:
        held = ", ".join(f"{k} ({s})" for k, (_, _, s) in self._held.items()) or "nothing loaded"
        return f"FeatureStore({self.fingerprint}, folder={self.folder}, {held})"

    # ---- identity

    @property
    def fingerprint(self) -> str:
        """A short hash of the decoder (in fp16, so an fp16 file upcast to fp32 keeps its fingerprint)."""
        sae = self.sae
        version = sae.W_dec._version
        if self._fingerprint is None or self._fingerprint[0] != version:
            digest = hashlib.sha256(f"{sae.d_in}x{sae.d_sae}".encode())
            digest.update(sae.W_dec.detach().half().cpu().numpy().tobytes())
            self._fingerprint = (version, digest.hexdigest()[:16])
        return self._fingerprint[1]

    def weights_key(self) -> tuple:
        """Changes whenever the weights change in place (for values derived from them)."""
        sae = self.sae
        return (sae.W_dec._version, sae.W_enc._version, sae.b_enc._version)

    # ---- where artefacts live

    def cache_folder(self) -> Path:
        return cache_dir("store", self.fingerprint)

    def places(self) -> list[tuple[Path, str]]:
        """The folders searched, in order, with the source name each gives."""
        out = []
        if self.folder is not None:
            shipped = any(same_folder(self.folder, d) for d in SHIPPED_SAES.values())
            out.append((self.folder, "shipped" if shipped else "folder"))
        if not any(same_folder(p, DEFAULT_SAE_DIR) for p, _ in out):
            out.append((DEFAULT_SAE_DIR, "shipped"))
        out.append((self.cache_folder(), "cache"))
        return out

    # ---- the lookup

    def find(self, kind: Kind, accept: Accept | None = None) -> tuple[Any, str] | None:
        """``(artefact, source)`` from memory or disk, or None; never computes."""
        fp = self.fingerprint
        held = self._held.get(kind.name)
        if held is not None:
            if held[0] == fp and (accept is None or accept(held[1].meta)):
                return held[1], held[2]
            if held[0] != fp:
                del self._held[kind.name]  # the weights changed since: stale
        for folder, source in self.places():
            path = folder / kind.file
            if not path.is_file():
                continue
            try:
                meta = kind.type.header(path)
            except (OSError, ValueError, KeyError) as err:
                warnings.warn(f"ignoring unreadable {kind.name} {path}: {err}", stacklevel=3)
                continue
            if meta.get("sae") != fp or meta.get("format") != kind.format:
                if source != "shipped" or same_folder(folder, self.folder):
                    why = (f"computed for another SAE (fingerprint {meta.get('sae')}, this one is {fp})"
                           if meta.get("sae") != fp else
                           f"format {meta.get('format')}, this saewidgets reads {kind.format}")
                    warnings.warn(f"ignoring {path}: {why}. lab.prepare(out=...) rebuilds it.", stacklevel=3)
                continue
            if accept is not None and not accept(meta):
                continue
            artefact = kind.type.load(path)
            self._held[kind.name] = (fp, artefact, source)
            return artefact, source
        return None

    def get(self, kind: Kind, compute: Callable[[], Any], accept: Accept | None = None,
            save: bool = True) -> tuple[Any, str]:
        """``(artefact, source)``: found (``find``), else computed now and saved to the user cache."""
        found = self.find(kind, accept)
        if found is not None:
            return found
        artefact = compute()
        self.put(kind, artefact, "computed", save_to=self.cache_folder() if save else None)
        return artefact, "computed"

    def put(self, kind: Kind, artefact: Artefact, source: str = "computed", save_to: str | Path | None = None) -> None:
        """Hold ``artefact`` as this SAE's ``kind`` (and write it into ``save_to``, a store folder)."""
        artefact.meta["sae"] = self.fingerprint
        artefact.meta["format"] = kind.format
        if save_to is not None:
            artefact.save(Path(save_to) / kind.file)
        self._held[kind.name] = (self.fingerprint, artefact, source)

    # ---- values derived from the weights, memoised

    def derived(self, name: str, build: Callable[[], Any], *key) -> Any:
        """``build()`` once per weights version (and ``key``, e.g. the model it was computed with)."""
        full = (self.weights_key(), *key)
        held = self._derived.get(name)
        if held is None or held[0] != full:
            held = (full, build())
            self._derived[name] = held
        return held[1]

    # ---- statistics

    @property
    def stats(self) -> dict | None:
        """The SAE's per-feature statistics (max_activation, frequency, mean_activation), or None."""
        return getattr(self.sae, "stats", None) or None

    def adopt_stats(self, stats: dict) -> None:
        """Give an SAE without statistics those of its dashboards (steering units and colours use them).

        The one place that writes ``sae.stats`` besides the file formats: statistics saved with the SAE
        (``feature_stats.safetensors``) win."""
        if not self.stats:
            self.sae.stats = stats


def same_folder(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


_STORES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # sae -> FeatureStore


def store_of(sae, folder: str | Path | None = None) -> FeatureStore:
    """The feature store of ``sae`` (made on first use). ``folder``: the SAE's own folder, searched first."""
    store = _STORES.get(sae)
    if store is None:
        store = _STORES[sae] = FeatureStore(sae, folder or getattr(sae, "source_folder", None))
    elif folder is not None:
        store.folder = Path(folder)
    return store
