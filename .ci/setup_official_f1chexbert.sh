#!/usr/bin/env bash
# Creates .venv-official-chexbert: the official `f1chexbert` 0.0.2 package with the versions it needs
# (it calls tokenizer.encode_plus, removed in transformers 5, and sklearn's private _check_targets, changed in
# scikit-learn 1.6), for tests/metrics/test_f1chexbert_parity.py and benchmarks/bench_f1chexbert.py.
# Idempotent; run from the repo root.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${OFFICIAL_CHEXBERT_VENV:-$ROOT/.venv-official-chexbert}"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import f1chexbert" 2>/dev/null; then
  echo "official f1chexbert venv ready: $VENV"; exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q "transformers<5" "scikit-learn<1.6" "huggingface_hub<1.0" "numpy<2.3" pandas appdirs
"$VENV/bin/pip" install -q --no-deps f1chexbert==0.0.2
"$VENV/bin/python" -c "import f1chexbert, transformers, sklearn; print('official f1chexbert venv ready:', transformers.__version__, sklearn.__version__)"
