#!/usr/bin/env bash
# `chaos-lab reset lesson-3`: puts chapter 3 back as a new learner finds it. Runs as root in the VM, after
# chaos-lab has copied the learner's work to the host. Uses the provisioning files already in the VM.
set -euo pipefail
prov=/var/lib/chaos-lab/provisioning
lessons=/var/lib/chaos-lab/lessons
learner=${CHAOS_LAB_USER:-chaos}

if [[ ! -f $prov/steps/chapter3.sh ]]; then
  echo "this machine was not provisioned with chapter 3 ($prov/steps/chapter3.sh is missing): run chaos-lab provision --chapters 3 first" >&2
  exit 3
fi
home=$(getent passwd "$learner" | cut -d: -f6)
[[ -n $home ]] || { echo "user $learner does not exist: run chaos-lab provision first" >&2; exit 3; }

# 1. The fix's cgroups go: whatever still runs in them is stopped first (a cgroup with processes cannot be removed).
for group in formulaone formulatwo; do
  for dir in "/sys/fs/cgroup/$group" "/sys/fs/cgroup/cpu/$group" "/sys/fs/cgroup/cpuacct/$group"; do
    [[ -d $dir ]] || continue
    for _ in 1 2 3 4 5; do
      pids=$(cat "$dir/cgroup.procs")
      [[ -n $pids ]] || break
      # shellcheck disable=SC2086 # one PID per word
      kill -KILL $pids 2>/dev/null || true
      sleep 1
    done
    rmdir "$dir"
    echo "removed the cgroup $dir"
  done
done

# 2. The chapter folder as provisioned: the learner's own files go (they are in the backup).
chapter=$home/src/examples/busy-neighbours
if [[ -d $chapter ]]; then
  find "$chapter" -mindepth 1 -delete
  echo "emptied $chapter"
fi

# 3. The chapter3 step in reset mode: the pristine answer sheet and scripts come back.
CHAOS_LAB_RESET=1 CHAOS_LAB_USER=$learner CHAOS_LAB_PROFILE=${CHAOS_LAB_PROFILE:-headless} bash "$prov/steps/chapter3.sh"

# 4. A new start for the lesson: sudo's log of the fix from before this moment no longer counts.
mkdir -p "$lessons"
date +%s >"$lessons/lesson-3.started"
echo "lesson-3 starts again at $(date -u +%FT%TZ)"
