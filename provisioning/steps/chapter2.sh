#!/usr/bin/env bash
# Step "chapter2": the mystery programs, FizzBuzz as a Service (two systemd units behind nginx on port 8003),
# the experiment scripts and the lesson 2 answer sheet. Files the learner may edit are kept when edited (the
# pristine copies live under /var/lib/chaos-lab/pristine); CHAOS_LAB_RESET=1 puts the pristine copies back.
# inputs: files/fizzbuzz files/systemd files/nginx files/answers files/experiments files/sysctl
set -euo pipefail
# shellcheck disable=SC2034 # STEP is used by lib/common.sh
STEP=chapter2
PROV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=$PROV_DIR/files
# shellcheck source=../lib/common.sh
. "$PROV_DIR/lib/common.sh"

UNITS=(faas001_a faas001_b)
FIZZBUZZ_DIR=/opt/chaos-lab/fizzbuzz
NGINX_CONF=/etc/nginx/conf.d/fizzbuzz.conf
# chaos-lab's own chapter 2 tools, root-owned (the learner cannot change what `chaos-lab check lesson-2` runs):
# the sturdy killer of the experiment and mystery000 built from the pristine source (the truth of its answers).
TOOLS_DIR=/opt/chaos-lab/chapter2
DMESG_CONF=/etc/sysctl.d/60-chaos-lab-dmesg.conf

step_begin
detect_distro
require_systemd
getent passwd "$LAB_USER" >/dev/null || die "user $LAB_USER does not exist (run the base step first)"
lab_home=$(user_home "$LAB_USER")
chapter_dir=$lab_home/src/examples/killer-whiles

apt_install gcc libc6-dev make nginx python3 apache2-utils curl

# ------------------------------------------------------------------------------------------------ chapter folder
for dir in "$lab_home/src" "$lab_home/src/examples" "$chapter_dir"; do
  ensure_dir "$dir" 0755 "$LAB_USER"
done
for name in mystery000.c mystery001.c README.md; do
  install_learner_file "$FILES/chapter2/$name" "$chapter_dir/$name" 0644 "$LAB_USER" "chapter2/$name"
done
for name in run_ab.sh cereal_killer.sh killer_while.sh; do
  install_learner_file "$FILES/chapter2/$name" "$chapter_dir/$name" 0755 "$LAB_USER" "chapter2/$name"
done

# Build as the learner, only when the binary is missing or older than its source.
for prog in mystery000 mystery001; do
  if [[ ! -x $chapter_dir/$prog || $chapter_dir/$prog.c -nt $chapter_dir/$prog ]]; then
    (cd "$chapter_dir" && runuser -u "$LAB_USER" -- gcc -O0 -o "$prog" "$prog.c") || die "gcc could not build $prog"
    log "built $chapter_dir/$prog"
  fi
done

# ------------------------------------------------------------------------------------------------ chaos-lab's tools
ensure_dir /opt/chaos-lab 0755 root:root
ensure_dir "$TOOLS_DIR" 0755 root:root
install_file "$FILES/experiments/sturdy_killer_while.sh" "$TOOLS_DIR/sturdy_killer_while.sh" 0755 root:root
install_file "$FILES/chapter2/mystery000.c" "$TOOLS_DIR/mystery000.c" 0644 root:root
if [[ $FILE_CHANGED == yes || ! -x $TOOLS_DIR/mystery000 ]]; then
  gcc -O0 -o "$TOOLS_DIR/mystery000.new" "$TOOLS_DIR/mystery000.c" || die "gcc could not build $TOOLS_DIR/mystery000"
  chmod 0755 "$TOOLS_DIR/mystery000.new"
  mv -f -- "$TOOLS_DIR/mystery000.new" "$TOOLS_DIR/mystery000"
  log "built $TOOLS_DIR/mystery000 (the pristine build: check lesson-2 computes its truth from it)"
fi

# ------------------------------------------------------------------------------------------------ kernel log
# The book's `dmesg | grep -i mystery001` as user chaos: its 20.04 VM let users read the kernel log.
install_file "$FILES/sysctl/60-chaos-lab-dmesg.conf" "$DMESG_CONF" 0644 root:root
if [[ $FILE_CHANGED == yes || $(cat /proc/sys/kernel/dmesg_restrict 2>/dev/null || echo 0) != 0 ]]; then
  if sysctl -q -p "$DMESG_CONF" 2>/dev/null; then
    log "kernel.dmesg_restrict = 0: every user can read the kernel log"
  elif [[ -w /proc/sys/kernel/dmesg_restrict ]]; then
    die "could not apply $DMESG_CONF: $(sysctl -p "$DMESG_CONF" 2>&1 | head -n 1)"
  else
    # A container shares its host's kernel and may not change its settings; the file applies on a VM's boot.
    warn "could not set kernel.dmesg_restrict = 0 here (/proc/sys is read-only: a container?): dmesg needs sudo"
  fi
