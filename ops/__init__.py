"""Operator tools for a deployed session-reply stack (never deployed themselves).

- ``python -m ops.bootstrap_secrets``: create the token and webhook-secret SSM parameters.
- ``python -m ops.connect_1msg``: register the stack's webhook with the 1MSG channel.
- ``python -m ops.managers``: the manager roster in the state table.

Each reads what it needs from ``samconfig.toml`` (``--env``) and the stack's Outputs, and
never prints a secret.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The tools use the application package the way Lambda does: from the layer's folder. Tests
# and mypy get it from pyproject.toml; `python -m ops.<tool>` from a checkout gets it here.
_LAYER = str(Path(__file__).resolve().parents[1] / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
