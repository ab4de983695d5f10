# shellcheck shell=bash
# Helpers shared by the scripts in scripts/. Sourced, not executed.
#
# Environment:
#   PYTHON     interpreter to use (must be Python >= 3.14.2); default: python3.14, python3, uv
#   KEBA_VENV  virtual environment directory; default: <repo>/.venv

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KEBA_VENV:-$REPO_ROOT/.venv}"
REQUIREMENTS="$REPO_ROOT/requirements_test.txt"
STAMP_FILE="$VENV/.requirements-stamp"
MIN_PY="3.14.2"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# True if "$1" is a Python interpreter >= MIN_PY.
_py_ok() {
  [ -n "$1" ] || return 1
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)' >/dev/null 2>&1
}

# Print the path of a suitable interpreter: $PYTHON, python3.14, python3, then one provisioned
# by uv. Fails with a message naming what is missing.
find_python() {
  local candidate
  if [ -n "${PYTHON:-}" ]; then
    _py_ok "$PYTHON" || die "PYTHON=$PYTHON is not a Python >= $MIN_PY"
    command -v "$PYTHON"
    return
  fi
  for candidate in python3.14 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && _py_ok "$(command -v "$candidate")"; then
      command -v "$candidate"
      return
    fi
  done
  if command -v uv >/dev/null 2>&1; then
    candidate="$(uv python find ">=$MIN_PY" 2>/dev/null || true)"
    if ! _py_ok "$candidate"; then
      printf 'Provisioning Python 3.14 with uv...\n' >&2
      uv python install 3.14 >&2 || true
      candidate="$(uv python find ">=$MIN_PY" 2>/dev/null || true)"
    fi
    if _py_ok "$candidate"; then
      printf '%s\n' "$candidate"
      return
    fi
    die "uv could not provide Python >= $MIN_PY."
  fi
  cat >&2 <<EOF
error: no Python >= $MIN_PY found (Home Assistant 2026.10 needs it).
  Looked for: \$PYTHON, python3.14 and python3 on PATH, and uv (to provision one); none fit.
  Either install python3.14 or uv, or set PYTHON=/path/to/python3.14,
  or run this command as root: it then builds a Debian sid root with Python 3.14 once
  (scripts/py314root) and runs inside it. See README.md, section "Development".
EOF
  exit 1
}

# Without a Python >= MIN_PY here, run the calling script again inside the Debian sid root of
# scripts/py314root (as root; built on first use, its venv is /opt/keba-venv) and exit with its
# exit code. Returns at once when a suitable Python exists (uv may provision one).
#   reexec_in_py314root 'COMMAND PREFIX' "$@"    e.g.  reexec_in_py314root scripts/test "$@"
# The prefix is put before the quoted arguments inside the root; it may start with variable
# assignments, e.g. 'KEBA_NEWEST_VENV=/opt/keba-venv-newest scripts/smoke_newest'.
reexec_in_py314root() {
  local inner="$1" arg
  shift
  # (in a subshell: find_python exits when it finds nothing)
  if (find_python >/dev/null 2>&1); then
    return 0
  fi
  [ -z "${KEBA_IN_PY314ROOT:-}" ] || die "no Python >= $MIN_PY inside the Debian sid root either"
  # Not root: find_python explains what is missing, and exits.
  [ "$(id -u)" = 0 ] || find_python >/dev/null
  say "No Python >= $MIN_PY here: running inside the Debian sid root (scripts/py314root)"
  inner="KEBA_IN_PY314ROOT=1 $inner"
  for arg in "$@"; do inner+=" $(printf '%q' "$arg")"; done
  exec "$REPO_ROOT/scripts/py314root" run "$inner"
}

# A fingerprint of the requirements and the interpreter; a venv is reused only if it matches.
_stamp_for() {
  local py="$1"
  {
    sha256sum "$REQUIREMENTS" | cut -d' ' -f1
    "$py" -c 'import sys, os; print(sys.version); print(os.path.realpath(sys.executable))'
  } | sha256sum | cut -d' ' -f1
}

# Create (or reuse) the venv with requirements_test.txt installed. Sets VENV_PY.
ensure_venv() {
  local py stamp
  py="$(find_python)"
  stamp="$(_stamp_for "$py")"
  VENV_PY="$VENV/bin/python"
  if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$stamp" ] && _py_ok "$VENV_PY"; then
    printf 'Reusing %s (requirements unchanged).\n' "$VENV"
    return
  fi
  if [ -e "$VENV" ]; then
    [ -f "$VENV/pyvenv.cfg" ] || die "$VENV exists but is not a virtual environment; not touching it"
    # (a venv's python is a symlink to the real one: compare the path as found, unresolved)
    case "$py" in
      "$VENV"/*)
        die "the Python found ($py) lives inside $VENV, which needs rebuilding: set PYTHON to a Python outside it" ;;
    esac
    printf 'Recreating %s (requirements or interpreter changed).\n' "$VENV"
    rm -rf "$VENV"
  fi
  printf 'Creating %s with %s (%s).\n' "$VENV" "$py" "$("$py" -c 'import platform; print(platform.python_version())')"
  "$py" -m venv "$VENV" || die "could not create a venv with $py (on Debian: apt-get install python3.14-venv)"
  local start=$SECONDS
  "$VENV_PY" -m pip install --disable-pip-version-check --progress-bar off -q -r "$REQUIREMENTS"
  printf '%s\n' "$stamp" >"$STAMP_FILE"
  printf 'Installed requirements_test.txt in %ss.\n' "$((SECONDS - start))"
}

# Directories that exist among the given ones (relative to the repo root).
existing_dirs() {
  local d
  for d in "$@"; do
    [ -d "$REPO_ROOT/$d" ] && printf '%s\n' "$d"
  done
  return 0
}
