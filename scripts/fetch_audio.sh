#!/usr/bin/env bash
# Real recordings for tests, studies and the README, from Debian packages: downloaded with
# `apt-get download` (nothing is installed) into an ignored cache and unpacked with `dpkg-deb -x`;
# only their audio files are kept. Nothing here is committed.
#   frozen-bubble-data  music (OGG Vorbis, stereo)         → $cache/music/*.ogg
#   alsa-utils          speech (WAV, mono: "Front Left" …)  → $cache/speech/*.wav
# Usage: scripts/fetch_audio.sh [cache dir (default $DD_AUDIO_CACHE or .cache/audio)]. Idempotent;
# prints the files.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${DD_AUDIO_CACHE:-$repo/.cache/audio}}
mkdir -p "$cache/debs"

fetch() {  # fetch PACKAGE FOLDER PATH-PATTERN: the package's audio files under PATH-PATTERN → $cache/FOLDER
  local package=$1 folder=$2 pattern=$3
  [ -d "$cache/$folder" ] && return 0
  if ! ls "$cache/debs/${package}"_*.deb >/dev/null 2>&1; then
    (cd "$cache/debs" && apt-get download -q "$package") || {
      echo "fetch_audio: apt-get download $package failed (run apt-get update first?)" >&2
      return 1
    }
  fi
  local tmp
  tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
  dpkg-deb -x "$(ls "$cache/debs/${package}"_*.deb | head -n 1)" "$tmp/x"
  mkdir -p "$tmp/out"
  find "$tmp/x" -type f -path "$pattern" \( -iname '*.ogg' -o -iname '*.wav' -o -iname '*.flac' \) \
    -exec mv -t "$tmp/out" {} +
  mv "$tmp/out" "$cache/$folder"
  rm -rf "$tmp"
}

fetch frozen-bubble-data music '*/snd/*'
fetch alsa-utils speech '*/sounds/*'
ls -1 "$cache/music" "$cache/speech"
