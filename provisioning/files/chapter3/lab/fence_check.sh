#!/bin/bash
# fence_check.sh: chaos-lab's own run of chapter 3's experiment, for `chaos-lab check lesson-3` (root-owned; it
# never runs the learner's editable scripts). The neighbour (benign.sh's stress line) runs in formulatwo; the job
# (mystery002's pi, with fewer digits so a slow VM finishes in seconds) runs once beside it in formulaone (the
# fence) and once inside formulatwo with it (no fence, the control). For each run it prints how much of one CPU
# the job got (its CPU time over its wall time) and how much the neighbour's group used meanwhile (from
# formulatwo's cpu.stat). The verdict is the check's; this script only measures and puts everything back.
#   SCALE   digits of pi the job computes (default 1200)
#   CONTROL 0 skips the unfenced control run
set -u
SCALE=${SCALE:-1200}
CONTROL=${CONTROL:-1}
[[ $(id -u) == 0 ]] || { echo "fence_check.sh must run as root" >&2; exit 2; }
root=/sys/fs/cgroup
v2=no; [[ -f $root/cgroup.controllers ]] && v2=yes

usage_usec() {
  if [[ $v2 == yes ]]; then awk '$1 == "usage_usec" {print $2}' "$root/$1/cpu.stat"
  else echo $(($(cat "$root/cpuacct/$1/cpuacct.usage") / 1000)); fi
}
now_usec() { echo $(($(date +%s%N) / 1000)); }

for group in formulaone formulatwo; do
  if [[ ! -d $root/$group && ! -d $root/cpu/$group ]]; then
    echo "fence: $group does not exist (create it with: sudo cgcreate -g cpu:/$group)"
    exit 3
  fi
done

work=$(mktemp -d)
neighbour=
stop_neighbour() {
  [[ -n $neighbour ]] && kill -- "-$neighbour" 2>/dev/null
  wait 2>/dev/null
  neighbour=
}
trap 'stop_neighbour; rm -rf "$work"' EXIT

# The noisy neighbour, as benign.sh runs it, in its own process group (so all of stress's workers go at the end).
cd "$work" || exit 3
setsid cgexec -g cpu:/formulatwo stress --cpu 2 -m 1 -d 1 --hdd-bytes 64M --timeout 600 >/dev/null 2>&1 &
neighbour=$!
sleep 3
if ! kill -0 "$neighbour" 2>/dev/null; then echo "fence: the neighbour (stress) did not start"; exit 3; fi

# run_job LABEL GROUP: the job once in GROUP; prints its share of one CPU and the neighbour group's use meanwhile.
run_job() {
  local label=$1 group=$2 u0 t0 u1 t1 out real cpu
  u0=$(usage_usec formulatwo)
  t0=$(now_usec)
  # shellcheck disable=SC2016 # expanded by the job's own shell
  out=$(cgexec -g "cpu:/$group" bash -c '
    echo "in: $(tail -n 1 /proc/self/cgroup | cut -d: -f3)"
    TIMEFORMAT="times: %R %U %S"
    time (echo "scale='"$SCALE"'; 4*a(1)" | bc -l >/dev/null)' 2>&1)
  u1=$(usage_usec formulatwo)
  t1=$(now_usec)
  read -r real cpu < <(awk '/^times:/ {printf "%d %d\n", $2 * 1000, ($3 + $4) * 1000}' <<<"$out")
  echo "$label job ran in: $(sed -n 's/^in: //p' <<<"$out")"
  echo "$label job wall ms: ${real:-0}"
  echo "$label job cpu ms: ${cpu:-0}"
  echo "$label job share of one CPU %: $(( ${real:-0} > 0 ? ${cpu:-0} * 100 / real : 0 ))"
  echo "$label neighbour use in CPUs %: $(( t1 > t0 ? (u1 - u0) * 100 / (t1 - t0) : 0 ))"
}

run_job fenced formulaone
[[ $CONTROL == 0 ]] || run_job unfenced formulatwo
kill -0 "$neighbour" 2>/dev/null && echo "neighbour still running at the end: yes"
stop_neighbour
echo "done"
