# Shared helpers for scripts/test, scripts/demo and scripts/bench.
VENV="${DNSMILL_VENV:-$PWD/.venv}"
PYTHON="${PYTHON:-python3}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# Debian packages the tests and benchmarks use; installed when running as root and missing.
ensure_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
      step "apt-get install ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "warning: missing Debian packages (${missing[*]}); tests that need them will skip" >&2
    fi
  fi
}

ensure_venv() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    step "create $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
}

# Installs the runtime dependencies and the named extras listed in pyproject.toml (the one
# list of them), without building dnsmill itself.
install_python_requirements() {
  local requirements="$VENV/requirements.txt"
  if ! "$VENV/bin/python" -c 'import tomllib' 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check tomli
  fi
  "$VENV/bin/python" - "$@" >"$requirements" <<'PY'
import sys
try:
    import tomllib
except ModuleNotFoundError:  # CPython 3.10: the same parser, from PyPI
    import tomli as tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = list(project["dependencies"])
for extra in sys.argv[1:]:
    wanted += project["optional-dependencies"][extra]
print("\n".join(wanted))
PY
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
}
