#!/usr/bin/env bash
# Creates (or brings up to date) the two virtual environments:
#   .venv              the asag project (CPU torch from constraints/cpu.txt unless a GPU is seen)
#   .venv-labelstudio  the Label Studio server, apart, since it pins many packages
#   .venv-labelstudio-oldest  the oldest supported Label Studio release, only with
#                      ASAG_SETUP_OLDEST_LABEL_STUDIO=1 (scripts/test.sh)
# Idempotent: a stamp of the install inputs makes a second run a no-op (about a second).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

constraint=(-c constraints/cpu.txt)
if [ "${ASAG_TORCH:-}" = "cuda" ] || { [ -z "${ASAG_TORCH:-}" ] && command -v nvidia-smi >/dev/null 2>&1; }; then
  constraint=()   # let pip choose the CUDA build of torch
fi

# Headless Chromium and its driver from the OS packages, for the teacher's-screen test
# (tests/test_teacher_screen.py; Selenium is pointed at them and downloads nothing).
if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium and chromium-driver (apt-get)" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      chromium chromium-driver >&2 \
      || { echo "setup: apt-get could not install chromium chromium-driver" >&2; exit 1; }
  else
    echo "setup: /usr/bin/chromium or /usr/bin/chromedriver is missing; install the packages" \
      "chromium and chromium-driver (as root: apt-get install -y chromium chromium-driver)," \
      "or the browser test is skipped" >&2
  fi
fi

# PostgreSQL's server binaries (initdb, pg_ctl) for the Label Studio tests on PostgreSQL
# (tests/pg_cluster.py runs a throw-away cluster; no server is started or enabled here).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing postgresql (apt-get)" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      postgresql >&2 \
      || { echo "setup: apt-get could not install postgresql" >&2; exit 1; }
  else
    echo "setup: PostgreSQL's initdb is missing; install the package postgresql (as root:" \
      "apt-get install -y postgresql), or the Label Studio tests on PostgreSQL are skipped" >&2
  fi
fi

want=$(stamp_of setup.cfg pyproject.toml constraints/cpu.txt)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.asag-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: installing asag into .venv (first run takes a few minutes)" >&2
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q "${constraint[@]}" -e '.[dev,serve,onnx]' 2>&1 | grep -v '^WARNING: Location' >&2 || true
  .venv/bin/python -c "import asag, torch, transformers, datasets, label_studio_sdk, fastapi, uvicorn, onnxruntime, onnxscript" \
    || { echo "setup: the .venv install failed; see the pip output above" >&2; exit 1; }
  echo "$want" > .venv/.asag-stamp
fi

# A Label Studio server in its own venv from a constraints file: labelstudio_venv DIR FILE.
labelstudio_venv() {
  local dir=$1 pins=$2 want
  want=$(stamp_of "$pins")
  if [ ! -x "$dir/bin/label-studio" ] || [ "$(cat "$dir/.asag-stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the Label Studio server ($(cat "$pins")) into $dir" >&2
    [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install -q -r "$pins" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    [ -x "$dir/bin/label-studio" ] \
      || { echo "setup: the Label Studio install failed; see the pip output above" >&2; exit 1; }
    echo "$want" > "$dir/.asag-stamp"
  fi
}

# the newest supported release: the embedded server
labelstudio_venv .venv-labelstudio constraints/labelstudio.txt
# the oldest supported release, for the tests only (scripts/test.sh asks for it)
if [ "${ASAG_SETUP_OLDEST_LABEL_STUDIO:-}" = 1 ]; then
  labelstudio_venv .venv-labelstudio-oldest constraints/labelstudio-oldest.txt
fi
