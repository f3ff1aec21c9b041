#!/bin/bash
# cgroup_facts.sh GROUP: what the kernel says about one control group of chapter 3 (formulaone, formulatwo), for
# `chaos-lab check lesson-3`. Root-owned, read-only: it changes nothing. One "key: value" line each:
#   layout (v2, or v1 on a cgroup v1/hybrid machine), exists, cpu (the cpu controller governs it), procs (how many
#   processes are in it now), usage_usec (CPU time used by everything that ever ran in it), weight (v2 cpu.weight;
#   v1 cpu.shares), max (v2 cpu.max; v1 cpu.cfs_quota_us and cpu.cfs_period_us).
set -u
group=${1:?usage: cgroup_facts.sh GROUP}
case $group in *[!a-z0-9_-]*) echo "cgroup_facts.sh: bad group name $group" >&2; exit 2 ;; esac
root=/sys/fs/cgroup
if [[ -f $root/cgroup.controllers ]]; then
  dir=$root/$group
  echo "layout: v2"
  if [[ ! -d $dir ]]; then echo "exists: no"; exit 0; fi
  echo "exists: yes"
  if [[ -f $dir/cpu.weight ]]; then echo "cpu: yes"; else echo "cpu: no"; fi
  echo "procs: $(wc -l <"$dir/cgroup.procs")"
  echo "usage_usec: $(awk '$1 == "usage_usec" {print $2}' "$dir/cpu.stat")"
  [[ -f $dir/cpu.weight ]] && echo "weight: $(cat "$dir/cpu.weight")"
  [[ -f $dir/cpu.max ]] && echo "max: $(cat "$dir/cpu.max")"
else
  # cgroup v1 (Ubuntu 20.04's hybrid layout): cpu and cpuacct are mounted together as cpu,cpuacct.
  dir=$root/cpu/$group
  acct=$root/cpuacct/$group
  echo "layout: v1"
  if [[ ! -d $dir ]]; then echo "exists: no"; exit 0; fi
  echo "exists: yes"
  echo "cpu: yes"
  echo "procs: $(wc -l <"$dir/cgroup.procs")"
  [[ -f $acct/cpuacct.usage ]] && echo "usage_usec: $(($(cat "$acct/cpuacct.usage") / 1000))"
  echo "weight: $(cat "$dir/cpu.shares")"
  echo "max: $(cat "$dir/cpu.cfs_quota_us") $(cat "$dir/cpu.cfs_period_us")"
fi
