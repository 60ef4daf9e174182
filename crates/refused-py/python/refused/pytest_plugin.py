"""The pytest plugin of ``refused``: a test that fails because a connection failed gets the
diagnosis (cause, evidence, fix) under its traceback. Registered through the ``pytest11``
entry point; turn it off with ``-p no:refused``.

The diagnosis is ``refused.explain``'s (the target in the scheme the client spoke, through the
proxy it went through). Tests that fail against the same target (and proxy) within
``CACHE_SECONDS`` share one diagnosis, so that a suite whose database is down does not wait out
a diagnosis per test."""

from __future__ import annotations

from typing import Any

import pytest

SECTION = "refused: why the connection failed"

#: How long a diagnosis stands for later failures against the same target and proxy.
CACHE_SECONDS = 10.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("refused", "diagnose connection failures (refused)")
    group.addoption(
        "--refused-timeout",
        type=float,
        default=2.0,
        help="seconds a diagnosis of a failed connection may take (default: 2)",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.excinfo is None:
        return
    text = _diagnose(call.excinfo.value, item.config.getoption("refused_timeout"))
    if text is None:
        return
    longrepr = report.longrepr
    if hasattr(longrepr, "addsection"):
        longrepr.addsection(SECTION, text)
    else:
        report.sections.append((SECTION, text))


def _diagnose(exc: BaseException, timeout: float) -> "str | None":
    from refused._explain import diagnosed, question

    try:
        asked = question(exc)
        if asked is None:
            return None
        diagnosis, age = diagnosed(asked, timeout=timeout, within=CACHE_SECONDS)
    except Exception as err:  # never turn a failing test into a crashing plugin
        return f"refused could not diagnose it: {err}"
    lines = [f"{diagnosis.cause}  {diagnosis.target}", f"  {diagnosis.summary}"]
    if age is not None:
        lines += [f"  (diagnosed {age:.1f} s ago, for an earlier failure against it)"]
    lines += [f"  warning: {w}" for w in diagnosis.warnings]
    evidence = [f"  {a.address} {a.outcome} in {a.elapsed * 1000:.1f} ms" for a in diagnosis.attempts]
    lines += ["evidence", *evidence] if evidence else []
    lines += ["fix", *(f"  {s}" for s in diagnosis.suggestions)] if diagnosis.suggestions else []
    unseen = [f"  {u['what']}: {u['how']}" for u in diagnosis.unseen]
    lines += ["not seen", *unseen] if unseen else []
    return "\n".join(lines)
