#!/usr/bin/env bash
# make-busybox-image.sh OUTDIR
#
# Builds a one-layer OCI image layout (oci-layout, index.json, blobs/sha256/...) at OUTDIR from
# Debian's statically linked /bin/busybox (package busybox-static): /bin/busybox, a relative
# symlink for every applet, /etc/passwd and /etc/group, and the usual empty mount points.
#
# The output is reproducible: the same busybox binary gives the same digests on every run
# (sorted tar with fixed owners and mtimes, gzip without name or timestamp, JSON written
# byte for byte here). The layout is assembled in a temp dir beside OUTDIR and renamed into
# place, so a half-built OUTDIR never exists.
#
# Needs only bash, coreutils, GNU tar, gzip and sha256sum.
set -euo pipefail
export LC_ALL=C  # byte order for every sort and glob

readonly BUSYBOX=/bin/busybox
readonly PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

die() {
  echo "make-busybox-image: $*" >&2
  exit 1
}

# The OCI architecture name (and variant, if any) of this host, from dpkg or uname.
oci_platform() {
  local arch
  if command -v dpkg >/dev/null 2>&1; then
    arch=$(dpkg --print-architecture)
  else
    arch=$(uname -m)
  fi
  case "$arch" in
    amd64 | x86_64) echo "amd64" ;;
    arm64 | aarch64) echo "arm64 v8" ;;
    armhf | armv7l) echo "arm v7" ;;
    armel | armv6l) echo "arm v6" ;;
    i386 | i686) echo "386" ;;
    ppc64el | ppc64le) echo "ppc64le" ;;
    mips64el) echo "mips64le" ;;
    s390x | riscv64 | loong64) echo "$arch" ;;
    *) die "unknown architecture '$arch'" ;;
  esac
}

# Prints "<sha256-hex> <size>" of a file.
digest_and_size() {
  local hex
  hex=$(sha256sum "$1")
  echo "${hex%% *} $(stat -c %s "$1")"
}

# Moves FILE into the layout's blob store under its digest; prints "<hex> <size>".
add_blob() {
  local file=$1 blobs=$2 hex size
  read -r hex size < <(digest_and_size "$file")
  mv "$file" "$blobs/$hex"
  chmod 0644 "$blobs/$hex"
  echo "$hex $size"
}

# Fills directory $1 with the image's root filesystem.
make_rootfs() {
  local root=$1 applet dir up target
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,root,tmp}
  cp "$BUSYBOX" "$root/bin/busybox"
  chmod 0755 "$root/bin/busybox"
  while read -r applet; do
    [[ -n "$applet" && "$applet" != "bin/busybox" ]] || continue
    [[ "$applet" != /* && "$applet" != *..* ]] || die "odd applet path '$applet'"
    dir=$(dirname "$applet")
    mkdir -p "$root/$dir"
    # Relative target: ../bin/busybox from sbin, ../../bin/busybox from usr/bin.
    up=${dir//[^\/]/}
    target=$(printf '../%.0s' $(seq 0 "${#up}"))bin/busybox
    [[ "$dir" == bin ]] && target=busybox
    ln -sfn "$target" "$root/$applet"
  done < <("$BUSYBOX" --list-full | sort)
  [[ -L "$root/bin/sh" ]] || ln -s busybox "$root/bin/sh"

  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$root/etc/group"
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
  chmod 0700 "$root/root"
  chmod 1777 "$root/tmp"
}

# Writes the gzip'd layer tar of $1 to $2; prints the uncompressed tar's sha256 hex.
make_layer() {
  local root=$1 out=$2 tarfile="$2.tar" entries=() path
  for path in "$root"/* "$root"/.[!.]*; do
    if [[ -e "$path" || -L "$path" ]]; then entries+=("${path##*/}"); fi
  done
  tar --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$root" -cf "$tarfile" -- "${entries[@]}"
  sha256sum "$tarfile" | cut -d' ' -f1
  gzip -n -9 -c "$tarfile" >"$out"
  rm -f "$tarfile"
}

main() {
  [[ $# -eq 1 && -n "$1" ]] || die "usage: make-busybox-image.sh OUTDIR"
  [[ -x "$BUSYBOX" ]] || die "$BUSYBOX is missing; install it with: apt-get install busybox-static"
  "$BUSYBOX" --list-full >/dev/null 2>&1 ||
    die "$BUSYBOX does not support --list-full; install Debian's busybox-static"

  local out=${1%/} parent platform arch variant
  parent=$(dirname "$out")
  mkdir -p "$parent"
  platform=$(oci_platform)
  read -r arch variant <<<"$platform"

  umask 022
  tmp=$(mktemp -d "$parent/.$(basename "$out").tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  local blobs="$tmp/blobs/sha256" work="$tmp/.work"
  mkdir -p "$blobs" "$work"

  make_rootfs "$work/rootfs"
  local diff_id layer_hex layer_size
  diff_id=$(make_layer "$work/rootfs" "$work/layer.tar.gz")
  read -r layer_hex layer_size < <(add_blob "$work/layer.tar.gz" "$blobs")

  local version platform_json config_hex config_size
  version=$("$BUSYBOX" 2>&1 | head -n1 || true)
  version=${version//[\"\\]/}
  platform_json="\"architecture\":\"$arch\",\"os\":\"linux\""
  [[ -n "${variant:-}" ]] && platform_json+=",\"variant\":\"$variant\""
  printf '{%s,"config":{"Env":["%s"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"berth make-busybox-image.sh: %s"}]}' \
    "$platform_json" "$PATH_ENV" "$diff_id" "$version" >"$work/config.json"
  read -r config_hex config_size < <(add_blob "$work/config.json" "$blobs")

  local manifest_hex manifest_size
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config_hex" "$config_size" "$layer_hex" "$layer_size" >"$work/manifest.json"
  read -r manifest_hex manifest_size < <(add_blob "$work/manifest.json" "$blobs")

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{%s},"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}\n' \
    "$manifest_hex" "$manifest_size" "$platform_json" >"$tmp/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}\n' >"$tmp/oci-layout"
  rm -rf "$work"
  chmod 0755 "$tmp"

  # Publish: move any old layout aside, rename the new one in, then drop the old one.
  local old=""
  if [[ -e "$out" ]]; then
    old="$tmp.old"
    mv -T "$out" "$old"
  fi
  if ! mv -T "$tmp" "$out"; then
    [[ -n "$old" ]] && mv -T "$old" "$out"
    die "cannot rename $tmp to $out"
  fi
  trap - EXIT
  [[ -n "$old" ]] && rm -rf "$old"
  echo "make-busybox-image: $out: sha256:$manifest_hex ($arch, $version)"
}

main "$@"
