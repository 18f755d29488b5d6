"""The code in docs/client.md that needs no emulator process runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def test_engine_link_example_runs() -> None:
    section = DOC.read_text(encoding="utf-8").split("## Testing without hardware", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    exec(compile(code, str(DOC), "exec"), {})
