#!/usr/bin/env bash
# The default SAE's other widths (docs/families.md): 2,048 and 1,024 latents, k 32, on the same hook point and corpus
# as the shipped 16,384-latent SAE, sharing one activation cache; then every artefact the views need
# (lab.prepare over 200k corpus tokens for the 2k, 100k for the 1k) and the family measurements. Each step resumes when run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ACT=${SAEWIDGETS_FAMILY_ACTIVATIONS:-$HOME/.cache/saewidgets/runs/family-l15-1700000/activations}
$PY scripts/train_default_sae.py --d-sae 2048 --activation-tokens 1700000 --tokens 4000000 \
  --activations "$ACT" --out saewidgets/data/default-2k --log logs/train-2k.jsonl
$PY scripts/train_default_sae.py --d-sae 1024 --activation-tokens 1700000 --tokens 3000000 \
  --activations "$ACT" --out saewidgets/data/default-1k --log logs/train-1k.jsonl
$PY -c "import saewidgets as sw; print(sw.load(sae='default-2k').prepare(tokens=200_000))"
$PY -c "import saewidgets as sw; print(sw.load(sae='default-1k').prepare(tokens=100_000))"
$PY bench/family_measure.py
