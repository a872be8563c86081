#!/usr/bin/env bash
# Debian packages of the third-party LV2 compressors the matching study renders through (Calf, LSP,
# ZAM, x42) and the headless LV2 hosts (lv2apply from lilv-utils, lv2file). Idempotent; run as root
# or with sudo. The study (python -m differential_dynamics.matching) skips nothing silently: a missing
# plugin is an error that names this script.
set -euo pipefail
packages=(lilv-utils lv2file calf-plugins lsp-plugins-lv2 zam-plugins x42-plugins)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup_plugins: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup_plugins: ok ($(lv2ls | wc -l) LV2 plugins installed)"
