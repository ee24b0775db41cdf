# Sourced by scripts/dev and scripts/test: makes sure `uv` and the Python dependencies are here.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_uv() {
  if command -v uv >/dev/null 2>&1; then UV=(uv); return 0; fi
  if python3 -m uv --version >/dev/null 2>&1; then UV=(python3 -m uv); return 0; fi
  return 1
}

if ! find_uv; then
  echo "==> installing uv (Python package manager)"
  python3 -m pip install --quiet --user uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null \
    || python3 -m pip install --quiet uv
  find_uv || { echo "could not install uv; install it (pip install uv) and retry" >&2; exit 1; }
fi

echo "==> Python dependencies (uv sync)"
"${UV[@]}" sync --quiet --frozen
