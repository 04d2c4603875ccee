"""A WSGI application for tests/test_web_worker.py: answers with the serving worker's pid and
config.web_worker's shared table (pid: connections held) as that worker reads it."""

import json
import os

from config import web_worker


def app(environ, start_response):
    table = {str(pid): web_worker._connections[slot] for slot, pid in enumerate(web_worker._pids) if pid}
    body = json.dumps({"pid": os.getpid(), "table": table}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
