#!/usr/bin/env bash
# Creates benchmarks/replay/.venv-peers: Syne Tune 0.13.0 and DEHB 0.1.2 for the replay benchmark's peers
# (benchmarks/replay/external.py). They need numpy < 2, which itero does not support, so they get their own
# environment, git-ignored, outside itero's extras and outside CI. No torch: Syne Tune's gpsearchers and kde extras
# (autograd, scipy, statsmodels) cover ASHA, BOHB, MOBSTER, Hyper-Tune and DyHPO.
#
#   bash benchmarks/replay/setup_peers.sh            # PYTHON=python3.11 bash ... to choose the interpreter
#
# numpy 1.26 has wheels for Python 3.9 to 3.12 only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-peers"
python="${PYTHON:-python3}"
"$python" - <<'PY'
import sys
if not (3, 9) <= sys.version_info[:2] <= (3, 12):
    sys.exit(f"setup_peers.sh: Python {sys.version.split()[0]} is not supported by numpy 1.26 (needs 3.9 to 3.12); "
             "set PYTHON=python3.12 (or 3.11, 3.10)")
PY
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$here/peers-requirements.txt"
cd "$here/../.."
"$venv/bin/python" - <<'PY'
import importlib.util
import sys

sys.path.insert(0, ".")
import numpy
import dehb  # noqa: F401
import syne_tune
from syne_tune.optimizer.baselines import ASHA, BOHB, MOBSTER, DyHPO, HyperTune  # noqa: F401
from itero.tasks._tables import load_table  # noqa: F401  the replay tables' loader must import here
from benchmarks.replay.simulate import Replay  # noqa: F401

assert numpy.__version__.startswith("1."), numpy.__version__
assert importlib.util.find_spec("torch") is None, "torch was pulled into the peers' environment"
print(f"peers' environment ready: {sys.prefix} (syne-tune {syne_tune.__version__}, numpy {numpy.__version__})")
PY
