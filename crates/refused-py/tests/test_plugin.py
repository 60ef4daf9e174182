"""The pytest plugin, run by pytest's own pytester."""

import pytest

from support import full_queue, refused_port

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


def test_the_diagnosis_is_explains_through_the_dead_proxy_in_the_clients_scheme(pytester, listener):
    # The target answers; the proxy the request went through refuses: that is the failure.
    with refused_port(47973) as proxy_port:
        pytester.makepyfile(
            f"""
import requests

def test_through_a_proxy():
    requests.get("http://{listener.target}/health", proxies={{"http": "http://127.0.0.1:{proxy_port}"}}, timeout=2)
"""
        )
        result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*refused: why the connection failed*",
            f"no-listener  http://{listener.target}/health",
            f"*127.0.0.1:{proxy_port}*",
        ]
    )


def test_https_to_a_plain_port_is_not_ready_in_the_report(pytester, listener):
    pytester.makepyfile(
        f"""
import requests

def test_https():
    requests.get("https://{listener.target}/", timeout=2)
"""
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*refused: why the connection failed*", f"not-ready  https://{listener.target}/"])


def test_failures_against_one_target_share_a_diagnosis_for_a_while(pytester):
    # Five tests against a port that never answers: one diagnosis (up to --refused-timeout),
    # then the same one for the four after it.
    with full_queue(47979) as port:
        pytester.makepyfile(
            f"""
import pytest, socket

@pytest.mark.parametrize("n", range(5))
def test_cache(n):
    socket.create_connection(("127.0.0.1", {port}), timeout=0.2)
"""
        )
        result = pytester.runpytest_subprocess("--refused-timeout", "1")
    result.assert_outcomes(failed=5)
    out = result.stdout.str()
    assert out.count(f"listen-queue-full  127.0.0.1:{port}") == 5, out
    assert out.count("for an earlier failure against it") == 4, out


def test_a_diagnosis_is_made_again_once_it_is_old(monkeypatch, listener):
    from refused import _explain, pytest_plugin

    with refused_port(47977) as port:
        exc = ConnectionRefusedError(111, "Connection refused")
        exc.address = ("127.0.0.1", port)
        _explain.forget()
        first = pytest_plugin._diagnose(exc, 1.0)
        assert "earlier failure" not in first and first.startswith(f"no-listener  127.0.0.1:{port}")
        assert "earlier failure" in pytest_plugin._diagnose(exc, 1.0)
        monkeypatch.setattr(pytest_plugin, "CACHE_SECONDS", 0.0)
        assert "earlier failure" not in pytest_plugin._diagnose(exc, 1.0)
