#!/usr/bin/env bash
# Creates the comparison environments outside the tracked tree (both are in .gitignore here):
#   bench/gateway/.venv-litellm  LiteLLM's proxy, pinned: the `litellm` target of run.py
#   bench/gateway/.venv-tools    py-spy: run.py --profile
# Usage: bash bench/gateway/setup_litellm.sh [PYTHON]     (default: python3.11, else python3)
# Environment: LITELLM_VERSION (default 1.108.7); LITELLM_EXTRA_PKGS, more packages for the
# LiteLLM venv (e.g. "httptools" to give uvicorn its C parser; not installed by default, as
# `pip install 'litellm[proxy]'` does not bring it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${1:-$(command -v python3.11 || command -v python3)}"
LITELLM_VERSION="${LITELLM_VERSION:-1.108.7}"

quiet_pip() {  # pip, without the warnings about local index mirrors that lack a package
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  printf '%s\n' "$out" | grep -v -e "is ignored: it is neither a file nor a directory" -e '^$' >&2 || true
  return "$rc"
}

if [ ! -x "$here/.venv-litellm/bin/litellm" ]; then
  "$py" -m venv "$here/.venv-litellm"
  quiet_pip "$here/.venv-litellm/bin/pip" install -q --upgrade pip
  quiet_pip "$here/.venv-litellm/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
fi
if [ -n "${LITELLM_EXTRA_PKGS:-}" ]; then
  # shellcheck disable=SC2086
  quiet_pip "$here/.venv-litellm/bin/pip" install -q $LITELLM_EXTRA_PKGS
fi
"$here/.venv-litellm/bin/python" -c \
  'import importlib.metadata as m; print("litellm", m.version("litellm"), "in", __import__("sys").prefix)'

if [ ! -x "$here/.venv-tools/bin/py-spy" ]; then
  "$py" -m venv "$here/.venv-tools"
  quiet_pip "$here/.venv-tools/bin/pip" install -q py-spy
fi
"$here/.venv-tools/bin/py-spy" --version
