#!/usr/bin/env bash
# Makes a headless Chromium available for tests/browser.rs, which opens
# report.html files in it through tests/browser/check.py.
#
#   tests/browser/chromium-up.sh    # prints the chromium path last
#
# Needs root (Debian or Ubuntu) only when Chromium is absent: then installs
# Debian's chromium package (apt-get install; on failure apt-get update and
# once more), each apt-get step limited to 300 s. A chromium already on PATH
# (chromium, chromium-browser) or named by $HACASIM_CHROMIUM is used as is.
#
# Exit status: 0 found or installed; 3 missing and not installable; 4
# installed but does not start (chromium --version fails).
set -uo pipefail

fail() { # status message
    echo "chromium-up: $2" >&2
    exit "$1"
}

find_chromium() {
    local c
    for c in "${HACASIM_CHROMIUM:-}" chromium chromium-browser /usr/bin/chromium; do
        [[ -n $c ]] || continue
        c=$(command -v "$c" 2>/dev/null) || continue
        [[ -x $c ]] && { echo "$c"; return 0; }
    done
    return 1
}

if ! bin=$(find_chromium); then
    [[ $(id -u) == 0 ]] || fail 3 "chromium missing and not root to install it"
    command -v apt-get >/dev/null || fail 3 "chromium missing and no apt-get"
    echo "chromium-up: installing chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_log=$(mktemp)
    if ! { timeout 300 apt-get install -y -q --no-install-recommends chromium >"$apt_log" 2>&1 ||
        { timeout 300 apt-get update -q >>"$apt_log" 2>&1 &&
            timeout 300 apt-get install -y -q --no-install-recommends chromium >>"$apt_log" 2>&1; }; }; then
        tail -n 20 "$apt_log" >&2
        rm -f "$apt_log"
        fail 3 "cannot install chromium"
    fi
    rm -f "$apt_log"
    bin=$(find_chromium) || fail 3 "chromium missing after installing"
fi

# (Debian's launcher script may print shell warnings on stderr: not shown.)
version=$(timeout 60 "$bin" --headless=new --no-sandbox --version 2>/dev/null) ||
    fail 4 "$bin --version fails (exit $?)"
echo "chromium-up: $version" >&2
echo "$bin"
