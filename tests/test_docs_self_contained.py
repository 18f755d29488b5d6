"""The documentation stands on its own: no page points outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = [*sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "examples").rglob("*.py"))]
OUTSIDE = re.compile(r"\.\./shared|[Ss]pec §|eswifi-at\.md")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", PAGES + SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_outside_the_repository(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert not OUTSIDE.search(line), f"{path.name}:{number}: {line.strip()}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_of_the_repository(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"


def test_the_cli_reference_covers_every_subcommand() -> None:
    from eswifi.cli.main import build_parser

    (action,) = [a for a in build_parser()._actions if a.dest == "command"]
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in action.choices:
        assert f"## `eswifi {command}`" in page, command


def test_the_readme_lists_every_doc_page_and_starts_with_make_demo_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```", 2)[1].strip().splitlines()
    assert [line.split()[:2] for line in first_block] == [["make", "demo"], ["make", "test"]]
    listed = readme.split("## Documentation", 1)[1]
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"`docs/{page.name}`" in listed, f"README's Documentation list lacks {page.name}"
