"""The shipped artifact runs: the arm64 `bootstrap` files that `sam build` wrote to .aws-sam/build,
each under qemu-aarch64 (with arm64 glibc from libc6-arm64-cross), behind cargo-lambda's Runtime
API emulator, against the moto Secrets Manager named by AWS_ENDPOINT_URL_SECRETS_MANAGER. A signed
connect → fetch → update → fetch round trip, then list and disconnect, and a call-provider call for
a tenant with no key (404), so all six packages answer.
Correctness only: nothing here is timed (the CPU is emulated).

    python tests/arm64_round_trip.py        (scripts/check-arm64 runs it)
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
FUNCTIONS = {
    "connect-integration": "ConnectIntegrationFunction",
    "fetch-key": "FetchKeyFunction",
    "update-key": "UpdateKeyFunction",
    "disconnect-integration": "DisconnectIntegrationFunction",
    "list-integrations": "ListIntegrationsFunction",
    "call-provider": "CallProviderFunction",
}
QEMU = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"]

sys.path.insert(0, str(ROOT / "scripts"))
from localnet import free_port, wait_for_port  # noqa: E402


class RoundTrip:
    def __init__(self):
        self.endpoint = os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"]
        self.key = secrets.token_bytes(32)
        self.secret_id = f"arm64/webhook-signing-secret-{secrets.token_hex(4)}"
        self.logs = Path(tempfile.mkdtemp(prefix="tenant-keys-arm64-"))
        self.processes = []

    def start(self, command, log_name, env=None):
        log = open(self.logs / log_name, "w")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.processes.append(process)
        return process

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    def setup(self):
        import boto3

        boto3.client("secretsmanager", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test").create_secret(
            Name=self.secret_id, SecretString="whsec_" + base64.b64encode(self.key).decode())
        self.port = free_port()
        self.start(["cargo", "lambda", "watch", "--only-lambda-apis", "--ignore-changes",
                    "-A", "127.0.0.1", "-P", str(self.port)], "emulator.log")
        wait_for_port(self.port)
        for function, resource in FUNCTIONS.items():
            bootstrap = BUILD / resource / "bootstrap"
            if not bootstrap.is_file():
                sys.exit(f"{bootstrap} is missing: run sam build (scripts/check-template) first")
            env = {
                "PATH": os.environ["PATH"],
                "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt/{function}",
                "AWS_LAMBDA_FUNCTION_NAME": function,
                "AWS_LAMBDA_FUNCTION_VERSION": "1",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint,
                "WEBHOOK_SECRET_ID": self.secret_id,
            }
            self.start(QEMU + [str(bootstrap)], f"{function}.log", env)

    def call(self, function, body):
        text = json.dumps(body)
        webhook_id = "msg_" + secrets.token_hex(12)
        timestamp = str(int(time.time()))
        mac = hmac.new(self.key, f"{webhook_id}.{timestamp}.{text}".encode(), hashlib.sha256).digest()
        headers = {"content-type": "application/json", "webhook-id": webhook_id,
                   "webhook-timestamp": timestamp, "webhook-signature": "v1," + base64.b64encode(mac).decode()}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        connection.request("POST", f"/lambda-url/{function}/", body=text, headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read() or b"null")
        connection.close()
        return response.status, answer

    def expect(self, function, body, status):
        got, answer = self.call(function, body)
        if got != status:
            self.fail(f"{function} answered {got}, not {status}: {answer}")
        print(f"    {function}: {got}")
        return answer

    def fail(self, message):
        for log in sorted(self.logs.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-2000:]}", file=sys.stderr)
        sys.exit(f"arm64 round trip failed: {message}")

    def run(self):
        tenant = f"org_arm64_{secrets.token_hex(4)}"
        first = {"publicApiKey": "pk-arm64-000000000001", "privateApiKey": "sk-arm64-000000000001"}
        vapi = {"tenantId": tenant, "provider": "vapi"}
        self.expect("connect-integration", {**vapi, "credentials": first}, 201)
        fetched = self.expect("fetch-key", vapi, 200)
        if fetched["credentials"] != first:
            self.fail("fetch-key did not return what connect stored")
        updated = self.expect("update-key", {**vapi, "credentials": {"privateApiKey": "sk-arm64-000000000002"}}, 200)
        if not updated["changed"]:
            self.fail("update-key wrote nothing")
        fetched = self.expect("fetch-key", vapi, 200)
        if fetched["credentials"]["privateApiKey"] != "sk-arm64-000000000002" or fetched["versionId"] != updated["versionId"]:
            self.fail("fetch-key after update-key did not return the new version")
        listed = self.expect("list-integrations", {"tenantId": tenant}, 200)
        if [(i["provider"], i["status"]) for i in listed["integrations"]] != [("vapi", "connected")]:
            self.fail(f"list-integrations: {listed}")
        self.expect("disconnect-integration", vapi, 200)
        self.expect("fetch-key", vapi, 404)
        unknown = {"tenantId": f"{tenant}_none", "provider": "vapi", "method": "GET", "path": "/assistant"}
        self.expect("call-provider", unknown, 404)


def main():
    trip = RoundTrip()
    try:
        trip.setup()
        trip.run()
    finally:
        trip.stop()
    print("    the arm64 bootstraps answered the round trip under qemu-aarch64")


if __name__ == "__main__":
    main()
