#!/bin/sh
# Install calmopsd on a Debian host: `make install` runs this as root. Safe to re-run.
#
#   user and group calmopsd (system, no login, home /var/lib/calmopsd), made once
#   /etc/calmopsd/calmops.yaml   the shipped config, 0640 root:calmopsd; an existing one is kept
#   /opt/calmopsd/venv           a venv with this tree's calmopsd installed (upgraded on a re-run)
#   /opt/calmopsd/README.md      the units' Documentation=
#   /usr/local/bin/calmopsd      a symlink to the venv's calmopsd, for the CLI
#   /var/lib/calmopsd            the state dir, 0700 calmopsd:calmopsd
#   /etc/nginx/calmopsd/         where calmopsd's nginx files go (only when /etc/nginx exists)
#   /etc/systemd/system/calmopsd.service, calmopsd-helper.service  (always replaced: local
#                                changes belong in drop-ins), then systemctl daemon-reload
#                                when systemd runs; nothing is enabled or started.
#
# Settings (environment; the Makefile passes them on):
#   DESTDIR=DIR    stage everything under DIR instead of /, touching nothing else
#                  (needs SKIP_USER=1; daemon-reload is skipped)
#   SKIP_USER=1    do not make the user and group; files get group calmopsd only if it exists
#   PYTHON=python3 the interpreter the venv is made with (>= 3.11)
#   PIP_FLAGS=...  extra pip install flags, e.g. "--no-index --find-links=/srv/wheels"
set -eu
# Whatever root's umask: the venv and the units must be readable by calmopsd and systemd.
umask 022

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
SKIP_USER=${SKIP_USER:-}
PYTHON=${PYTHON:-python3}
PIP_FLAGS=${PIP_FLAGS:-}
NAME=calmopsd

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

if [ -n "$DESTDIR" ] && [ "$SKIP_USER" != 1 ]; then
  die "DESTDIR stages files only: add SKIP_USER=1 (the user is made on the target host)"
fi
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo make install), or stage with DESTDIR=DIR SKIP_USER=1"
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
  die "calmopsd needs Python >= 3.11 ($PYTHON: $("$PYTHON" --version 2>&1 || echo missing))"

# -- user and group ---------------------------------------------------------------
if [ "$SKIP_USER" = 1 ]; then
  say "skipped: user and group $NAME (SKIP_USER=1)"
else
  if getent group "$NAME" >/dev/null; then
    say "group $NAME exists"
  else
    groupadd --system "$NAME"
    say "made group $NAME"
  fi
  if getent passwd "$NAME" >/dev/null; then
    say "user $NAME exists"
  else
    useradd --system --gid "$NAME" --home-dir /var/lib/calmopsd --no-create-home \
      --shell /usr/sbin/nologin --comment "calmopsd on-host operations agent" "$NAME"
    say "made user $NAME"
  fi
fi

# Owners only as root (a DESTDIR staged by another user keeps that user's), and the
# calmopsd user and group only where they exist.
ROOT_OWNS=''
DAEMON_OWNS=''
if [ "$(id -u)" = 0 ]; then
  if getent group "$NAME" >/dev/null; then ROOT_OWNS="-o root -g $NAME"; else
    ROOT_OWNS="-o root -g root"
    say "group $NAME does not exist: /etc/calmopsd stays root's group"
  fi
  if getent passwd "$NAME" >/dev/null; then DAEMON_OWNS="-o $NAME -g $NAME"; else
    DAEMON_OWNS="-o root -g root"
    say "user $NAME does not exist: /var/lib/calmopsd stays root's"
  fi
fi

# -- config -----------------------------------------------------------------------
# The helper trusts only a config root alone may change: root-owned, not group-writable.
# shellcheck disable=SC2086  # the owner flags are several words on purpose
install -d -m 0750 $ROOT_OWNS "$DESTDIR/etc/calmopsd"
if [ -e "$DESTDIR/etc/calmopsd/calmops.yaml" ]; then
  say "kept /etc/calmopsd/calmops.yaml (the shipped one is $SRC/config/calmops.yaml)"
else
  # shellcheck disable=SC2086
  install -m 0640 $ROOT_OWNS "$SRC/config/calmops.yaml" "$DESTDIR/etc/calmopsd/calmops.yaml"
  # Installed under the hardened unit, actions go through the privileged helper (the
  # shipped config's direct backend is for `make run`); actions.mode stays shadow.
  sed -i 's/^  backend: direct$/  backend: helper/' "$DESTDIR/etc/calmopsd/calmops.yaml"
  say "wrote /etc/calmopsd/calmops.yaml (the shipped config, actions.backend: helper)"
