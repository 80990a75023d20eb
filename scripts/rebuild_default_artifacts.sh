#!/usr/bin/env bash
# After the default SAE changes (scripts/train_default_sae.py writes saewidgets/data/default-sae/), rebuild
# everything that ships with it, in dependency order. Each file records the SAE fingerprint it was built
# from; a stale one is never used silently (the views compute afresh, with a notice).
#   bash scripts/rebuild_default_artifacts.sh            # ~25 min on 2 CPU cores
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# dashboards: top/quantile examples, histograms, logit lens over the training split (stops after --minutes)
$PY -m saewidgets.analysis.dashboards --tokens 1000000 --minutes "${DASHBOARD_MINUTES:-12}"
# explanations (vocabulary words, top tokens, search's probe table) and the UMAP map with clusters
$PY -m saewidgets.analysis.feature_map build-default
# docs/default-sae.md: metrics table, training curves, example features
$PY scripts/report_default_sae.py
