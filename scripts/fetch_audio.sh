#!/usr/bin/env bash
# Real recordings for tests and the README, from Debian packages: downloaded with `apt-get download`
# (no installation) into an ignored cache and unpacked with `dpkg-deb -x`. Nothing here is committed.
#   frozen-bubble-data  music (OGG Vorbis, stereo)         → $cache/music/*.ogg
#   alsa-utils          speech (WAV, mono: "Front Left" …)  → $cache/speech/*.wav
# Usage: scripts/fetch_audio.sh [cache dir (default .cache/audio)]. Idempotent; prints the files.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-$repo/.cache/audio}
mkdir -p "$cache/debs" "$cache/unpacked" "$cache/music" "$cache/speech"

fetch() {  # fetch PACKAGE: the .deb into $cache/debs, unpacked into $cache/unpacked/PACKAGE
  local package=$1
  if ! ls "$cache/debs/${package}"_*.deb >/dev/null 2>&1; then
    (cd "$cache/debs" && apt-get download -q "$package") || {
      echo "fetch_audio: apt-get download $package failed (run apt-get update first?)" >&2
      return 1
    }
  fi
  if [ ! -d "$cache/unpacked/$package" ]; then
    dpkg-deb -x "$(ls "$cache/debs/${package}"_*.deb | head -n 1)" "$cache/unpacked/$package.tmp"
    mv "$cache/unpacked/$package.tmp" "$cache/unpacked/$package"
  fi
}

fetch frozen-bubble-data
fetch alsa-utils
# Links with short names, so that tests and docs can name the files.
find "$cache/unpacked/frozen-bubble-data" -path '*/snd/*' -name '*.ogg' -exec ln -sf {} "$cache/music/" \;
find "$cache/unpacked/alsa-utils" -path '*/sounds/*' -name '*.wav' -exec ln -sf {} "$cache/speech/" \;
ls -1 "$cache/music" "$cache/speech"
