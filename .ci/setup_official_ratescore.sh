#!/usr/bin/env bash
# Creates .venv-official-ratescore: the official `ratescore` 0.6.0 package (import name RaTEScore) with what it
# imports (torch, transformers, medspacy for sentence splitting, pandas), for tests/metrics/test_ratescore_parity.py
# and benchmarks/bench_ratescore.py. The wheel declares no dependencies, so they are installed here by name.
# Idempotent; run from the repo root.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${OFFICIAL_RATESCORE_VENV:-$ROOT/.venv-official-ratescore}"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import RaTEScore" 2>/dev/null; then
  echo "official ratescore venv ready: $VENV"; exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q transformers sentencepiece protobuf pandas "medspacy==1.3.1" "numpy<2" "pandas<2.3"
"$VENV/bin/pip" install -q --no-deps ratescore==0.6.0
"$VENV/bin/python" -c "import RaTEScore, transformers, medspacy, spacy; print('official ratescore venv ready:', transformers.__version__, medspacy.__version__, spacy.__version__)"
