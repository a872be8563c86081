#!/usr/bin/env bash
# Real recordings for the recovery studies and tests: small Debian packages fetched with
# `apt-get download` (nothing is installed) and unpacked into .cache/audio/<package>/ (audio files only).
# Idempotent. Usage: scripts/fetch_audio.sh [package ...]   (default: frozen-bubble-data)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${DD_AUDIO_CACHE:-$repo/.cache/audio}
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(frozen-bubble-data)
mkdir -p "$cache/debs"
for p in "${packages[@]}"; do
  if [ -d "$cache/$p" ]; then
    echo "fetch_audio: $p already in $cache/$p"
    continue
  fi
  (cd "$cache/debs" && apt-get download "$p" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
  deb=$(ls "$cache/debs/${p}"_*.deb 2>/dev/null | head -n1)
  [ -n "$deb" ] || { echo "fetch_audio: apt-get download $p failed" >&2; exit 1; }
  tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
  dpkg-deb -x "$deb" "$tmp"
  mkdir -p "$cache/$p.partial"
  find "$tmp" -type f \( -iname '*.ogg' -o -iname '*.wav' -o -iname '*.flac' \) -exec mv -t "$cache/$p.partial" {} +
  rm -rf "$tmp"
  mv "$cache/$p.partial" "$cache/$p"
  echo "fetch_audio: $p -> $cache/$p ($(ls "$cache/$p" | wc -l) files)"
done
