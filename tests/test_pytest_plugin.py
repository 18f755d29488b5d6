"""The pytest plugin as a user meets it: installed, documented, and honest on failure.

Each case runs pytest in a subprocess on a directory with no conftest.py, so the fixtures
come from the installed ``pytest11`` entry point alone.
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path

import pytest

DOC = Path(__file__).parent.parent / "docs" / "testing.md"
RUN_TIMEOUT = 120.0

pytestmark = pytest.mark.subprocess


def doc_tests() -> list[str]:
    """Every Python block of docs/testing.md that defines a test."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return [block for block in blocks if "def test_" in block]


def test_the_plugin_is_an_installed_entry_point() -> None:
    plugins = {entry.name: entry.value for entry in entry_points(group="pytest11")}
    assert plugins.get("eswifi") == "eswifi.testing.plugin"


def test_each_fixture_has_a_first_test_under_ten_lines() -> None:
    tests = doc_tests()
    for fixture in ("eswifi_harness", "eswifi_emulator", "eswifi_module"):
        first = next(block for block in tests if f"({fixture})" in block)
        assert len([line for line in first.splitlines() if line.strip()]) < 10, first


def test_the_documented_tests_pass(pytester: pytest.Pytester) -> None:
    tests = doc_tests()
    assert len(tests) >= 5
    for number, source in enumerate(tests):
        pytester.makepyfile(**{f"test_doc_{number}": source})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=RUN_TIMEOUT)
    outcomes = result.parseoutcomes()
    # The indirectly parametrised test runs once per build.
    assert outcomes.get("passed") == len(tests) + 1, result.stdout.str()
    assert "failed" not in outcomes and "errors" not in outcomes, result.stdout.str()


def test_a_failing_test_keeps_its_trace_and_a_passing_one_does_not(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_trace="""
        import serial

        def talk(emulator, path):
            path.write_text(str(emulator.trace))
            with serial.serial_for_url(emulator.url, timeout=5) as port:
                port.write(b"I?\\r")
                assert port.read_until(b"> ").endswith(b"> ")

        def test_passes(eswifi_emulator, tmp_path_factory):
            talk(eswifi_emulator, tmp_path_factory.getbasetemp() / "passed.txt")

        def test_fails(eswifi_emulator, tmp_path_factory):
            talk(eswifi_emulator, tmp_path_factory.getbasetemp() / "failed.txt")
            assert eswifi_emulator.control("status").startswith("nonsense")
        """
    )
    base = pytester.path / "base"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--basetemp={base}", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(passed=1, failed=1)
    passed_trace = Path((base / "passed.txt").read_text())
    failed_trace = Path((base / "failed.txt").read_text())
    assert not passed_trace.exists()
    assert "I?" in failed_trace.read_text()
    output = result.stdout.str()
    assert "eswifi emulator (call)" in output
    assert f"trace kept: {failed_trace}" in output
    assert "trace kept" not in output.split("test_fails")[0]


def test_a_marker_and_an_indirect_parameter_choose_the_build(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_builds="""
        import pytest

        @pytest.mark.eswifi(link="spi")
        def test_marker(eswifi_emulator, eswifi_harness):
            assert eswifi_emulator.link == "spi"
            assert eswifi_emulator.control("status").startswith("ok joined=-")
            assert eswifi_harness.attach() == b"\\x15\\x15\\r\\n> "

        @pytest.mark.parametrize("eswifi_emulator", ["spi"], indirect=True)
        def test_indirect(eswifi_module):
            assert eswifi_module.channel.spi
            assert eswifi_module.info().firmware == "C3.5.2.5.STM"

        def test_default(eswifi_harness):
            assert eswifi_harness.attach() == b""

        @pytest.mark.eswifi(link="i2c")
        def test_unknown(eswifi_harness):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*link must be 'uart' or 'spi', not 'i2c'*"])
