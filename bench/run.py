"""tenant-keys benchmark: cold start, peak RSS, warm latency, CPU per request and Secrets Manager
calls, for the six Rust functions and the Node.js baseline, on this machine, in one run — once
with Secrets Manager on plain HTTP and once behind TLS, as on AWS. call-provider's overhead is
measured against a direct call to the same mock provider on loopback.

Run it with `make bench` (or `./scripts/bench`). Everything goes through the cargo-lambda Runtime API
emulator, with moto's Secrets Manager on loopback. For the TLS run, a CA is made for the run and
nginx terminates TLS in front of moto with a certificate it signed, keeping connections alive as
AWS's endpoints do (moto's own TLS is Python's and closes every connection, so each call would pay
a ~11 ms handshake that AWS does not charge); the Rust functions (`SSL_CERT_FILE`: the system bundle
plus that CA, read as rustls-native-certs reads system roots) and Node.js (`NODE_EXTRA_CA_CERTS`)
trust it as they would a system CA. Absolute times depend on the machine;
compare the ratios. Prints a Markdown report and checks the floors of BENCHMARKS.md (exit 1 if one
is missed).
"""

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
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
FUNCTIONS = ["connect-integration", "fetch-key", "update-key", "disconnect-integration", "list-integrations",
             "call-provider"]
TENANT = "org_bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 20

sys.path.insert(0, str(ROOT / "scripts"))
from localnet import free_port, wait_for_port  # noqa: E402
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

# The floors (BENCHMARKS.md), checked on every run.
FLOOR_FETCH_VS_NODE = 8.0  # fetch-key's cold start, with TLS, at least this many times Node's
FLOOR_ANY_VS_NODE = 5.0  # every function's
FLOOR_RSS_MIB = 12.0
FLOOR_CACHED_HANDLER_P99_MS = 0.5
FLOOR_ZIP_BYTES = 3_000_000
FLOOR_CALL_OVERHEAD_P50_MS = 2.0  # call-provider's warm p50 over a direct call to the same provider

