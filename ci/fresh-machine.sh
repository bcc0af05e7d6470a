#!/usr/bin/env bash
# For contributors (not part of the test command): runs the README's two Quick start
# commands, ci/run.sh then ci/test.sh, on a new minimal Debian root, as a new user's
# machine would have them: `mmdebstrap --variant=minbase bookworm` and chroot. The
# tree checked is the committed HEAD (git archive), or FRESH_REF.
#
#   ci/fresh-machine.sh            # needs root, mmdebstrap (apt-get install mmdebstrap) and network
#   FRESH_KEEP=1 ci/fresh-machine.sh   # keep the root afterwards (its path is printed)
#
# Writes the log to fresh-machine.log and prints the wall time of each step and the
# packages ci/setup.sh installed.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mmdebstrap >/dev/null || { echo "ci/fresh-machine.sh: needs mmdebstrap (apt-get install mmdebstrap)"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "ci/fresh-machine.sh: needs root (chroot, mounts)"; exit 2; }
ref="${FRESH_REF:-HEAD}"
root=$(mktemp -d /tmp/bncheck-fresh.XXXXXX)
log="$PWD/fresh-machine.log"
: >"$log"
cleanup() {
  for m in dev/pts dev proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
  if [ "${FRESH_KEEP:-0}" = 1 ]; then echo "root kept: $root"; else rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
step() { local t0=$SECONDS; echo "== $1" | tee -a "$log"; shift; "$@" >>"$log" 2>&1; local rc=$?;
         echo "   exit $rc after $((SECONDS - t0)) s" | tee -a "$log"; return $rc; }

# The archive's snapshot may be older than its Valid-Until date.
step "mmdebstrap --variant=minbase bookworm" \
  mmdebstrap --variant=minbase --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Check-Date "false"' \
  bookworm "$root" "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" "deb http://deb.debian.org/debian-security bookworm-security main"
mkdir -p "$root/src"
git archive --format=tar "$ref" | tar -x -C "$root/src"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
chroot "$root" dpkg-query -W -f='${Package}\n' | sort >"$root/before.txt"
rc=0
step "ci/run.sh (the main job)" chroot "$root" /bin/bash -c "cd /src && ci/run.sh" || rc=$?
if [ $rc -eq 0 ]; then step "ci/test.sh (the tests)" chroot "$root" /bin/bash -c "cd /src && CI=true ci/test.sh" || rc=$?; fi
chroot "$root" dpkg-query -W -f='${Package}\n' | sort >"$root/after.txt"
echo "installed by ci/setup.sh: $(comm -13 "$root/before.txt" "$root/after.txt" | wc -l) packages, of them named:" | tee -a "$log"
grep -o "ci/setup.sh: installing .*" "$log" | head -1
tail -3 "$log"
echo "fresh machine: $([ $rc -eq 0 ] && echo PASSED || echo "FAILED (exit $rc)"), total $SECONDS s; log: $log"
exit $rc
