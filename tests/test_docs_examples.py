"""The Python examples in docs/ run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


def test_the_torch_module_example_in_values_md_passes():
    pytest.importorskip("torch")
    [example] = python_blocks("values.md")
    namespace: dict = {}
    exec(compile(example, "docs/values.md", "exec"), namespace)
    assert namespace["result"].passed, namespace["result"].summary()
