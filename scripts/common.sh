# Shared by the project's scripts: the project-local virtualenv and a local Secrets Manager.
# Source it; it defines functions only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

# Creates .venv and installs requirements-dev.txt into it, once per change of that file.
ensure_venv() {
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$ROOT/requirements-dev.txt" | cut -d' ' -f1)"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "==> installing pinned tools into .venv (requirements-dev.txt)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

# Prints a free TCP port on loopback.
free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something listens on 127.0.0.1:$1 (at most ~20 s).
wait_for_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing is listening on 127.0.0.1:$1" >&2
  return 1
}

# Starts moto's Secrets Manager on 127.0.0.1:$1 in the background; sets MOTO_PID and exports the
# endpoint and fake credentials for the SDK. The caller stops it (stop_pids).
start_moto() {
  local port="$1"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > "${MOTO_LOG:-/dev/null}" 2>&1 &
  MOTO_PID=$!
  wait_for_port "$port"
  export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
}

# Stops the given processes and their children, quietly.
stop_pids() {
  for pid in "$@"; do
    [[ -n "$pid" ]] || continue
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  done
}

# Adds Rust's aarch64 Linux target (cross-compiling for arm64 Lambda, with zig as the linker).
ensure_arm64_target() {
  if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    echo "==> rustup target add aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu
  fi
}

# Installs Debian's qemu-user (qemu-aarch64) and arm64 glibc (libc6-arm64-cross) when missing, to
# run the arm64 bootstraps on an x86_64 machine. Needs root (CI runs as root) and apt.
ensure_qemu_arm64() {
  if command -v qemu-aarch64 > /dev/null && [[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]]; then
    return
  fi
  echo "==> apt-get install qemu-user libc6-arm64-cross"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends qemu-user libc6-arm64-cross > /dev/null
  dpkg-query -W qemu-user libc6-arm64-cross
}
