#!/usr/bin/env bash
# Installs the Debian 12 packages pagekv needs (idempotent; skips apt when all are present).
set -euo pipefail
packages=(
  cmake ninja-build g++ clang libclang-rt-14-dev
  libabsl-dev libfmt-dev libxxhash-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev redis-server
  pybind11-dev python3-dev python3-numpy python3-pytest python3-zmq python3-msgpack
  chromium chromium-driver
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
