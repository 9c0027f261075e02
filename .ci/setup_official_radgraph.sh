#!/usr/bin/env bash
# Creates .venv-official-radgraph: the official `radgraph` 0.1.18 package with the versions it needs
# (its vendored AllenNLP calls tokenizer.encode_plus, removed in transformers 5), for the parity test
# tests/metrics/test_radgraph_parity.py and benchmarks/bench_radgraph.py. Idempotent; run from the repo root.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${OFFICIAL_RADGRAPH_VENV:-$ROOT/.venv-official-radgraph}"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import radgraph" 2>/dev/null; then
  echo "official radgraph venv ready: $VENV"; exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q "transformers==4.57.6" "tokenizers<0.23" "huggingface_hub<1.0" numpy \
  appdirs jsonpickle filelock h5py nltk dotmap
"$VENV/bin/pip" install -q --no-deps radgraph==0.1.18
"$VENV/bin/python" -c "import radgraph, transformers; print('official radgraph venv ready:', transformers.__version__)"
