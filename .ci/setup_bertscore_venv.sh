#!/usr/bin/env bash
# A second venv with the official bert-score 0.3.13 on transformers 4.x, used only by the BERTScore parity tests
# and benchmarks/bench_bertscore.py (bert-score 0.3.13 breaks on transformers 5: the tokenizer lost
# build_inputs_with_special_tokens). rrg-eval itself runs on current transformers.
# Usage: .ci/setup_bertscore_venv.sh [VENV_DIR]   (default: .venv-bertscore at the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-bertscore}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import bert_score, transformers" 2>/dev/null; then
    echo "$VENV ready"; exit 0
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q "transformers==4.57.6" "bert-score==0.3.13"
"$VENV/bin/python" -c "import importlib.metadata as m; print('bert-score', m.version('bert-score'), 'transformers', m.version('transformers'))"  # bert_score.__version__ says 0.3.12 in 0.3.13
