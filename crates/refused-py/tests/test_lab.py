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


def test_psycopg_in_the_lab_resolves_in_python_and_connects_to_hostaddr(lab):
    """psycopg 3 resolves the name itself and fails before libpq has a connection: the name
    comes from its frame (`dns-not-found`); with `hostaddr` the connection goes there, not to
    the name (which the lab does not know)."""
    code = (
        "import socket, psycopg, refused\n"
        "try:\n"
        "    psycopg.connect(host='nx.lab', port=5432, connect_timeout=2)\n"
        "except psycopg.OperationalError as exc:\n"
        "    d = refused.explain(exc, timeout=2)\n"
        "    print(d.target, d.cause)\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 47999))\n"
        "try:\n"
        "    psycopg.connect('host=nx.lab hostaddr=127.0.0.1 port=47999', connect_timeout=2)\n"
        "except psycopg.OperationalError as exc:\n"
        "    d = refused.explain(exc, timeout=2)\n"
        "    print(d.target, d.cause)\n"
    )
    done = lab.python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "postgres://nx.lab:5432 dns-not-found",
        "postgres://127.0.0.1:47999 no-listener",
    ], done.stdout
