"""`python -m export.explore`: an alias of `python -m clients.explore`, kept for one release.

The program is `clients/explore.py` (the explorer's page). This module runs it as the main program
(its flags, its --help, its exit status) and prints nothing of its own.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("clients.explore", run_name="__main__", alter_sys=True)
