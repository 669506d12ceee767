"""A fault-injecting HTTP proxy between the functions and moto, for the end-to-end fault tests.

    python fault_proxy.py <listen-port> <upstream-url>

Every request is forwarded to the upstream Secrets Manager unless a fault rule matches its action
(the X-Amz-Target header, e.g. "PutSecretValue"). Rules are set with `PUT /__faults` and a JSON
list of {"action": "<name or *>", "fault": "throttle" | "error500" | "timeout" | "lost_response" |
"limit_exceeded",
"times": <n or -1 for always>}; `GET /__calls` returns the actions forwarded so far, by name, and
`GET /__injected` the faults injected since the last such read, by kind.
- throttle: answers 400 ThrottlingException without forwarding;
- error500: answers 500 InternalServiceError without forwarding;
- timeout: waits 10 s, then closes without an answer (longer than the SDK's attempt timeout);
- lost_response: forwards (the write lands) but answers 500, as if the answer was lost;
- limit_exceeded: answers 400 LimitExceededException without forwarding, as AWS does once a
  secret has about 100 versions younger than 24 h (moto has no such quota).

Without any rule, it still answers as AWS does where moto 5.2.5 is kinder (checked against moto;
AWS's Secrets Manager API reference lists InvalidRequestException for each):
GetSecretValue, PutSecretValue, UpdateSecret and UpdateSecretVersionStage of a secret scheduled for
deletion are refused with InvalidRequestException (moto writes, and answers a read of a missing
stage with ResourceNotFoundException first), and so is CreateSecret of a name scheduled for
deletion (moto: ResourceExistsException). Every call naming a secret holds one lock per secret
while it is checked and forwarded, as AWS applies each call to a secret atomically: moto's
handlers are not (a DescribeSecret running beside an UpdateSecretVersionStage in moto's threads
was seen to miss AWSPREVIOUS), and a DeleteSecret or RestoreSecret cannot land between the check
and the call. A call that waits for its secret's lock longer than the SDK's per-attempt timeout
(2 s) is dropped unforwarded (counted as "not_applied_late"): the caller has given up on that
attempt, and applying it seconds later would be a delay of this proxy's making, not AWS's.
"""

import http.client
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

UPSTREAM = urlparse(sys.argv[2])
LOCK = threading.Lock()
RULES = []
CALLS = {}
INJECTED = {}
SECRET_LOCKS = {}
# The calls AWS refuses on a secret scheduled for deletion.
REFUSED_WHEN_SCHEDULED = {"GetSecretValue", "PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "CreateSecret"}
QUEUE_LIMIT_S = 1.9
REFUSAL = "You can't perform this operation on the secret because it was marked for deletion."


def secret_lock(secret_id):
    with LOCK:
        return SECRET_LOCKS.setdefault(secret_id, threading.Lock())


def upstream_call(action, body, headers):
    """Forwards one call to moto; returns (status, headers, body)."""
    upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
    upstream.request("POST", "/", body=body, headers=headers)
    response = upstream.getresponse()
    return response.status, response.getheaders(), response.read()


def scheduled_for_deletion(secret_id, headers):
    """Whether moto shows the secret scheduled for deletion (DescribeSecret's DeletedDate). moto
    tells the service from the caller's Authorization header, which is passed on."""
    headers = {k: v for k, v in headers.items() if k.lower() not in ("x-amz-target", "content-length")}
    headers["x-amz-target"] = "secretsmanager.DescribeSecret"
    status, _, data = upstream_call("DescribeSecret", json.dumps({"SecretId": secret_id}), headers)
    return status == 200 and bool(json.loads(data).get("DeletedDate"))


def take_fault(action):
    with LOCK:
        for rule in RULES:
            if rule["action"] in (action, "*") and rule["times"] != 0:
                if rule["times"] > 0:
                    rule["times"] -= 1
                INJECTED[rule["fault"]] = INJECTED.get(rule["fault"], 0) + 1
                return rule["fault"]
    return None


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/x-amz-json-1.1"):
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/__calls":
            with LOCK:
                self.reply(200, json.dumps(CALLS), "application/json")
        elif self.path == "/__injected":
            with LOCK:
                self.reply(200, json.dumps(INJECTED), "application/json")
                INJECTED.clear()
        else:
            self.reply(404, "{}")

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/__faults":
            with LOCK:
                RULES[:] = json.loads(body)
            self.reply(200, "{}", "application/json")
        else:
            self.reply(404, "{}")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        action = self.headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        fault = take_fault(action)
        if fault == "throttle":
            return self.reply(400, json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}))
        if fault == "limit_exceeded":
            message = "You have exceeded the maximum number of versions for this secret"
            return self.reply(400, json.dumps({"__type": "LimitExceededException", "message": message}))
        if fault == "error500":
            return self.reply(500, json.dumps({"__type": "InternalServiceError", "message": "injected"}))
        if fault == "timeout":
            time.sleep(10)
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        request = json.loads(body or b"{}")
        secret_id = request.get("SecretId") or request.get("Name")
        if secret_id is None:
            status, response_headers, data = upstream_call(action, body, headers)
        else:
            lock = secret_lock(secret_id)
            if not lock.acquire(timeout=QUEUE_LIMIT_S):
                # The caller's attempt has timed out by now: do not apply it later (see above).
                with LOCK:
                    INJECTED["not_applied_late"] = INJECTED.get("not_applied_late", 0) + 1
                self.close_connection = True
                return
            try:
                if action in REFUSED_WHEN_SCHEDULED and scheduled_for_deletion(secret_id, headers):
                    return self.reply(400, json.dumps({"__type": "InvalidRequestException", "message": REFUSAL}))
                status, response_headers, data = upstream_call(action, body, headers)
            finally:
                lock.release()
        with LOCK:
            CALLS[action] = CALLS.get(action, 0) + 1
        if fault == "lost_response":
            return self.reply(500, json.dumps({"__type": "InternalServiceError", "message": "answer lost"}))
        self.send_response(status)
        for key, value in response_headers:
            if key.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Proxy).serve_forever()
