#!/usr/bin/env bash
# make package: the Debian and RPM packages of this working tree, into dist/.
#
#   tree (tracked and new files) ──copy──▶ build-package/redpair-VERSION/ ──tar──▶ dist/redpair-VERSION.tar.gz
#   copy + packaging/debian as debian/ ──dpkg-buildpackage -b──▶ dist/redpair_VERSION-R_ARCH.deb (+ dbgsym)
#   dist/redpair-VERSION.tar.gz ──rpmbuild -bb packaging/rpm/redpair.spec──▶ dist/redpair-VERSION-R.ARCH.rpm
#
# then lintian and rpmlint, which fail the build on errors. Both package builds run the unit tests
# unless DEB_BUILD_OPTIONS holds nocheck. With --if-stale, nothing is rebuilt when dist/ already
# holds the packages of exactly these sources (dist/SOURCES.sha256).
set -euo pipefail
cd "$(dirname "$0")/.."
# One build at a time on this machine (tests/integration/test_package.py may run in parallel).
# The lock file may belong to another user: flock needs only a descriptor, read-only will do.
lock=${TMPDIR:-/tmp}/redpair-build-package.lock
{ exec 9>>"$lock"; } 2>/dev/null || exec 9<"$lock"
flock 9

version=$(sed -n 's/^project(redpair VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
deb_version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
rpm_version=$(sed -n 's/^Version: *//p' packaging/rpm/redpair.spec)
if [[ ${deb_version%-*} != "$version" || $rpm_version != "$version" ]]; then
    echo "build.sh: versions differ: CMakeLists.txt $version, debian/changelog $deb_version," \
        "redpair.spec $rpm_version" >&2
    exit 1
fi

# The sources: what git tracks plus new files it does not ignore (build trees, dist/ and other
# outputs are ignored), or everything but those outside git.
list_sources() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done
    else
        find . -type f ! -path './build*' ! -path './dist/*' ! -path './.git/*' -printf '%P\0'
    fi | sort -z
}
# What the packages were built from: a hash over the names and contents of the listed files.
stamp() { xargs -0 sha256sum -- | sha256sum | cut -d' ' -f1; }

if [[ ${1:-} == --if-stale && -f dist/SOURCES.sha256 && $(cat dist/SOURCES.sha256) == "$(list_sources | stamp)" ]] &&
    compgen -G "dist/redpair_${deb_version}_*.deb" >/dev/null &&
    compgen -G "dist/redpair-${version}-*.rpm" >/dev/null; then
    echo "build.sh: dist/ is current"
    exit 0
fi

work=$PWD/build-package
tree=$work/redpair-$version
rm -rf "$work" dist
mkdir -p "$tree" dist
list_sources >"$work/sources.list"
tar --null -T "$work/sources.list" -cf - | tar -xf - -C "$tree"
(cd "$tree" && stamp <"$work/sources.list") >"$work/SOURCES.sha256"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
    -czf "dist/redpair-$version.tar.gz" -C "$work" "redpair-$version"

echo "build.sh: building the .deb"
cp -r packaging/debian "$tree/debian"
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b) >"$work/deb.log" 2>&1 || {
    tail -n 60 "$work/deb.log" >&2
    echo "build.sh: dpkg-buildpackage failed; the whole log is $work/deb.log" >&2
    exit 1
}
cp "$work"/*.deb dist/

echo "build.sh: building the .rpm"
rpm_check=()
[[ " ${DEB_BUILD_OPTIONS:-} " == *" nocheck "* ]] && rpm_check=(--nocheck)
rpmbuild -bb --nodeps "${rpm_check[@]}" --define "_topdir $work/rpm" \
    --define "_sourcedir $PWD/dist" packaging/rpm/redpair.spec >"$work/rpm.log" 2>&1 || {
    tail -n 60 "$work/rpm.log" >&2
    echo "build.sh: rpmbuild failed; the whole log is $work/rpm.log" >&2
    exit 1
}
cp "$work"/rpm/RPMS/*/*.rpm dist/

echo "build.sh: lintian"
lintian --fail-on error --info "$work"/redpair_*.changes
echo "build.sh: rpmlint"
if command -v rpmlint >/dev/null; then
    rpmlint -r packaging/rpm/redpair.rpmlintrc packaging/rpm/redpair.spec dist/*.rpm
else
    echo "build.sh: rpmlint is not installed: skipped"
fi

cp "$work/SOURCES.sha256" dist/
ls -l dist/