fi
# An operator's config from before must still be root's alone, or the helper refuses it.
CONFIG_STAT=$(stat -c '%u %a' "$DESTDIR/etc/calmopsd/calmops.yaml")
case "$CONFIG_STAT" in
  "0 "*[0145][0145]) ;;
  *) say "warning: /etc/calmopsd/calmops.yaml (uid mode: $CONFIG_STAT) must be root's and not" \
       "writable by group or others, or calmopsd-helper refuses it:" \
       "chown root:$NAME /etc/calmopsd/calmops.yaml && chmod 0640 /etc/calmopsd/calmops.yaml" ;;
esac

# -- state dir --------------------------------------------------------------------
# shellcheck disable=SC2086
install -d -m 0700 $DAEMON_OWNS "$DESTDIR/var/lib/calmopsd"
say "state dir /var/lib/calmopsd"

# -- nginx files' directory ---------------------------------------------------------
if [ -d "$DESTDIR/etc/nginx" ]; then
  install -d -m 0755 "$DESTDIR/etc/nginx/calmopsd"
  say "nginx files' directory /etc/nginx/calmopsd (writable to calmopsd-helper)"
fi

# -- venv -------------------------------------------------------------------------
VENV="$DESTDIR/opt/calmopsd/venv"
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  if [ -n "$DESTDIR" ] || ! command -v apt-get >/dev/null; then
    die "$PYTHON has no venv module: apt-get install python3-venv"
  fi
  say "installing python3-venv"
  apt-get update && apt-get install -y python3-venv
fi
install -d -m 0755 "$DESTDIR/opt/calmopsd"
if [ -x "$VENV/bin/python" ]; then say "venv /opt/calmopsd/venv exists"; else
  "$PYTHON" -m venv "$VENV"
  say "made venv /opt/calmopsd/venv"
fi
# The compiled log scanner (setup.py) wants a C compiler and Python's headers; without them
# calmopsd installs and counts logs in Python, more slowly.
INCLUDE=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if ! command -v cc >/dev/null || [ ! -f "$INCLUDE/Python.h" ]; then
  if [ -z "$DESTDIR" ] && command -v apt-get >/dev/null; then
    say "installing gcc and python3-dev (to build the log scanner)"
    apt-get update && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y --no-install-recommends gcc libc6-dev python3-dev
  else
    say "no C compiler or Python headers: logs will be counted without the compiled scanner"
  fi
fi
# Built from a copy, so the build writes nothing into the source tree (nor takes a scanner
# built there for another Python).
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
(cd "$SRC" && tar -cf - --exclude=__pycache__ --exclude='*.so' \
  pyproject.toml setup.cfg setup.py README.md calmopsd config) |
  (cd "$BUILD" && tar -xf -)
# shellcheck disable=SC2086  # PIP_FLAGS are several flags on purpose
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade $PIP_FLAGS "$BUILD"
# The unit runs Python with PYTHONOPTIMIZE=2, whose .opt-2.pyc files the service user
# cannot write: made here, or each start would compile every module in memory.
"$VENV/bin/python" -OO -m compileall -q -j 0 "$VENV/lib" >/dev/null
say "installed calmopsd $("$VENV/bin/python" -c 'import calmopsd; print(calmopsd.__version__)') into /opt/calmopsd/venv"
install -m 0644 "$SRC/README.md" "$DESTDIR/opt/calmopsd/README.md"
install -d -m 0755 "$DESTDIR/usr/local/bin"
LINK="$DESTDIR/usr/local/bin/calmopsd"
if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
  say "kept /usr/local/bin/calmopsd: not a symlink, so not ours (the CLI is /opt/calmopsd/venv/bin/calmopsd)"
else
  ln -sfn /opt/calmopsd/venv/bin/calmopsd "$LINK"
  say "CLI /usr/local/bin/calmopsd -> /opt/calmopsd/venv/bin/calmopsd"
fi

# -- units ------------------------------------------------------------------------
install -d -m 0755 "$DESTDIR/etc/systemd/system"
for unit in calmopsd.service calmopsd-helper.service; do
  install -m 0644 "$SRC/systemd/$unit" "$DESTDIR/etc/systemd/system/$unit"
  say "unit /etc/systemd/system/$unit"
done
# sd_booted(3): systemd runs as PID 1 exactly when /run/systemd/system exists.
if [ ! -d /run/systemd/system ]; then
  say "skipped systemctl daemon-reload: systemd is not running (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown)); run it once systemd runs"
elif [ -n "$DESTDIR" ]; then
  say "skipped systemctl daemon-reload: DESTDIR is set (files staged only)"
else
  systemctl daemon-reload
  say "systemctl daemon-reload"
fi

say "done. Next: edit /etc/calmopsd/calmops.yaml, calmopsd check-config it, then"
say "  systemctl enable --now calmopsd   (starts calmopsd-helper with it)"
say "  after an upgrade: systemctl restart calmopsd-helper calmopsd"
