"""A throwaway PostgreSQL server for tests (no pytest dependency).

Usage::

    with PgServer() as pg:
        pg.create_database("keel_test_x")
        url = pg.url("keel_test_x")

The server lives in a temp dir under /tmp, listens on 127.0.0.1 on a free port and on a
Unix socket in that dir, trusts every local connection (``initdb -A trust``) and runs with
``fsync=off``. As root, ``initdb`` / ``pg_ctl`` run as the ``postgres`` user via
``runuser -u postgres --`` (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

MISSING_BINARIES = (
    "PostgreSQL server binaries not found: run `apt-get install -y postgresql` "
    "or set KEEL_TEST_DATABASE_URL"
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PgServerError(RuntimeError):
    """PostgreSQL could not be found, initialised or started."""


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(p) for p in re.findall(r"\d+", version)) or (0,)


def find_pg_bin() -> Path | None:
    """Return the directory holding ``initdb`` and ``pg_ctl``, or None.

    Search order: ``$KEEL_PG_BIN``, the newest ``/usr/lib/postgresql/*/bin``, then PATH.
    """
    env = os.environ.get("KEEL_PG_BIN")
    if env:
        d = Path(env)
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
        return None
    candidates = [
        c
        for c in glob.glob("/usr/lib/postgresql/*/bin")
        if os.path.isfile(os.path.join(c, "initdb")) and os.path.isfile(os.path.join(c, "pg_ctl"))
    ]
    if candidates:
        return Path(max(candidates, key=_version_key))
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl", path=str(Path(initdb).parent)):
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a safe database name: {name!r}")
    return name


class PgServer:
    """A private PostgreSQL cluster in a temp dir; start() / stop() or a context manager."""

    def __init__(
        self,
        bin_dir: str | os.PathLike[str] | None = None,
        *,
        user: str = "postgres",
        start_timeout: float = 60.0,
    ) -> None:
        found = Path(bin_dir) if bin_dir is not None else find_pg_bin()
        if found is None or not (found / "initdb").is_file() or not (found / "pg_ctl").is_file():
            raise PgServerError(MISSING_BINARIES)
        self.bin_dir: Path = found
        self.user = user  # database superuser created by initdb
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self.datadir: Path | None = None
        self.logfile: Path | None = None
        self._as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    def _cmd(self, *args: str) -> list[str]:
        if self._as_root:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PgServerError("running as root but `runuser` is not available")
            return [runuser, "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float) -> None:
        proc = subprocess.run(
            self._cmd(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            cwd=str(self.tmpdir),
            check=False,
        )
        if proc.returncode != 0:
            log = ""
            if self.logfile is not None and self.logfile.exists():
                log = self.logfile.read_text(errors="replace")[-4000:]
            raise PgServerError(
                f"{Path(args[0]).name} failed (exit {proc.returncode}):\n{proc.stdout}\n{log}"
            )

    def start(self) -> PgServer:
        """Initialise a cluster and start it on a free port; idempotent while running."""
        if self._running:
            return self
        self.tmpdir = Path(tempfile.mkdtemp(prefix="keel-pg-", dir="/tmp"))
        self.datadir = self.tmpdir / "data"
        self.logfile = self.tmpdir / "postgres.log"
        try:
            if self._as_root:
                shutil.chown(self.tmpdir, user="postgres", group="postgres")
            os.chmod(self.tmpdir, 0o700)
            self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                self.user,
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
                timeout=120,
            )
            last_error: PgServerError | None = None
            for _ in range(3):  # a free port can be grabbed between probe and bind
                self.port = _free_port()
                try:
                    self._pg_ctl_start()
                except PgServerError as exc:
                    last_error = exc
                    continue
                self._running = True
                break
            if not self._running:
                assert last_error is not None
                raise last_error
        except BaseException:
            self._cleanup()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its temp dir."""
        try:
            if self._running and self.datadir is not None:
                try:
                    self._pg_ctl_stop("fast")
                except (PgServerError, subprocess.TimeoutExpired):
                    self._pg_ctl_stop("immediate")
        finally:
            self._running = False
            self._cleanup()

    def halt(self, mode: str = "fast") -> None:
        """Stop the server but keep its data (an outage); `resume_serving()` restarts it."""
        if not self._running or self.datadir is None:
            raise PgServerError("server is not running")
        self._pg_ctl_stop(mode)
        self._running = False

    def resume_serving(self) -> None:
        """Start a halted server again, on the same port with the same data."""
        if self._running or self.datadir is None or self.port is None:
            raise PgServerError("server was not halted")
        self._pg_ctl_start()
        self._running = True

    def _pg_ctl_start(self) -> None:
        """`pg_ctl start` on `self.port` with the throwaway settings (no fsync), waiting."""
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.tmpdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-w",
            "-t",
            str(int(self.start_timeout)),
            "-o",
            opts,
            "start",
            timeout=self.start_timeout + 30,
        )

    def _pg_ctl_stop(self, mode: str) -> None:
        """`pg_ctl stop` in shutdown `mode` (smart / fast / immediate), waiting."""
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-m",
            mode,
            "-w",
            "stop",
            timeout=60,
        )

    def _cleanup(self) -> None:
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
            self.datadir = None

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._running

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- databases -------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for ``dbname`` over TCP on 127.0.0.1."""
        if not self._running or self.port is None:
            raise PgServerError("PgServer is not running")
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        create_database(self.url(), name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Terminate connections to ``name`` and drop it (if it exists)."""
        drop_database(self.url(), name)


# --- helpers usable against any server (also KEEL_TEST_DATABASE_URL) ------------------------


def create_database(admin_url: str, name: str) -> None:
    """CREATE DATABASE ``name`` through ``admin_url`` (autocommit)."""
    import psycopg

    _check_ident(name)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    """Terminate sessions on ``name`` and DROP DATABASE IF EXISTS (autocommit)."""
    import psycopg

    _check_ident(name)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        for attempt in range(5):
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 4:
                    raise
                time.sleep(0.2)
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )


def database_url(base_url: str, dbname: str) -> str:
    """``base_url`` with its database name replaced by ``dbname`` (query string kept)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path="/" + dbname))


if __name__ == "__main__":  # manual smoke test: python tests/_pg.py
    t0 = time.perf_counter()
    with PgServer() as pg:
        print(f"started in {time.perf_counter() - t0:.2f}s at {pg.url()}")
        print(pg.create_database("keel_smoke"))
        pg.drop_database("keel_smoke")
    print(f"total {time.perf_counter() - t0:.2f}s")
