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
