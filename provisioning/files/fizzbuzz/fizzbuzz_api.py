#!/usr/bin/env python3
"""FizzBuzz as a Service -- chaos-lab, chapter 2.

One instance of the API that nginx balances on port 8003 (units faas001_a on 8001, faas001_b on 8002).

    fizzbuzz_api.py PORT [--directory DIR]
        (or FIZZBUZZ_PORT=PORT; FIZZBUZZ_HOST picks the address, default 127.0.0.1)

--directory makes DIR the working directory, like the book's `python3 -m http.server 8001 --directory
~/src/examples/killer-whiles/static`: the units pass the chapter folder, so the instances' command lines carry the
book's path and `ps auxf | grep killer-whiles | grep python` finds them, as the book's scripts expect.

    GET /api/v1/              -> 200 {"service": "fizzbuzz", "version": "0.0.7", "instance": "8001"}
    GET /api/v1/fizzbuzz/15   -> 200 {"n": 15, "result": "FizzBuzz", "instance": "8001"}
    bad number                -> 400 {"error": "..."};  unknown path -> 404;  other methods -> 405

Python 3 standard library only. SIGTERM ends it with exit status 143 (128 + 15), which systemd logs as
"status=143" before restarting it.
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

VERSION = "0.0.7"
MAX_N = 10**12
API_PREFIX = "/api/v1"


def fizzbuzz(n):
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)


class Handler(BaseHTTPRequestHandler):
    server_version = "fizzbuzz/" + VERSION
    # Each answer (status line, headers and body) leaves in one write, when the handler is done (the standard
    # library writes the headers and the body apart). A kill can stop an answer before it starts, which nginx
    # hides by asking the other instance (proxy_next_upstream error), but never cut one after its headers: nginx
    # has passed those on to the user already, so a cut answer is a failed request no load balancer can hide
    # (seen under the killer-while experiment with the start-limit fix in place).
    wbufsize = 64 * 1024

    def version_string(self):
        return self.server_version

    def _send(self, status, body, head_only=False):
        payload = (json.dumps(body) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 405:
            self.send_header("Allow", "GET, HEAD")
        self.end_headers()
        if not head_only:
            self.wfile.write(payload)

    def _route(self):
        path = urlsplit(self.path).path
        instance = self.server.instance
        if path in (API_PREFIX, API_PREFIX + "/"):
            return 200, {"service": "fizzbuzz", "version": VERSION, "instance": instance}
        prefix = API_PREFIX + "/fizzbuzz/"
        if path.startswith(prefix):
            raw = path[len(prefix):].rstrip("/")
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 13 or not 1 <= int(raw) <= MAX_N:
                return 400, {"error": "N must be a whole number from 1 to %d, not %r" % (MAX_N, raw[:40])}
            n = int(raw)
            return 200, {"n": n, "result": fizzbuzz(n), "instance": instance}
        return 404, {"error": "no such resource: %s (try %s/fizzbuzz/15)" % (path[:80], API_PREFIX)}

    def do_GET(self):
        self._send(*self._route())

    def do_HEAD(self):
        status, body = self._route()
        self._send(status, body, head_only=True)

    def _not_allowed(self):
        self._send(405, {"error": "method %s not allowed; use GET" % self.command})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def log_message(self, format, *args):  # noqa: A002 -- the base class's signature
        # Quiet: a load test would flood the journal with one line per request.
        pass


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    # socketserver's default listen backlog is 5: under load, when this instance takes over all the traffic of
    # a killed sibling, a full backlog drops connections and nginx would count this instance as failed too.
    request_queue_size = 128


USAGE = "usage: fizzbuzz_api.py PORT [--directory DIR] (or FIZZBUZZ_PORT=PORT)"


def parse_args(argv):
    """Returns (port, directory or None); exits 2 with the usage on anything else."""
    args = list(argv[1:])
    directory = None
    if "--directory" in args:
        at = args.index("--directory")
        if at + 1 >= len(args):
            sys.stderr.write("--directory needs a folder\n%s\n" % USAGE)
            sys.exit(2)
        directory = args[at + 1]
        del args[at:at + 2]
    if len(args) > 1:
        sys.stderr.write("unexpected arguments %r\n%s\n" % (args[1:], USAGE))
        sys.exit(2)
    raw = args[0] if args else os.environ.get("FIZZBUZZ_PORT", "")
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        sys.stderr.write("%s; got port %r\n" % (USAGE, raw))
        sys.exit(2)
    return int(raw), directory


def main(argv):
    port, directory = parse_args(argv)
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as error:
            sys.stderr.write("cannot use --directory %s: %s\n" % (directory, error.strerror))
            return 2
    host = os.environ.get("FIZZBUZZ_HOST", "127.0.0.1")

    def on_sigterm(signum, frame):
        sys.stdout.flush()
        os._exit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)

    server = Server((host, port), Handler)
    server.instance = str(port)
    print("FizzBuzz API version %s is up and running." % VERSION, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
