"""Run code with every kernel as plain Python (EVOSANDBOX_NO_JIT=1) in a subprocess."""

import os
import pickle
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_plain_python(code, tmp_path):
    """Execute ``code`` (which sets ``result``) with jit disabled; return the unpickled result."""
    out = os.path.join(str(tmp_path), "reference.pkl")
    script = "import warnings, pickle, numpy as np\nwarnings.simplefilter('ignore')\nnp.seterr(all='ignore')\n"
    script += textwrap.dedent(code)
    script += f"\nwith open({out!r}, 'wb') as handle:\n    pickle.dump(result, handle)\n"
    env = dict(os.environ, EVOSANDBOX_NO_JIT="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out, "rb") as handle:
        return pickle.load(handle)
