#!/usr/bin/env bash
# Step "chapter3": chapter 3 "Observability". The busy neighbours: ~/src/examples/busy-neighbours (mystery002,
# benign.sh, mystery002-cgroups.sh, a README on what cgroup v2 changes), the chapter's tools (sysstat: top's
# companions mpstat, pidstat, sar, iostat; stress; bc; the BCC tools *-bpfcc with the running kernel's headers;
# cgroup-tools), chaos-lab's own root-owned tools for `check lesson-3` in /opt/chaos-lab/chapter3 and the lesson 3
# answer sheet. Files the learner may edit are kept when edited; CHAOS_LAB_RESET=1 puts the pristine copies back.
set -euo pipefail
# shellcheck disable=SC2034 # STEP is used by lib/common.sh
STEP=chapter3
PROV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=$PROV_DIR/files
# shellcheck source=../lib/common.sh
. "$PROV_DIR/lib/common.sh"

# chaos-lab's own chapter 3 tools, root-owned (the learner cannot change what `chaos-lab check lesson-3` runs):
# the cgroup reader, the fence experiment and the pristine benign.sh (the truth of an answer).
TOOLS_DIR=/opt/chaos-lab/chapter3

step_begin
detect_distro
require_systemd
getent passwd "$LAB_USER" >/dev/null || die "user $LAB_USER does not exist (run the base step first)"
lab_home=$(user_home "$LAB_USER")
chapter_dir=$lab_home/src/examples/busy-neighbours

apt_install bc stress sysstat cgroup-tools bpfcc-tools procps

# ------------------------------------------------------------------------------------------------ BCC's kernel headers
# The *-bpfcc tools compile their BPF programs against the running kernel's headers.
kernel=$(uname -r)
headers=linux-headers-$kernel
if [[ -e /lib/modules/$kernel/build/include ]]; then
  :
elif apt-cache show "$headers" >/dev/null 2>&1; then
  apt_install "$headers"
else
  warn "the archive has no $headers for the running kernel (a container shares its host's kernel; a VM may run an older kernel than the archive has: reboot into the newest and provision again): the *-bpfcc tools will not run until it is installed"
fi

# ------------------------------------------------------------------------------------------------ sysstat history
# `sar` without an interval reads the day's history, which Debian and Ubuntu collect only when asked to.
if [[ -f /etc/default/sysstat ]] && grep -q '^ENABLED="false"' /etc/default/sysstat; then
  sed -i 's/^ENABLED="false"/ENABLED="true"/' /etc/default/sysstat
  log "sysstat: history collection on (/etc/default/sysstat)"
fi
if systemctl list-unit-files sysstat.service >/dev/null 2>&1; then
  ensure_unit_enabled sysstat.service
  ensure_unit_running sysstat.service
fi

# ------------------------------------------------------------------------------------------------ chapter folder
for dir in "$lab_home/src" "$lab_home/src/examples" "$chapter_dir"; do
  ensure_dir "$dir" 0755 "$LAB_USER"
done
install_learner_file "$FILES/chapter3/README.md" "$chapter_dir/README.md" 0644 "$LAB_USER" chapter3/README.md
for name in mystery002 benign.sh mystery002-cgroups.sh; do
  install_learner_file "$FILES/chapter3/$name" "$chapter_dir/$name" 0755 "$LAB_USER" "chapter3/$name"
done

# ------------------------------------------------------------------------------------------------ chaos-lab's tools
ensure_dir /opt/chaos-lab 0755 root:root
ensure_dir "$TOOLS_DIR" 0755 root:root
for name in cgroup_facts.sh fence_check.sh; do
  install_file "$FILES/chapter3/lab/$name" "$TOOLS_DIR/$name" 0755 root:root
done
install_file "$FILES/chapter3/benign.sh" "$TOOLS_DIR/benign.sh" 0644 root:root

# ------------------------------------------------------------------------------------------------ answer sheet
ensure_dir "$lab_home/answers" 0755 "$LAB_USER"
answers=$lab_home/answers/lesson-3.yaml
if [[ ! -e $answers || ${CHAOS_LAB_RESET:-0} == 1 ]]; then
  install_file "$FILES/answers/lesson-3.yaml" "$answers" 0644 "$LAB_USER"
else
  log "kept $answers (never overwritten: it holds the learner's answers)"
fi
install_file "$FILES/answers/lesson-3.yaml" "$CHAOS_LAB_PRISTINE_DIR/answers/lesson-3.yaml" 0644 root:root
PRISTINE_MANIFEST_LINES+=("$(printf '%s\t%s\t%s\t%s' answers/lesson-3.yaml "$answers" 0644 "$LAB_USER")")
write_pristine_manifest chapter3

# The lesson starts now, for `chaos-lab check lesson-3`: sudo's log of the fix older than this does not count.
ensure_dir "$CHAOS_LAB_STATE_DIR/lessons" 0755 root:root
if [[ ! -s $CHAOS_LAB_STATE_DIR/lessons/lesson-3.started ]]; then
  date +%s >"$CHAOS_LAB_STATE_DIR/lessons/lesson-3.started"
  log "lesson-3 starts now"
fi

# ------------------------------------------------------------------------------------------------ check
# The book's commands must work on this machine's cgroup layout (v2 on current Ubuntu and Debian): create, use
# and remove a group of chaos-lab's own with cgroup-tools, as the fix does with formulaone and formulatwo.
# On cgroup v2 a group's cpu.weight exists only while the cpu controller is on in its parent: cgcreate turns it
# on, and so does this (systemd may not have yet, early after boot).
if [[ -f /sys/fs/cgroup/cgroup.controllers ]] && ! grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control; then
  echo +cpu >/sys/fs/cgroup/cgroup.subtree_control || warn "could not turn on the cpu controller in /sys/fs/cgroup"
fi
probe=chaos-lab-probe
cgcreate -g "cpu:/$probe" || die "cgcreate -g cpu:/$probe failed: cgroup-tools cannot create a cpu group here"
in_group=$(cgexec -g "cpu:/$probe" cat /proc/self/cgroup | tail -n 1) || in_group="cgexec failed"
cgdelete -g "cpu:/$probe" || warn "could not remove the probe group $probe"
[[ $in_group == *"/$probe" ]] || die "cgexec -g cpu:/$probe ran its command in '$in_group', not in /$probe"
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then layout="cgroup v2"; else layout="cgroup v1"; fi
log "cgcreate and cgexec work ($layout); stress, bc, sysstat and the *-bpfcc tools are installed"

step_end
