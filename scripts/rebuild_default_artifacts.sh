#!/usr/bin/env bash
# After the default SAE changes (scripts/train_default_sae.py writes saewidgets/data/default-sae/), rebuild
# everything that ships with it, in dependency order. Each file records the SAE fingerprint it was built
# from; a stale one is never used silently (the views compute afresh, with a notice).
#   bash scripts/rebuild_default_artifacts.sh            # ~25 min on 2 CPU cores
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# every artefact in one pass over the training split (lab.prepare; the pass stops after --minutes): statistics,
# dashboards, explanations with the search table, the UMAP map; written beside the shipped SAE's weights
$PY -m saewidgets prepare --out saewidgets/data/default-sae --tokens 1000000 --minutes "${DASHBOARD_MINUTES:-12}"
# docs/default-sae.md: metrics table, training curves, example features
$PY scripts/report_default_sae.py
