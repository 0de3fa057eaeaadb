"""Paths as a user types them: `~` and `$VARS` expanded, here and nowhere else.

A shell expands `~` only at the start of a word, so `--manual_dir=~/celeba` reaches a program with
its `~` intact, and a flagfile's `--tfd_path=$DATA/TFD_48x48.mat` is never seen by a shell at all.
Every path flag of every program (trainers, export, clients, benchmarks, studies) is therefore a
`DEFINE_path` flag, whose parser `expand`s the value (the default too) when the flags are parsed:
FLAGS.<name> is the path the program opens, and the one its messages and run_config.json name.
tests/test_paths.py fails when a program defines a path flag any other way.

This module imports absl's flag definitions and no TensorFlow; it defines no flag itself and reads
no flag value (`DEFINE_path` registers on the FlagValues it is given, absl's global one by default,
as absl's own DEFINE_* do).
"""

from __future__ import annotations

import os
import re
from typing import Optional

from absl import flags

# $NAME and ${NAME}, as os.path.expandvars reads them on POSIX.
_VARIABLE = re.compile(r"\$(?:(\w+)|\{([^}]*)\})")


def expand(path: Optional[str]) -> Optional[str]:
    """`path` with its `$NAME` / `${NAME}` variables and a leading `~` (or `~user`) expanded.

    None and "" come back unchanged. A variable that is not set is refused rather than kept as
    `$NAME` text, which would only surface later as a folder that does not exist.

    Raises:
      ValueError: `path` names an environment variable that is not set.
    """
    if not path:
        return path
    unset = [a or b for a, b in _VARIABLE.findall(path) if (a or b) not in os.environ]
    if unset:
        raise ValueError(f"{path} names the environment variable ${unset[0]}, which is not set: set it "
                         f"(export {unset[0]}=...) or write the path out.")
    return os.path.expanduser(os.path.expandvars(path))


class PathParser(flags.ArgumentParser):
    """absl's parser of a path flag: the value as typed, `expand`ed."""

    syntactic_help = "a path; ~ and $VARS are expanded"

    def parse(self, argument):
        return expand(argument)

    def flag_type(self) -> str:
        return "path"


def DEFINE_path(name: str, default: Optional[str], help: str,  # noqa: N802,A002 - absl's DEFINE_* spelling
                flag_values: Optional[flags.FlagValues] = None, **args) -> flags.FlagHolder:
    """A string flag holding a path, expanded when parsed (`expand`); absl's DEFINE_string otherwise.

    flag_values: where to register it (default absl's global FlagValues, as absl's DEFINE_* do).
    """
    return flags.DEFINE(PathParser(), name, default, help, flags.FLAGS if flag_values is None else flag_values,
                        flags.ArgumentSerializer(), **args)


# The flags DEFINE_path defines belong to its caller (its --help, its key flags), not to this module.
flags.disclaim_key_flags()
