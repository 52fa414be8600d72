#!/usr/bin/env bash
# Builds Apache Mesos 1.0.4 (the last release with the external containerizer) into a
# prefix, on Debian 12 (GCC 12, glibc 2.36, zlib 1.2.13). Idempotent: a finished build is
# detected and skipped. About 20 minutes with 2 cores.
#   MESOS_HOME    the prefix (default /opt/mesos-1.0.4)
#   MESOS_SOURCE  a source tarball: a path or an http(s) URL (default: the repo's
#                 ../shared/mesos/mesos-1.0.4-src.tar.gz when it exists, a `git archive`
#                 of tag 1.0.4 that needs ./bootstrap; else the release tarball)
#   MESOS_BUILD_JOBS  make -j (default: the number of cores)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
VERSION=1.0.4
PREFIX=${MESOS_HOME:-/opt/mesos-$VERSION}
SHARED_SOURCE="$REPO/../shared/mesos/mesos-$VERSION-src.tar.gz"
RELEASE_URL="https://archive.apache.org/dist/mesos/$VERSION/mesos-$VERSION.tar.gz"
SOURCE=${MESOS_SOURCE:-}
if [ -z "$SOURCE" ]; then
  if [ -f "$SHARED_SOURCE" ]; then SOURCE=$SHARED_SOURCE; else SOURCE=$RELEASE_URL; fi
fi
JOBS=${MESOS_BUILD_JOBS:-$(nproc)}
WORK=${MESOS_BUILD_DIR:-/var/tmp/mesos-$VERSION-build}
STAMP="$PREFIX/.mesos-hyper-built"
say() { printf '==> build-mesos: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "build-mesos.sh: run as root" >&2; exit 1; }

if [ -e "$STAMP" ] && [ -x "$PREFIX/sbin/mesos-agent" ] && [ -x "$PREFIX/sbin/mesos-master" ]; then
  say "Mesos $VERSION is built in $PREFIX (delete $STAMP to rebuild)"
  exit 0
fi

PACKAGES=(
  build-essential autoconf automake libtool libcurl4-openssl-dev libsasl2-dev
  libsasl2-modules libapr1-dev libsvn-dev zlib1g-dev python3 patch libzookeeper-mt-dev
  curl ca-certificates
)
. scripts/debian-packages.sh
ensure_packages "${PACKAGES[@]}"

say "unpacking $SOURCE into $WORK"
rm -rf "$WORK"
mkdir -p "$WORK"
tarball=$SOURCE
case "$SOURCE" in
  http://*|https://*)
    tarball="$WORK/source.tar.gz"
    curl -fL --retry 3 -o "$tarball" "$SOURCE"
    ;;
esac
tar -xzf "$tarball" -C "$WORK"
SRC=$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'mesos-*' | head -1)
[ -n "$SRC" ] && [ -f "$SRC/configure.ac" ] || { echo "no Mesos source in $SOURCE" >&2; exit 1; }
cd "$SRC"

say "adapting the source to Debian 12 (system ZooKeeper, zlib 1.2.13, glibc 2.36)"
# The system ZooKeeper is used; the non-bundled branch still wants the bundled tarball,
# which a `git archive` of the tag lacks.
python3 - <<'PY'
import pathlib, re
mk = pathlib.Path("3rdparty/Makefile.am")
text = mk.read_text()
text = text.replace(
    "else\n# No matter what, we need to extract ZooKeeper so that we can run\n"
    "# 'make check' (some of our tests need the ZooKeeper JAR).\n"
    "ALL_LOCAL += $(ZOOKEEPER)-stamp\nendif",
    "endif",
)
mk.write_text(text)
# zlib 1.2.13 is not found by a probe for several symbols at once: probe deflate alone.
for name in ("configure.ac", "3rdparty/libprocess/configure.ac"):
    path = pathlib.Path(name)
    path.write_text(path.read_text().replace("[deflate, gzread, gzwrite, inflate]", "[deflate]"))
# glibc 2.28 moved major()/minor()/makedev() to <sys/sysmacros.h>.
for name in ("src/linux/fs.cpp", "src/slave/containerizer/mesos/isolators/gpu/isolator.cpp"):
    path = pathlib.Path(name)
    text = path.read_text()
    if "sys/sysmacros.h" not in text:
        text = re.sub(r"(#include <[^>]+>\n)", r"\1#include <sys/sysmacros.h>\n", text, count=1)
        path.write_text(text)
PY
grep -q 'ALL_LOCAL += $(ZOOKEEPER)-stamp' 3rdparty/Makefile.am && {
  echo "build-mesos.sh: could not drop the bundled ZooKeeper from 3rdparty/Makefile.am" >&2
  exit 1
}

if [ ! -x configure ]; then
  say "bootstrap (autoreconf)"
  ./bootstrap >/dev/null
fi

mkdir -p build
cd build
say "configure (prefix $PREFIX)"
../configure --prefix="$PREFIX" --disable-java --disable-python --with-zookeeper=/usr \
  --disable-maintainer-mode \
  CFLAGS="-O0 -g0 -fcommon -Wno-error" \
  CXXFLAGS="-O0 -g0 -Wno-error -fpermissive -Wno-deprecated-declarations" \
  >configure.log 2>&1 || { tail -40 configure.log >&2; exit 1; }

say "make -j$JOBS (about 20 minutes on 2 cores; progress every 100 compiled files)"
start=$(date +%s)
set +e
make -j"$JOBS" 2>&1 | tee make.log | awk '
  /^libtool: compile|^ *(CXX|CC) / { n++; if (n % 100 == 0) { printf "==> build-mesos: %d files compiled\n", n > "/dev/stderr"; fflush() } }
  /error:/ { print > "/dev/stderr" }'
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { tail -40 make.log >&2; exit 1; }
say "install into $PREFIX"
make install >install.log 2>&1 || { tail -40 install.log >&2; exit 1; }
echo "$VERSION $(date -u +%FT%TZ)" >"$STAMP"
say "done in $(( $(date +%s) - start ))s: $PREFIX/sbin/mesos-master, $PREFIX/sbin/mesos-agent"
rm -rf "$WORK"
