#!/bin/bash
# mystery002-cgroups.sh (chapter 3, "Observability"): the same work and the same neighbour, each fenced into a
# control group of its own: formulaone for the work, formulatwo for the neighbour. The kernel then shares the
# CPUs between the two groups, whatever number of processes each runs.
echo "Press [CTRL+C] to stop.."

sudo cgcreate -g cpu:/formulaone
sudo cgcreate -g cpu:/formulatwo

# The completely benign background job, in its own group.
dir=$(dirname "$(readlink -f "$0")")
(sudo cgexec -g cpu:/formulatwo bash "$dir/benign.sh") &
# Ctrl+C ends this script; the neighbour (root's now) is stopped with it. The groups stay, for you to inspect.
stop_neighbour() {
  for procs in /sys/fs/cgroup/formulatwo/cgroup.procs /sys/fs/cgroup/cpu/formulatwo/cgroup.procs; do
    [ -r "$procs" ] && sudo sh -c "kill \$(cat $procs) 2>/dev/null"
  done
}
trap stop_neighbour EXIT

# The actual work, in formulaone.
while :; do
  echo "Calculating pi's 3000 digits..."
  sudo cgexec -g cpu:/formulaone bash -c 'time echo "scale=3000; 4*a(1)" | bc -l | head -n1'
  # Current sudo runs the round in a terminal of its own (use_pty): Ctrl+C ends the round, not this script, so a
  # round ended by a signal (status above 128) ends the script too.
  status=$?
  if ((status > 128)); then exit "$status"; fi
done
