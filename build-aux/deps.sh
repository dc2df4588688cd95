#!/bin/sh
# Checks the Debian packages salbench needs and installs the missing ones when run as root
# (apt-get update first); otherwise prints the one apt-get line to run and fails.
# Usage: build-aux/deps.sh build|test|data|bench|fuzz
set -eu
build="make gcc pkg-config libhdf5-dev libpng-dev libcjson-dev libxxhash-dev zlib1g-dev"
test="$build dataset-fashion-mnist hdf5-tools xxhash python3-h5py python3-tables python3-pandas python3-numpy python3-yaml chromium"
case "${1:-build}" in
    build) want=$build ;;
    test) want=$test ;;
    data) want="$build dataset-fashion-mnist" ;;
    bench) want="$test python3-torch libopenblas0-pthread" ;;
    # libFuzzer (libclang_rt.fuzzer) is in libclang-rt-14-dev, only recommended by clang
    fuzz) want="$build clang libclang-rt-14-dev" ;;
    *) echo "deps.sh: cannot check 'packages': unknown set '$1' (build, test, data, bench, fuzz)" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps.sh: installing missing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2
else
    echo "deps.sh: missing Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
