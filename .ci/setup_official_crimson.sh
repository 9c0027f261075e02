#!/usr/bin/env bash
# Creates .venv-official-crimson: the official `crimson-score` 0.2.0 (the newest on the package index) without its
# dependencies (its prompt builder, JSON parser and score need only the standard library; its model back-ends,
# which need transformers/vLLM/openai, are never used), for tests/judge/test_crimson_parity.py. Idempotent; run from
# the repo root.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${OFFICIAL_CRIMSON_VENV:-$ROOT/.venv-official-crimson}"
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import CRIMSON.generate_score" 2>/dev/null; then
  echo "official crimson-score venv ready: $VENV"; exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --no-deps crimson-score==0.2.0
"$VENV/bin/python" -c "import CRIMSON.generate_score; print('official crimson-score venv ready')"
