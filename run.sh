#!/usr/bin/env bash
# One entry point for a fresh machine: installs into .venv on first use (or when
# pyproject.toml changes), then runs the requested job.
#   bash run.sh replicate [snakemake args]   quick full replication -> results/, paper/
#   bash run.sh test [pytest args]           the test suite
#   bash run.sh bench [args]                 simulator benchmarks
#   bash run.sh validate [snakemake args]    simulator vs real engine (installs the engine extra)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${KVSCHED_VENV:-.venv}

EXTRAS=dev
install() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.kvsched-installed" want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1) $EXTRAS"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-replicate}; shift || true
# the tests also run the real-engine backend on CPU (tiny model), so they need the engine extra
if [ "$cmd" = validate ] || [ "$cmd" = test ]; then EXTRAS=dev,engine; fi
install
export PATH="$PWD/$VENV/bin:$PATH"
case "$cmd" in
  replicate)
    kvsched data verify >/dev/null 2>&1 || kvsched data fetch   # fetch says what it finds
    snakemake --cores "${CORES:-all}" "$@"
    ;;
  test)
    python -m pytest -q -n "${TEST_WORKERS:-2}" -m "not slow" "$@"
    ;;
  bench)
    kvsched bench "$@"
    ;;
  validate)
    snakemake --cores "${CORES:-all}" validate "$@"
    ;;
  *)
    echo "usage: bash run.sh {replicate|test|bench|validate} [args]" >&2; exit 2 ;;
esac
