# Shared set-up for scripts/run and scripts/test: system packages, Python tools, build.
# Sourced, not run. Installs only what is missing, so a second run is quick.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

need_apt=()
for pkg in libssl-dev zlib1g-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]} ..." >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "swift toolchain not found (Swift 6.3 expected)" >&2; exit 1; }

# Installs the Debian package of each command that is missing, given as command:package pairs
# (daemons such as haproxy live in /usr/sbin, which is not on every user's PATH).
install_commands() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]} ..." >&2
        local SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# What a local cluster runs on: Redis (redis-cli builds the Redis Cluster of the tests) and
# HAProxy in front of the nodes (scripts/cluster, Tests/Interop/test_cluster.py).
setup_cluster_services() {
    install_commands redis-server:redis-server redis-cli:redis-tools haproxy:haproxy
}

# Services the tests start for themselves (each test runs its own, on a free loopback port).
setup_test_services() {
    setup_cluster_services
    # Headless Chromium drives the dashboard test (Tests/Interop/test_dashboard.py).
    install_commands chromium:chromium chromedriver:chromium-driver
}

setup_venv() {
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    if ! .venv/bin/python -c "import websockets, pytest" >/dev/null 2>&1 || \
       ! cmp -s scripts/requirements.txt .venv/.requirements 2>/dev/null; then
        .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
        cp scripts/requirements.txt .venv/.requirements
    fi
}
