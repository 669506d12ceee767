"""tenant-keys benchmark: cold start, peak RSS, warm latency, CPU per request and Secrets Manager
calls, for the five Rust functions and the Node.js baseline, on this machine, in one run.

Run it with `make bench` (or `./scripts/bench`). Everything goes through the cargo-lambda Runtime API
emulator, with moto's Secrets Manager on loopback. Absolute times depend on the machine; compare
the ratios. Prints a Markdown report.
"""

import argparse
import base64
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import hmac
import hashlib
import http.client
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
FUNCTIONS = ["connect-integration", "fetch-key", "update-key", "disconnect-integration", "list-integrations"]
TENANT = "org_bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on 127.0.0.1:{port}")


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="tenant-keys-bench-"))
        self.processes = []
        self.key = secrets.token_bytes(32)
        self.signing_secret = "whsec_" + base64.b64encode(self.key).decode()

    # -- infrastructure -------------------------------------------------------------------
    def start(self, command, log_name, env=None):
        log = open(self.work / log_name, "w")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self.processes.append(process)
        return process

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    def setup(self):
        self.moto_port = free_port()
        self.moto = self.start(
            [str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(self.moto_port)], "moto.log"
        )
        wait_for_port(self.moto_port)
        self.endpoint = f"http://127.0.0.1:{self.moto_port}"
        import boto3

        self.sm = boto3.client(
            "secretsmanager", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )
        self.sm.create_secret(Name="bench/webhook-signing-secret", SecretString=self.signing_secret)
        self.sm.create_secret(
            Name=f"tenant/{TENANT}/vapi",
            SecretString=json.dumps({"publicApiKey": "pk-bench-000000000001", "privateApiKey": "sk-bench-000000000001"}),
        )

    def function_env(self, name, extra, port):
        env = {
            "PATH": os.environ["PATH"],
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt/{name}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint,
            "WEBHOOK_SECRET_ID": "bench/webhook-signing-secret",
        }
        env.update(extra or {})
        return env

    def moto_calls(self):
        text = (self.work / "moto.log").read_text()
        return len(re.findall(r'"POST / HTTP/1\.1" \d{3}', text))

    # -- requests -------------------------------------------------------------------------
    def body_for(self, function, i):
        if function == "connect-integration":
            return {"tenantId": f"org_bench_c{i}_{secrets.token_hex(4)}", "provider": "vapi",
                    "credentials": {"publicApiKey": "pk-bench-000000000002", "privateApiKey": "sk-bench-000000000002"}}
        if function == "update-key":
            return {"tenantId": TENANT, "provider": "vapi", "credentials": {"publicApiKey": f"pk-bench-{i:012d}"}}
        if function == "disconnect-integration":
            # A tenant of its own each time, connected just before (directly in moto).
            tenant = f"org_bench_d{i}_{secrets.token_hex(4)}"
            self.sm.create_secret(Name=f"tenant/{tenant}/vapi", SecretString=json.dumps(
                {"publicApiKey": "pk-bench-000000000003", "privateApiKey": "sk-bench-000000000003"}))
            return {"tenantId": tenant, "provider": "vapi"}
        if function == "list-integrations":
            return {"tenantId": TENANT}
        # The widget's read: the public view, served from fetch-key's cache.
        return {"tenantId": TENANT, "provider": "vapi", "view": "public"}

    def signed_headers(self, body):
        webhook_id = "msg_" + secrets.token_hex(12)
        timestamp = str(int(time.time()))
        mac = hmac.new(self.key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
        return {"content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": timestamp,
                "webhook-signature": "v1," + base64.b64encode(mac).decode()}

    def post(self, connection, function, payload):
        body = json.dumps(payload)
        connection.request("POST", f"/lambda-url/{function}/", body=body, headers=self.signed_headers(body))
        response = connection.getresponse()
        data = response.read()
        if response.status >= 300:
            sys.exit(f"{function} answered {response.status}: {data[:200]!r}")
        return response.status

    # -- measurements ---------------------------------------------------------------------
    def start_emulator(self):
        """A Runtime API emulator of its own on a free port."""
        port = free_port()
        process = subprocess.Popen(
            ["cargo", "lambda", "watch", "--only-lambda-apis", "--ignore-changes", "-A", "127.0.0.1", "-P", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        )
        self.processes.append(process)
        wait_for_port(port)
        return port, process

    def cold_starts(self, name, command, function, runs, env_extra=None):
        """Process start -> first complete response, and the process's peak RSS, over `runs`
        fresh processes behind one emulator. A first, discarded run warms the emulator itself
        (it reads the workspace's metadata on its first invocation), so only the function's own
        start-up is measured."""
        durations, peaks = [], []
        for i in range(runs + 1):
            connection = http.client.HTTPConnection("127.0.0.1", self.emulator_port, timeout=30)
            env = self.function_env(function, env_extra, self.emulator_port)
            started = time.perf_counter()
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.post(connection, function, self.body_for(function, i))
            elapsed = (time.perf_counter() - started) * 1000
            peak = peak_rss_kib(process.pid)
            process.kill()
            process.wait()
            connection.close()
            if i > 0:
                durations.append(elapsed)
                peaks.append(peak)
        return {
            "cold_p50": statistics.median(durations), "cold_p90": percentile(durations, 90),
            "rss_mib": max(peaks) / 1024, "runs": runs, "name": name,
        }

    def warm(self, command, function, requests, env_extra=None, log_name=None):
        """Sequential requests to one instance after WARM_UP requests: client latency, handler time
        (from its log), CPU per request; and Secrets Manager calls per 1,000 fetches, warm-up
        included, counted at the endpoint (moto's request log)."""
        log = open(self.work / (log_name or f"warm-{function}.log"), "w")
        port, emulator = self.start_emulator()
        process = subprocess.Popen(command, env=self.function_env(function, env_extra, port), stdout=log, stderr=log)
        self.processes.append(process)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        time.sleep(1)  # let init (which reads the signing secret) finish before counting
        calls_before = self.moto_calls()
        for i in range(WARM_UP):  # connections, caches, first-use costs
            self.post(connection, function, self.body_for(function, i))
        cpu_before = cpu_ticks(process.pid)
        latencies = []
        for i in range(requests):
            started = time.perf_counter()
            self.post(connection, function, self.body_for(function, i))
            latencies.append((time.perf_counter() - started) * 1000)
        cpu = (cpu_ticks(process.pid) - cpu_before) / CLOCK_TICKS * 1000 / requests
        # Calls made serving the fetches (warm-up included), per 1,000 fetches.
        calls = (self.moto_calls() - calls_before) * requests / (requests + WARM_UP)
        process.kill()
        process.wait()
        emulator.kill()
        emulator.wait()
        log.close()
        handler = [float(m) for m in re.findall(r'"latency_ms":([0-9.]+)', (self.work / (log_name or f"warm-{function}.log")).read_text())][-requests:]
        return {
            "p50": statistics.median(latencies), "p99": percentile(latencies, 99), "cpu_ms": cpu,
            "calls_per_1000": calls * 1000 / requests,
            "handler_p50": statistics.median(handler) if handler else None,
            "handler_p99": percentile(handler, 99) if handler else None,
        }


def peak_rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def zip_sizes():
    packages = [arg for f in FUNCTIONS for arg in ("-p", f)]
    subprocess.run(["cargo", "lambda", "build", "--release", "--arm64", "--output-format", "zip", "--quiet", *packages],
                   cwd=ROOT, check=True)
    return {f: (TARGET / "lambda" / f / "bootstrap.zip").stat().st_size for f in FUNCTIONS}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold-starts", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--bins", "--quiet"], cwd=ROOT, check=True)
    node_dir = ROOT / "bench/node-baseline"
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=node_dir, check=True)
    subprocess.run(["npm", "run", "--silent", "build"], cwd=node_dir, check=True, stdout=subprocess.DEVNULL)
    sizes = zip_sizes()

    bench = Bench(args)
    try:
        bench.setup()
        bench.emulator_port, _ = bench.start_emulator()
        release = TARGET / "release"
        node = ["node", str(node_dir / "dist/index.mjs")]
        cold = {f: bench.cold_starts(f, [str(release / f)], f, args.cold_starts) for f in FUNCTIONS}
        cold["node"] = bench.cold_starts("node", node, "fetch-key", args.cold_starts)
        fetch = [str(release / "fetch-key")]
        warm_cached = bench.warm(fetch, "fetch-key", args.requests, log_name="warm-cached.log")
        warm_uncached = bench.warm(fetch, "fetch-key", args.requests, {"FETCH_CACHE_TTL_SECONDS": "0"}, "warm-uncached.log")
        warm_node = bench.warm(node, "fetch-key", args.requests, log_name="warm-node.log")
    finally:
        bench.stop_all()

    report(args, cold, sizes, warm_cached, warm_uncached, warm_node)


