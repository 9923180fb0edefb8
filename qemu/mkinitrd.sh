#!/usr/bin/env bash
# Builds the boot archive: mkinitrd.sh OUTPUT ROOT NAME...
# Archives ROOT/NAME for each NAME (e.g. `init`, `bin/conformance-c`), under that name, as
# a `cpio -H newc` archive, in the order given. The output is reproducible (fixed
# timestamps, owner root) and written atomically.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 OUTPUT ROOT NAME..." >&2
    exit 2
fi
out=$1
root=$2
shift 2

for name in "$@"; do
    case $name in
        /* | ./* | *..*) echo "mkinitrd: bad member name '$name'" >&2; exit 2 ;;
    esac
    if [ ! -f "$root/$name" ]; then
        echo "mkinitrd: $root/$name does not exist" >&2
        exit 1
    fi
done

mkdir -p "$(dirname "$out")"
stage=$(mktemp -d)
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -rf "$stage" "$tmp"' EXIT
# Same bytes for the same inputs: copies with fixed mtimes and modes, owner root:root.
for name in "$@"; do
    mkdir -p "$stage/$(dirname "$name")"
    cp "$root/$name" "$stage/$name"
    chmod 0755 "$stage/$name"
    touch -d @0 "$stage/$name"
done
printf '%s\n' "$@" |
    (cd "$stage" && cpio -o -H newc --quiet --reproducible --owner=0:0) > "$tmp"
mv "$tmp" "$out"
