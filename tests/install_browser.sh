#!/usr/bin/env bash
# Chromium renders the HTML report in tests/engine/test_store_report.py. Install Debian's package where this
# machine allows (root, or passwordless sudo, with apt-get); else say how, and the test run will say loudly
# that the report was not rendered.
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="no"; fi
    if [ "$SUDO" != "no" ]; then
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null && exit 0
    fi
fi
echo "note: Chromium is not installed and cannot be installed here; install it (e.g. apt-get install chromium) to render the report test" >&2
exit 0
