"""`python -m export.apply`: an alias of `python -m clients.apply`, kept for one release.

The program is `clients/apply.py` (a switch on your own photo). This module runs it as the main program
(its flags, its --help, its exit status) and prints nothing of its own.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("clients.apply", run_name="__main__", alter_sys=True)
