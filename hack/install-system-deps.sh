#!/usr/bin/env bash
# Installs the Debian packages the tests need, only those missing, so running it
# again is a no-op (and needs neither root nor the network when nothing is missing).
#   lua5.1  the Argo CD health check and actions are run by a real Lua 5.1
#           interpreter in tests/unit/test_argocd_lua.py (Argo CD runs gopher-lua,
#           a Lua 5.1 implementation)
#   curl    the docs' curl commands (SigV4 signing included) are run against the sandbox's
#           local data plane in tests/aws/test_dataplane_usage.py
#   chromium, chromium-driver
#           `kubectl sagemeter ui` is tested in a real browser (tests/ui/): headless Chromium
#           driven by Selenium through Debian's chromedriver, both from the same Debian build
set -euo pipefail
packages=(lua5.1 curl chromium chromium-driver)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system deps: present (${packages[*]})" >&2
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "system deps: need root to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "system deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
