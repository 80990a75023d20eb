#!/usr/bin/env bash
# The default SAE's other widths (docs/families.md): 2,048 and 512 latents, k 32, on the same hook point and corpus
# as the shipped 16,384-latent SAE, sharing one activation cache; then every artefact the views need
# (lab.prepare over 200k corpus tokens) and the family measurements. Each step resumes when run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ACT=${SAEWIDGETS_FAMILY_ACTIVATIONS:-$HOME/.cache/saewidgets/runs/family-l15-1700000/activations}
$PY scripts/train_default_sae.py --d-sae 2048 --activation-tokens 1700000 --tokens 4000000 \
  --activations "$ACT" --out saewidgets/data/default-2k --log logs/train-2k.jsonl
$PY scripts/train_default_sae.py --d-sae 512 --activation-tokens 1700000 --tokens 3000000 \
  --activations "$ACT" --out saewidgets/data/default-512 --log logs/train-512.jsonl
for name in default-2k default-512; do
  $PY -c "import saewidgets as sw; print(sw.load(sae='$name').prepare(tokens=200_000))"
done
$PY bench/family_measure.py
