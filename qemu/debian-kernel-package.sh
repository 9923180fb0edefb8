# Sourced by qemu/fetch-pi-dtbs.sh and qemu/bench-linux.sh: downloads Debian's current arm64
# kernel package into a new temporary directory.
#
#   download_debian_arm64_kernel     sets $pkg, $version and $deb_dir (the .deb is in it)
#
# Follows the linux-image-arm64 metapackage rather than naming a kernel version, so it keeps
# working as Debian moves on. The caller removes $deb_dir.

download_debian_arm64_kernel() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $sudo dpkg --add-architecture arm64
    fi
    # Third-party sources on some machines are unreachable; Debian's own are what we need.
    $sudo apt-get update -q || true

    # The metapackage depends on exactly one versioned image package, e.g. linux-image-6.1.0-37-arm64.
    pkg="$(apt-cache depends linux-image-arm64:arm64 |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -n1)"
    if [ -z "$pkg" ]; then
        echo "could not find the image package linux-image-arm64:arm64 depends on" >&2
        return 1
    fi
    version="$(apt-cache policy "$pkg:arm64" | sed -n 's/^ *Candidate: //p')"
    echo "using $pkg:arm64 $version"

    deb_dir="$(mktemp -d)"
    # apt-get download writes into the current directory and runs as the _apt user when it can.
    chmod 777 "$deb_dir"
    (cd "$deb_dir" && apt-get download -q "$pkg:arm64")
}
