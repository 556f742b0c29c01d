"""A real PostgreSQL (Debian's ``postgresql`` package) for the tests: a throwaway cluster in a temporary
folder on a free loopback port, stopped afterwards. Run as the ``postgres`` user when the tests run as root
(initdb refuses root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.web_support import free_port


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _run(args: list[str], owner: str | None) -> None:
    command = (["runuser", "-u", owner, "--"] if owner else []) + args
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@contextmanager
def postgres() -> Iterator[str]:
    """A running cluster in a fresh folder of its own (the postgres user must reach it: pytest's temporary
    folders are private to root); yields the URL of an empty database ``chidao`` in it."""
    import tempfile

    import psycopg

    bin_dir = binaries()
    assert bin_dir is not None, "PostgreSQL is not installed (apt-get install postgresql)"
    owner = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="chidao-pg-"))
    data, sockets = folder / "pgdata", folder / "pgsock"
    data.mkdir(parents=True)
    sockets.mkdir()
    if owner:
        shutil.chown(folder, owner)
        for path in (data, sockets):
            shutil.chown(path, owner)
    port = free_port()
    _run([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "chidao", "-E", "UTF8", "--locale=C"], owner)
    _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"), "-o",
          f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", "start"],
         owner)
    try:
        with psycopg.connect(f"postgresql://chidao@127.0.0.1:{port}/postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE chidao")
        yield f"postgresql://chidao@127.0.0.1:{port}/chidao"
    finally:
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], owner)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(url: str) -> str:
    """A fresh empty database in the cluster of ``url`` (one a test)."""
    import uuid

    import psycopg

    name = "t" + uuid.uuid4().hex[:12]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + "/" + name
