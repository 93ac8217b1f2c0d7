# Shared set-up for scripts/: find the Swift toolchain and install missing
# Debian packages. Source it; it defines functions and changes nothing by itself.

# Puts the Swift toolchain on PATH, or stops with a clear message.
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
        PATH="/opt/swift/usr/bin:$PATH"
        export PATH
    fi
    command -v swift >/dev/null 2>&1 || {
        echo "error: no Swift toolchain found (looked on PATH and in /opt/swift)" >&2
        exit 1
    }
}

# What building lazydisk needs: the headers and pkg-config files of the C
# libraries it links (libcurl for HTTP, ISA-L, zlib and zstd for qcow2
# clusters, jemalloc as the process's allocator).
BUILD_PACKAGES=(pkg-config libcurl4-openssl-dev zlib1g-dev libisal-dev libzstd-dev libjemalloc-dev)

# Installs the named Debian packages that are not installed yet, running
# apt-get update once first. Needs root only when something is missing.
ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Makes a Python virtual environment at DIR holding moto_server (PyPI
# moto[server]) unless it has one already: ensure_moto DIR
ensure_moto() {
    [ -x "$1/bin/moto_server" ] && return 0
    echo "installing moto[server] into $1" >&2
    python3 -m venv "$1" 2>/dev/null || { ensure_packages python3-venv && python3 -m venv "$1"; }
    "$1/bin/pip" install -q --disable-pip-version-check "moto[server]"
}

# Runs CMD (a string for eval) when the script exits, after any registered
# before it; scripts use this instead of their own EXIT trap so that helpers
# here can clean up too: on_exit 'rm -rf "$dir"'
EXIT_ACTIONS=()
on_exit() {
    EXIT_ACTIONS+=("$1")
    trap 'for action in "${EXIT_ACTIONS[@]}"; do eval "$action"; done' EXIT
}

# Starts nginx natively from docker/nginx.conf serving DIR on a free loopback
# port, sets FIXTURE_BASE_URL (http://127.0.0.1:PORT) and FIXTURE_ACCESS_LOG
# (one line a request, see docker/nginx.conf) and stops the server when the
# calling script exits: start_fixture_server DIR
start_fixture_server() {
    local root work port attempt
    root=$(cd "$1" && pwd)
    work=$(mktemp -d)
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 20000))
        "$(dirname "${BASH_SOURCE[0]}")/nginx-config" "$port" "$root" "$work" > "$work/nginx.conf"
        nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log" &
        FIXTURE_SERVER_PID=$!
        disown "$FIXTURE_SERVER_PID"
        for _ in $(seq 50); do
            if (: > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                FIXTURE_BASE_URL="http://127.0.0.1:$port"
                FIXTURE_ACCESS_LOG="$work/access.log"
                on_exit "kill -KILL $FIXTURE_SERVER_PID 2>/dev/null; rm -rf '$work'"
                return 0
            fi
            kill -0 "$FIXTURE_SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$FIXTURE_SERVER_PID" 2>/dev/null || true
    done
    echo "error: could not start nginx (see $work/error.log)" >&2
    return 1
}

# Runs a command (the test suite) so that everything it leaves behind can be
# found: LAZYDISK_TEST_TMPDIR names a directory of the run's own, where the
# tests make their temporary files (see Tests/Support/.../TestTemporaryRoot)
# and which every process they start carries in its environment. Afterwards
# any such process still running or anything left in that directory is
# named on stderr, removed, and makes this fail even if the command passed:
# run_leaving_nothing_behind swift test
run_leaving_nothing_behind() {
    local run_directory marker status=0 leftovers=0 pid
    run_directory=$(mktemp -d "${TMPDIR:-/tmp}/lazydisk-test-run.XXXXXX")
    marker="LAZYDISK_TEST_TMPDIR=$run_directory"
    env "$marker" "$@" || status=$?

    for pid in $(grep -lzxF -- "$marker" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
        echo "error: the test run left process $pid running: $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" >&2
        kill -KILL "$pid" 2>/dev/null || true
        leftovers=1
    done
    if [ -n "$(ls -A "$run_directory")" ]; then
        echo "error: the test run left these in $run_directory:" >&2
        ls -A "$run_directory" | sed 's/^/  /' >&2
        leftovers=1
    fi
    rm -rf "$run_directory"
    [ "$status" -ne 0 ] && return "$status"
    return "$leftovers"
}
