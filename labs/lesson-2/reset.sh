#!/usr/bin/env bash
# `chaos-lab reset lesson-2`: puts chapter 2 back as a new learner finds it. Runs as root in the VM, after
# chaos-lab has copied the learner's work to the host. Uses the provisioning files already in the VM.
set -euo pipefail
prov=/var/lib/chaos-lab/provisioning
lessons=/var/lib/chaos-lab/lessons
learner=${CHAOS_LAB_USER:-chaos}
units=(faas001_a faas001_b)

if [[ ! -f $prov/steps/chapter2.sh ]]; then
  echo "this machine was not provisioned by chaos-lab ($prov is missing): run chaos-lab provision first" >&2
  exit 3
fi
home=$(getent passwd "$learner" | cut -d: -f6)
[[ -n $home ]] || { echo "user $learner does not exist: run chaos-lab provision first" >&2; exit 3; }

# 1. The learner's overrides of the units (systemctl edit drop-ins) go, and systemd forgets them.
for unit in "${units[@]}"; do
  rm -rf -- "/etc/systemd/system/$unit.service.d" "/run/systemd/system/$unit.service.d"
done
systemctl daemon-reload
echo "removed drop-ins of ${units[*]}"

# 2. The chapter folder as provisioned: the learner's own files go (they are in the backup).
chapter=$home/src/examples/killer-whiles
if [[ -d $chapter ]]; then
  find "$chapter" -mindepth 1 -delete
  echo "emptied $chapter"
fi

# 3. The chapter2 step in reset mode: the pristine answer sheet, unit files, nginx config and scripts come
#    back, the programs are rebuilt, and the services are started.
CHAOS_LAB_RESET=1 CHAOS_LAB_USER=$learner CHAOS_LAB_PROFILE=${CHAOS_LAB_PROFILE:-headless} bash "$prov/steps/chapter2.sh"

# 4. Both instances fresh, their start-limit counters cleared; nginx with the original config.
systemctl reset-failed "${units[@]/%/.service}" 2>/dev/null || true
systemctl restart "${units[@]/%/.service}" nginx.service
echo "restarted ${units[*]} and nginx"

# 5. A new start for the lesson: kernel-log evidence from before this moment no longer counts.
mkdir -p "$lessons"
date +%s >"$lessons/lesson-2.started"
echo "lesson-2 starts again at $(date -u +%FT%TZ)"