fi

# ------------------------------------------------------------------------------------------------ FizzBuzz API
ensure_dir "$FIZZBUZZ_DIR" 0755 root:root
install_file "$FILES/fizzbuzz/fizzbuzz_api.py" "$FIZZBUZZ_DIR/fizzbuzz_api.py" 0755 root:root
api_changed=$FILE_CHANGED

units_changed=()
for unit in "${UNITS[@]}"; do
  render_template "$FILES/systemd/$unit.service" >"$STEP_TMP/$unit.service"
  install_learner_file "$STEP_TMP/$unit.service" "/etc/systemd/system/$unit.service" 0644 root:root "systemd/$unit.service"
  [[ $FILE_CHANGED == no ]] || units_changed+=("$unit")
done
if ((${#units_changed[@]} > 0)); then
  systemctl daemon-reload
  log "systemd reloaded"
fi
for unit in "${UNITS[@]}"; do
  ensure_unit_enabled "$unit.service"
  if unit_active "$unit" && { [[ $api_changed == yes ]] || [[ " ${units_changed[*]-} " == *" $unit "* ]]; }; then
    systemctl restart "$unit"
    log "restarted $unit (its program or unit file changed)"
  fi
  ensure_unit_running "$unit.service"
done

# ------------------------------------------------------------------------------------------------ nginx on 8003
nginx_backup=
if [[ -f $NGINX_CONF ]]; then
  nginx_backup=$STEP_TMP/fizzbuzz.conf.bak
  cp -p -- "$NGINX_CONF" "$nginx_backup"
fi
install_learner_file "$FILES/nginx/fizzbuzz.conf" "$NGINX_CONF" 0644 root:root nginx/fizzbuzz.conf
nginx_changed=$FILE_CHANGED
if [[ $nginx_changed == yes ]] && ! nginx_err=$(nginx -t -q 2>&1); then
  if [[ -n $nginx_backup ]]; then cp -p -- "$nginx_backup" "$NGINX_CONF"; else rm -f -- "$NGINX_CONF"; fi
  die "nginx -t rejected the configuration ($NGINX_CONF reverted): $nginx_err"
fi
ensure_unit_enabled nginx.service
if ! unit_active nginx; then
  ensure_unit_running nginx.service
elif [[ $nginx_changed == yes ]]; then
  systemctl reload nginx
  log "reloaded nginx"
fi

# ------------------------------------------------------------------------------------------------ answer sheet
ensure_dir "$lab_home/answers" 0755 "$LAB_USER"
answers=$lab_home/answers/lesson-2.yaml
if [[ ! -e $answers || ${CHAOS_LAB_RESET:-0} == 1 ]]; then
  install_file "$FILES/answers/lesson-2.yaml" "$answers" 0644 "$LAB_USER"
else
  log "kept $answers (never overwritten: it holds the learner's answers)"
fi
install_file "$FILES/answers/lesson-2.yaml" "$CHAOS_LAB_PRISTINE_DIR/answers/lesson-2.yaml" 0644 root:root
PRISTINE_MANIFEST_LINES+=("$(printf '%s\t%s\t%s\t%s' answers/lesson-2.yaml "$answers" 0644 "$LAB_USER")")
write_pristine_manifest chapter2

# The lesson starts now, for `chaos-lab check lesson-2`: kernel-log evidence older than this does not count.
# Written once; `chaos-lab reset lesson-2` writes it again.
ensure_dir "$CHAOS_LAB_STATE_DIR/lessons" 0755 root:root
if [[ ! -s $CHAOS_LAB_STATE_DIR/lessons/lesson-2.started ]]; then
  date +%s >"$CHAOS_LAB_STATE_DIR/lessons/lesson-2.started"
  log "lesson-2 starts now"
fi

# ------------------------------------------------------------------------------------------------ check
fizzbuzz_ok() {
  local out
  out=$(curl -fsS --max-time 3 "http://127.0.0.1:$1/api/v1/fizzbuzz/15" 2>/dev/null) && [[ $out == *'"FizzBuzz"'* ]]
}
for port in 8001 8002 8003; do
  WAIT_TRIES=30 wait_for fizzbuzz_ok "$port" ||
    die "FizzBuzz does not answer on port $port: curl http://127.0.0.1:$port/api/v1/fizzbuzz/15 gives: $(curl -sS --max-time 3 "http://127.0.0.1:$port/api/v1/fizzbuzz/15" 2>&1 | head -c 300)"
done
log "FizzBuzz answers on 8001, 8002 and through nginx on 8003"

step_end
