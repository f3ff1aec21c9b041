#!/usr/bin/env bash
# Runs every provisioning step named in steps/ORDER, in that order, and stops at the first that fails.
# Used by the Vagrantfile for a plain `vagrant up`; `chaos-lab up` runs the steps one by one itself.
#   sudo CHAOS_LAB_PROFILE=desktop|headless [CHAOS_LAB_USER=chaos] bash run-all.sh
# Run from anywhere else (e.g. where Vagrant's file provisioner put it: it uploads as the unprivileged SSH user),
# it first installs this folder as /var/lib/chaos-lab/provisioning and runs from there.
set -euo pipefail
PROV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ $(id -u) -ne 0 ]]; then
  echo "[run-all] FAILED: must run as root (sudo env CHAOS_LAB_PROFILE=... bash $0)" >&2
  exit 1
fi

INSTALLED=/var/lib/chaos-lab/provisioning
if [[ $PROV_DIR != "$INSTALLED" ]]; then
  mkdir -p "${INSTALLED%/*}"
  rm -rf "$INSTALLED.new"
  cp -R "$PROV_DIR" "$INSTALLED.new"
  chown -R root:root "$INSTALLED.new"
  rm -rf "$INSTALLED"
  mv "$INSTALLED.new" "$INSTALLED"
  echo "[run-all] installed the provisioning files as $INSTALLED"
  exec bash "$INSTALLED/run-all.sh"
fi

started=$SECONDS
while IFS= read -r step || [[ -n $step ]]; do
  step=${step%%#*}
  step=${step//[[:space:]]/}
  [[ -n $step ]] || continue
  script=$PROV_DIR/steps/$step.sh
  if [[ ! -f $script ]]; then
    echo "[run-all] FAILED: steps/ORDER names '$step' but $script does not exist" >&2
    exit 1
  fi
  if ! bash "$script"; then
    echo "[run-all] FAILED: step '$step' failed; fix the cause and run again (steps are safe to rerun)" >&2
    exit 1
  fi
done <"$PROV_DIR/steps/ORDER"
echo "[run-all] all steps done in $((SECONDS - started))s"
