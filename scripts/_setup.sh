# Shared set-up for scripts/demo and scripts/test-all (sourced, not run).
# Installs tmux with apt-get when it is missing, makes .venv and installs the
# project into it.  Idempotent: a second run only checks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_install() {
  # apt_install PACKAGE...: install Debian packages that are missing.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> apt-get install ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

apt_install_no_start() {
  # apt_install_no_start PACKAGE...: apt_install, but a daemon the packages ship is not started now
  # (openssh-server: the tests run their own sshd in network namespaces, never the system's).
  local policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod 755 "$policy" && made=1
  fi
  local status=0
  apt_install "$@" || status=$?
  if [ -n "$made" ]; then as_root rm -f "$policy"; fi
  return "$status"
}

ensure_tmux() {
  command -v tmux >/dev/null || apt_install tmux
}

ensure_venv() {
  # ensure_venv EXTRAS: .venv with the project installed (editable) and EXTRAS.
  local extras="${1:-}"
  local py="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$py" -m venv .venv || { apt_install python3-venv && "$py" -m venv .venv; }
  fi
  echo "==> pip install -e .${extras:+[$extras]}"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
}
