"""The pytest plugin, run by pytest's own pytester."""

import pytest

from support import refused_port

FAILING = """
import socket

def test_talks_to_the_cache():
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
"""


@pytest.fixture
def run_failing(pytester):
    def run(port, *args):
        pytester.makepyfile(FAILING.format(port=port))
        return pytester.runpytest_subprocess(*args)

    return run


def test_a_connection_failure_gets_the_diagnosis_in_the_report(run_failing):
    with refused_port(47793) as port:
        result = run_failing(port)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*refused: why the connection failed*",
            f"no-listener  127.0.0.1:{port}",
            f"  nothing listens on port {port}*",
            "fix",
        ]
    )


def test_off_with_p_no_refused(run_failing):
    with refused_port(47795) as port:
        result = run_failing(port, "-p", "no:refused")
    result.assert_outcomes(failed=1)
    assert "refused: why the connection failed" not in result.stdout.str()


def test_other_failures_get_nothing(pytester):
    pytester.makepyfile("def test_math():\n    assert 1 + 1 == 3\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    assert "refused: why the connection failed" not in result.stdout.str()
