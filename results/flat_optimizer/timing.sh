#!/bin/bash
# Side by side, alternating: jaxgen before the change (a checkout of $BEFORE) and this one.
# Run from the repository root: bash results/flat_optimizer/timing.sh > results/flat_optimizer/runs.jsonl
BEFORE=${BEFORE:-/tmp/wt_before}
for spec in "ddpm quick 100" "dcgan digits 100" "ddpm quick 100" "ddpm cpu 150"; do
  for tree in "$BEFORE" "$PWD"; do
    .venv/bin/python results/flat_optimizer/timing.py $spec --tree "$tree" 2>/dev/null | tail -1
  done
done
# The test suite's setting: XLA's backend optimization off (tests/conftest.py).
for tree in "$BEFORE" "$PWD" "$BEFORE" "$PWD"; do
  XLA_FLAGS=--xla_backend_optimization_level=0 \
    .venv/bin/python results/flat_optimizer/timing.py ddpm quick 100 --tree "$tree" 2>/dev/null | tail -1 | sed 's/}$/, "xla_backend_optimization_level": 0}/'
done
