"""pg_server.py - a throwaway PostgreSQL server for tests and benches.

Runs Debian's PostgreSQL binaries (package `postgresql`): initdb in a temp
dir (C locale, so text sorts as in SQLite), as the `postgres` user when run
as root, listening on a free loopback port with its unix socket in the same
dir; stopped (fast) at exit. Also a command line for CTest fixtures:
    pg_server.py start DIR   -> starts, writes DIR/uri (postgresql://...)
    pg_server.py stop DIR
Helpers map a hub's SQLite path to the database the hub uses in PostgreSQL
test mode (SHOAL_TEST_HUB_PG, see hub/store_pg.c) and run SQL through psql.
"""
import glob, os, pwd, shutil, socket, subprocess, sys, tempfile, time, atexit

def _bindir():
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not cands:
        raise RuntimeError("PostgreSQL not installed: apt-get install postgresql (scripts/deps.sh)")
    return os.path.dirname(cands[-1])

def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

def _as_postgres(argv):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv

class PgServer:
    """A running PostgreSQL; .uri is the superuser URI without a database."""
    def __init__(self, dir=None, port=None):
        self.own_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="shoal-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = port or _free_port()
        self.bin = _bindir()
        self.user = "postgres"
        self.uri = "postgresql://%s@127.0.0.1:%d" % (self.user, self.port)

    def _chown(self, path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self._chown(self.dir)
        subprocess.run(_as_postgres([os.path.join(self.bin, "initdb"), "-D", self.data, "-U",
                                     self.user, "--auth=trust", "--no-locale", "-E", "UTF8",
                                     "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                    "max_connections = 300\nfsync = on\nshared_buffers = 64MB\n"
                    "tcp_keepalives_idle = 2\ntcp_keepalives_interval = 1\n"
                    "tcp_keepalives_count = 3\n" % (self.port, self.dir))
        return self

    def start(self, timeout=30):
        log = os.path.join(self.dir, "pg.log")
        if not os.path.exists(log):
            open(log, "w").close()
        self._chown(log)
        subprocess.run(_as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", log,
                                     "-w", "-t", str(timeout), "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        return self

    def stop(self, mode="fast"):
        subprocess.run(_as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode,
                                     "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def restart(self):
        self.stop("fast")
        self.start()

    def cleanup(self):
        self.stop("immediate")
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def create_db(self, name):
        psql(self.uri + "/postgres", 'CREATE DATABASE "%s" TEMPLATE template0' % name)
        return "%s/%s" % (self.uri, name)

def start_temp():
    """Starts a server for this process; stopped and removed at exit."""
    s = PgServer().init().start()
    atexit.register(s.cleanup)
    return s

def psql(uri, sql):
    """Runs sql; returns rows as lists of strings ('' for NULL)."""
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                          "-d", uri, "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\x1f") for line in out.splitlines() if line != ""]

def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h

def test_db_name(sqlite_path):
    """The database a hub uses for sqlite_path under SHOAL_TEST_HUB_PG."""
    return "t_%016x" % fnv1a64(os.path.abspath(sqlite_path).encode())

def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "start":
        if os.path.exists(os.path.join(d, "data", "postmaster.pid")):
            PgServer(d).stop("immediate")
        shutil.rmtree(d, ignore_errors=True)
        s = PgServer(d).init().start()
        with open(os.path.join(d, "uri"), "w") as f:
            f.write(s.uri)
        print(s.uri)
    elif cmd == "stop":
        # The suite's server is thrown away (the next start removes it): no
        # shutdown checkpoint (with a database per test it syncs tens of
        # thousands of files, ~80 s).
        PgServer(d).stop("immediate")
    else:
        sys.exit("usage: pg_server.py start|stop DIR")

if __name__ == "__main__":
    main()
