"""Progress bars for long runs: shown on a terminal, silent when piped.

A thin layer over tqdm, so every long loop in the package (oracle engines,
``compare``, ``study``) shows the same bar with an ETA and none of them
hand-rolls one.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Iterator, TypeVar

T = TypeVar("T")


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class SilentBar:
    """What a bar nobody sees needs to be: a context manager that takes updates and ignores them.

    It stands in for tqdm when no bar is shown, so a run that shows none never imports tqdm
    (whose import costs more than a small check: the first check in a process would pay it).
    """

    def __enter__(self) -> "SilentBar":
        return self

    def __exit__(self, *exception: Any) -> None:
        return None

    def update(self, count: int = 1) -> None:
        return None

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        return None

    def close(self) -> None:
        return None


def progress_bar(total: int | None = None, description: str = "", show: bool | None = None, **options: Any) -> Any:
    """A tqdm bar on stderr; ``show=None`` means: only when stderr is a terminal (tqdm loads only then)."""
    if not (stderr_is_terminal() if show is None else show):
        return SilentBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, file=sys.stderr, leave=False, dynamic_ncols=True, **options)


def with_progress(items: Iterable[T], total: int | None = None, description: str = "", show: bool | None = None) -> Iterator[T]:
    """Iterate ``items`` with a bar (see :func:`progress_bar`)."""
    with progress_bar(total=total, description=description, show=show) as bar:
        for item in items:
            yield item
            bar.update(1)
