"""In the lab (root; CI): refused.why gives the same document as `refused why --json`, run
side by side inside one namespace, for causes that need one."""

import json

import pytest

from support import cli_why, same_as_cli


@pytest.mark.parametrize(
    ("target", "cause"),
    [
        ("127.0.0.1:47811", "no-listener"),
        ("192.0.2.1:80", "network-unreachable"),
        ("no-such-host.invalid:80", "dns-not-found"),
    ],
)
def test_why_in_the_lab_is_the_clis_json(lab, cli, target, cause):
    def ours():
        done = lab.python(f"import refused; print(refused.why({target!r}, timeout=2).to_json())")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = ours()
    assert first["cause"] == cause, first["summary"]
    assert same_as_cli(ours, lambda: cli_why(cli, target, prefix=("ip", "netns", "exec", lab.name)), cli)
