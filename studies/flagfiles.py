"""A flagfile of configs/ read as {flag: value}, for the studies that build runs from flagfiles.

No absl flags are defined here, so every study can import it (studies.independence and
studies.semi_supervised define flags of the same names and cannot import each other).
"""

from __future__ import annotations

import os
import shlex
from typing import Dict

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def read_flagfile(name: str) -> Dict[str, str]:
    """--key=value lines of configs/<name> as {key: value} (--flag: "true", --noflag: "false")."""
    values = {}
    with open(os.path.join(CONFIGS, name)) as f:
        for line in f:
            for token in shlex.split(line, comments=True):
                key, _, value = token.lstrip("-").partition("=")
                if not value:
                    key, value = (key[2:], "false") if key.startswith("no") and key[2:] else (key, "true")
                values[key] = value
    return values