# Twelve providers an operator might add (no checks), merged over the built-in eight: the catalog
# of twenty list-integrations is measured with (one DescribeSecret per provider).
MANY_PROVIDERS_FILE = ROOT / "bench/providers-20.json"


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def make_tls(work):
    """A CA made for this run, a certificate it signs for 127.0.0.1 (RSA 2048, as AWS's endpoints
    use), and a trust bundle: the system's CAs plus this one."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=tenant-keys bench CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    (work / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    bundle = work / "trust-bundle.pem"
    bundle.write_text(SYSTEM_CA_BUNDLE.read_text() + (work / "ca.pem").read_text())
    return {"ca": work / "ca.pem", "cert": work / "server.pem", "key": work / "server.key", "bundle": bundle}


class Bench:
    def __init__(self, args, tls=None):
        self.args = args
        self.tls = tls
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
        command = [str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(self.moto_port)]
        self.moto = self.start(command, "moto.log")
        wait_for_port(self.moto_port)
        self.endpoint = f"http://127.0.0.1:{self.moto_port}"
        if self.tls:
            self.endpoint = f"https://127.0.0.1:{self.start_tls_front()}"
        import boto3

        self.sm = boto3.client(
            "secretsmanager", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            verify=str(self.tls["ca"]) if self.tls else None,
        )
        self.provider_url = self.start_mock_provider()
        self.sm.create_secret(Name="bench/webhook-signing-secret", SecretString=self.signing_secret)
        self.sm.create_secret(
            Name=f"tenant/{TENANT}/vapi",
            SecretString=json.dumps({"publicApiKey": "pk-bench-000000000001", "privateApiKey": "sk-bench-000000000001"}),
        )

    def start_mock_provider(self):
        """A provider API on loopback (a thread of this process): GET /assistant answers a small
        JSON list, as Vapi's does. call-provider is pointed at it (PROVIDER_API_BASE_URL_VAPI)."""
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = json.dumps([{"id": "asst_1", "name": "Support", "model": {"provider": "openai"}}]).encode()

        class Provider(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Head and body go out as two writes: with Nagle's algorithm on, the body waits for
            # the client's delayed ACK (~40 ms on Linux), which no real API's server adds.
            disable_nagle_algorithm = True

            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.mock_server = server
        return f"http://127.0.0.1:{server.server_address[1]}"

    def direct(self, requests):
        """Sequential GET /assistant straight to the mock provider, as a backend holding the key
        would call it: the baseline of call-provider's overhead."""
        host, port = self.provider_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        latencies = []
        for i in range(WARM_UP + requests):
            started = time.perf_counter()
            connection.request("GET", "/assistant", headers={"authorization": "Bearer sk-bench-000000000001"})
            connection.getresponse().read()
            if i >= WARM_UP:
                latencies.append((time.perf_counter() - started) * 1000)
        connection.close()
        return {"p50": statistics.median(latencies), "p99": percentile(latencies, 99)}

    def start_tls_front(self):
        """nginx terminating TLS on a free port and proxying to moto, with keep-alive on both sides."""
        port = free_port()
        conf = self.work / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
daemon off;
master_process off;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {self.work}/nginx-body;
    proxy_temp_path {self.work}/nginx-proxy;
    upstream moto {{ server 127.0.0.1:{self.moto_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {self.tls["cert"]};
        ssl_certificate_key {self.tls["key"]};
        ssl_protocols TLSv1.2 TLSv1.3;
        keepalive_timeout 60s;
        keepalive_requests 100000;
        location / {{
            proxy_pass http://moto;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
""")
        self.start(["nginx", "-e", str(self.work / "nginx-error.log"), "-c", str(conf), "-p", str(self.work)], "nginx.log")
        wait_for_port(port)
        return port

    def function_env(self, name, extra, port):
        name = name.split(" ")[0]  # "fetch-key (full)" is fetch-key
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
            "PROVIDER_API_BASE_URL_VAPI": self.provider_url,
        }
        if self.tls:
            env["SSL_CERT_FILE"] = str(self.tls["bundle"])
            env["NODE_EXTRA_CA_CERTS"] = str(self.tls["ca"])
        env.update(extra or {})
        return env

    def moto_calls(self):
        text = (self.work / "moto.log").read_text()
        # Werkzeug colours the request line of a non-2xx answer (e.g. DescribeSecret's 404s).
        return len(re.findall(r'"(?:\x1b\[[0-9;]*m)?POST / HTTP/1\.1(?:\x1b\[0m)?" \d{3}', text))

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
        if function == "call-provider":
            return {"tenantId": TENANT, "provider": "vapi", "method": "GET", "path": "/assistant"}
        if function == "fetch-key (full)":
            return {"tenantId": TENANT, "provider": "vapi"}
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
        function = function.split(" ")[0]  # "fetch-key (full)" is fetch-key
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


def provider_counts():
    """How many providers the built-in catalog has, and how many with MANY_PROVIDERS_FILE merged."""
    built_in = {p["id"] for p in json.loads((ROOT / "providers/catalog.json").read_text())["providers"]}
    added = {p["id"] for p in json.loads(MANY_PROVIDERS_FILE.read_text())["providers"]}
    return len(built_in), len(built_in | added)


def build_many_providers_list():
    """list-integrations built with MANY_PROVIDERS_FILE merged over the catalog, as an operator's
    providers/operator.json would be, copied out of the target directory (the normal build that
    follows replaces it there)."""
    env = dict(os.environ, TENANT_KEYS_PROVIDERS_FILE=str(MANY_PROVIDERS_FILE))
    subprocess.run(["cargo", "build", "--release", "-p", "list-integrations", "--quiet"], cwd=ROOT, env=env, check=True)
    binary = Path(tempfile.mkdtemp(prefix="tenant-keys-bench-many-")) / "list-integrations"
    shutil.copy2(TARGET / "release" / "list-integrations", binary)
    return binary


def measure(args, release, node, tls, many_list):
    """Every figure of one run: cold starts of the six functions and Node, warm fetch-key (cached
    public view, fresh full read), warm Node, and list-integrations warm and cold with the built-in
    catalog and with twenty providers."""
    bench = Bench(args, tls)
    try:
        bench.setup()
        bench.emulator_port, _ = bench.start_emulator()
        cold = {f: bench.cold_starts(f, [str(release / f)], f, args.cold_starts) for f in FUNCTIONS}
        cold["node"] = bench.cold_starts("node", node, "fetch-key (full)", args.cold_starts)
        cold["list-many"] = bench.cold_starts("list-many", [str(many_list)], "list-integrations", args.cold_starts)
        fetch = [str(release / "fetch-key")]
        warm = {
            "cached": bench.warm(fetch, "fetch-key", args.requests, log_name="warm-cached.log"),
            "fresh": bench.warm(fetch, "fetch-key (full)", args.requests, log_name="warm-fresh.log"),
            "node": bench.warm(node, "fetch-key (full)", args.requests, log_name="warm-node.log"),
            "list": bench.warm([str(release / "list-integrations")], "list-integrations", args.requests,
                               log_name="warm-list.log"),
            "list-many": bench.warm([str(many_list)], "list-integrations", args.requests,
                                    log_name="warm-list-many.log"),
            "call": bench.warm([str(release / "call-provider")], "call-provider", args.requests,
                               log_name="warm-call.log"),
            "direct": bench.direct(args.requests),
        }
    finally:
        bench.stop_all()
    return {"cold": cold, "warm": warm}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold-starts", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--target-dir", type=Path, default=TARGET,
                        help="measure the release binaries of another target directory (e.g. a build variant)")
    args = parser.parse_args()

    many_list = build_many_providers_list()
    if args.target_dir == TARGET:
        subprocess.run(["cargo", "build", "--release", "--bins", "--quiet"], cwd=ROOT, check=True)
    node_dir = ROOT / "bench/node-baseline"
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=node_dir, check=True)
    subprocess.run(["npm", "run", "--silent", "build"], cwd=node_dir, check=True, stdout=subprocess.DEVNULL)
    sizes = zip_sizes()

    release = args.target_dir / "release"
    node = ["node", str(node_dir / "dist/index.mjs")]
    tls = make_tls(Path(tempfile.mkdtemp(prefix="tenant-keys-bench-ca-")))
    runs = {"HTTP": measure(args, release, node, None, many_list), "TLS": measure(args, release, node, tls, many_list)}
    report(args, runs, sizes)
    missed = floors(runs, sizes)
    if missed:
        sys.exit("floors missed: " + "; ".join(missed))


def report(args, runs, sizes):
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    print(f"Machine: {cpu}, {os.cpu_count()} cores; {args.cold_starts} cold starts and {args.requests} warm requests per row.\n")
    print("| function | cold p50, HTTP (ms) | cold p50, TLS (ms) | cold p90, TLS (ms) | vs Node, HTTP | vs Node, TLS | peak RSS, TLS (MiB) | arm64 zip (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    http, tls = runs["HTTP"]["cold"], runs["TLS"]["cold"]
    for f in FUNCTIONS:
        print(f"| {f} | {http[f]['cold_p50']:.1f} | {tls[f]['cold_p50']:.1f} | {tls[f]['cold_p90']:.1f} | "
              f"{http['node']['cold_p50'] / http[f]['cold_p50']:.1f}x | {tls['node']['cold_p50'] / tls[f]['cold_p50']:.1f}x | "
              f"{tls[f]['rss_mib']:.1f} | {sizes[f] / 1e6:.2f} |")
    print(f"| Node.js 20 baseline (fetch) | {http['node']['cold_p50']:.1f} | {tls['node']['cold_p50']:.1f} | "
          f"{tls['node']['cold_p90']:.1f} | 1x | 1x | {tls['node']['rss_mib']:.1f} | - |")
    print()
    print("| fetch-key, warm | client p50 (ms) | client p99 (ms) | handler p50 (ms) | handler p99 (ms) | CPU per request (ms) | Secrets Manager calls per 1,000 |")
    print("|---|---|---|---|---|---|---|")
    names = {"cached": "Rust, public view (cached)", "fresh": "Rust, full view (fresh)", "node": "Node.js baseline"}
    for mode in ("HTTP", "TLS"):
        for key, name in names.items():
            w = runs[mode]["warm"][key]
            handler = f"{w['handler_p50']:.3f} | {w['handler_p99']:.3f}" if w["handler_p50"] is not None else "- | -"
            print(f"| {name}, {mode} | {w['p50']:.2f} | {w['p99']:.2f} | {handler} | {w['cpu_ms']:.3f} | {w['calls_per_1000']:.1f} |")
    print()
    built_in, many = provider_counts()
    print("| list-integrations | providers | cold p50 (ms) | warm client p50 (ms) | warm client p99 (ms) | handler p50 (ms) | handler p99 (ms) | Secrets Manager calls per list |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in ("HTTP", "TLS"):
        for key, count in (("list", built_in), ("list-many", many)):
            w, c = runs[mode]["warm"][key], runs[mode]["cold"][key if key != "list" else "list-integrations"]
            print(f"| {mode} | {count} | {c['cold_p50']:.1f} | {w['p50']:.2f} | {w['p99']:.2f} | "
                  f"{w['handler_p50']:.3f} | {w['handler_p99']:.3f} | {w['calls_per_1000'] / 1000:.1f} |")
    print()
    print("| call-provider, warm (GET /assistant of a mock provider on loopback) | client p50 (ms) | client p99 (ms) | overhead p50 (ms) | handler p50 (ms) | handler p99 (ms) | Secrets Manager calls per 1,000 |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("HTTP", "TLS"):
        w, d = runs[mode]["warm"]["call"], runs[mode]["warm"]["direct"]
        print(f"| through call-provider (key cached), {mode} | {w['p50']:.2f} | {w['p99']:.2f} | {w['p50'] - d['p50']:.2f} | "
              f"{w['handler_p50']:.3f} | {w['handler_p99']:.3f} | {w['calls_per_1000']:.1f} |")
        print(f"| direct, with the key, {mode} | {d['p50']:.2f} | {d['p99']:.2f} | - | - | - | - |")
    print()


def floors(runs, sizes):
    """Checks the floors of BENCHMARKS.md; prints each and returns those missed."""
    tls = runs["TLS"]["cold"]
    node = tls["node"]["cold_p50"]
    checks = [(f"fetch-key cold start with TLS >= {FLOOR_FETCH_VS_NODE:g}x faster than Node's",
               node / tls["fetch-key"]["cold_p50"] >= FLOOR_FETCH_VS_NODE,
               f"{node / tls['fetch-key']['cold_p50']:.1f}x")]
    for f in FUNCTIONS:
        ratio = node / tls[f]["cold_p50"]
        checks.append((f"{f} cold start with TLS >= {FLOOR_ANY_VS_NODE:g}x faster than Node's",
                       ratio >= FLOOR_ANY_VS_NODE, f"{ratio:.1f}x"))
    for mode in ("HTTP", "TLS"):
        for f in FUNCTIONS:
            rss = runs[mode]["cold"][f]["rss_mib"]
            checks.append((f"{f} peak RSS ({mode}) <= {FLOOR_RSS_MIB:g} MiB", rss <= FLOOR_RSS_MIB, f"{rss:.1f} MiB"))
    p99 = runs["TLS"]["warm"]["cached"]["handler_p99"]
    checks.append((f"cached fetch handler p99 <= {FLOOR_CACHED_HANDLER_P99_MS} ms",
                   p99 is not None and p99 <= FLOOR_CACHED_HANDLER_P99_MS, f"{p99:.3f} ms" if p99 is not None else "no figure"))
    for f in FUNCTIONS:
        checks.append((f"{f} arm64 zip <= {FLOOR_ZIP_BYTES / 1e6:.1f} MB", sizes[f] <= FLOOR_ZIP_BYTES, f"{sizes[f] / 1e6:.2f} MB"))
    overhead = runs["TLS"]["warm"]["call"]["p50"] - runs["TLS"]["warm"]["direct"]["p50"]
    checks.append((f"call-provider warm p50 overhead (TLS run) <= {FLOOR_CALL_OVERHEAD_P50_MS:g} ms",
                   overhead <= FLOOR_CALL_OVERHEAD_P50_MS, f"{overhead:.2f} ms"))
    print("| floor | figure | met |")
    print("|---|---|---|")
    for name, met, figure in checks:
        print(f"| {name} | {figure} | {'yes' if met else '**NO**'} |")
    return [name for name, met, _ in checks if not met]


if __name__ == "__main__":
    main()