def report(args, cold, sizes, cached, uncached, node):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    print(f"Machine: {cpu}, {os.cpu_count()} cores; {args.cold_starts} cold starts and {args.requests} warm requests per row.\n")
    print("| function | cold start p50 (ms) | cold start p90 (ms) | peak RSS (MiB) | arm64 zip (MB) | cold p50 vs Node | RSS vs Node |")
    print("|---|---|---|---|---|---|---|")
    n = cold["node"]
    for f in FUNCTIONS:
        c = cold[f]
        print(f"| {f} | {c['cold_p50']:.1f} | {c['cold_p90']:.1f} | {c['rss_mib']:.1f} | {sizes[f] / 1e6:.2f} | "
              f"{n['cold_p50'] / c['cold_p50']:.1f}x faster | {n['rss_mib'] / c['rss_mib']:.1f}x smaller |")
    print(f"| Node.js 20 baseline (fetch) | {n['cold_p50']:.1f} | {n['cold_p90']:.1f} | {n['rss_mib']:.1f} | - | 1x | 1x |")
    print()
    print("| fetch-key, warm | client p50 (ms) | client p99 (ms) | handler p50 (ms) | handler p99 (ms) | CPU per request (ms) | Secrets Manager calls per 1,000 fetches |")
    print("|---|---|---|---|---|---|---|")
    for name, w in [("Rust, cached", cached), ("Rust, uncached (TTL 0)", uncached), ("Node.js baseline", node)]:
        handler = f"{w['handler_p50']:.3f} | {w['handler_p99']:.3f}" if w["handler_p50"] is not None else "- | -"
        print(f"| {name} | {w['p50']:.2f} | {w['p99']:.2f} | {handler} | {w['cpu_ms']:.3f} | {w['calls_per_1000']:.1f} |")


if __name__ == "__main__":
    main()
