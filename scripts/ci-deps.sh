#!/usr/bin/env bash
# Installs what the tests need beyond Go: Debian's chromium, for the status
# page test (pkg/ops, headless). Idempotent and quiet: does nothing when a
# Chromium is already on PATH. Run as root (CI) or with sudo available.
# .ci/run calls it, then runs the tests with REQUIRE_CHROMIUM=1 so that the
# page test fails instead of skipping if the browser is still missing.
set -euo pipefail

for name in chromium chromium-browser google-chrome google-chrome-stable chrome; do
	if command -v "$name" >/dev/null 2>&1; then
		exit 0
	fi
done

if ! command -v apt-get >/dev/null 2>&1; then
	echo "ci-deps: no Chromium and no apt-get: install Chromium by hand (or set CHROMIUM=/path/to/chrome)" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "ci-deps: installing chromium with apt-get failed" >&2
	exit 1
fi
command -v chromium >/dev/null 2>&1 || { echo "ci-deps: chromium installed but not on PATH" >&2; exit 1; }
