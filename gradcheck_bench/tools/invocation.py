"""The command a tool is running under, for its provenance record.

``gradcheck-bench`` sets it when it dispatches a subcommand, so a results
folder records ``gradcheck-bench compare --cases seed`` even when the command
ran inside another program (a test, a notebook) whose ``sys.argv`` says
something else.
"""

from __future__ import annotations

import shlex
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator, Sequence

_COMMAND: ContextVar[str | None] = ContextVar("gradcheck_bench_command", default=None)


@contextmanager
def running(program: str, argv: Sequence[str]) -> Iterator[None]:
    """Within the block, the command line is ``program argv...``."""
    token = _COMMAND.set(" ".join([program, *(shlex.quote(a) for a in argv)]))
    try:
        yield
    finally:
        _COMMAND.reset(token)


def command_line() -> str:
    """The command running now: the one ``gradcheck-bench`` set, or this process's own arguments."""
    command = _COMMAND.get()
    if command is not None:
        return command
    if not sys.argv or not sys.argv[0]:
        return ""
    program = Path(sys.argv[0]).name
    program = "python -m gradcheck_bench" if program == "__main__.py" else program
    return " ".join([program, *(shlex.quote(a) for a in sys.argv[1:])])
