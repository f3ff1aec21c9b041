#!/usr/bin/env bash
# Step "desktop": a GNOME desktop with auto-login for the learner and no screen lock (profile "desktop" only).
#   desktop.sh              install and configure (skipped unless CHAOS_LAB_PROFILE=desktop)
#   desktop.sh --simulate   only `apt-get install --simulate` of this distribution's package set; exits with its status
set -euo pipefail
# shellcheck disable=SC2034 # STEP is used by lib/common.sh
STEP=desktop
PROV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../lib/common.sh
. "$PROV_DIR/lib/common.sh"

# desktop_packages DISTRO: the package names for DISTRO from lib/desktop-packages.txt.
desktop_packages() {
  awk -F: -v d="$1" '/^[[:space:]]*(#|$)/ { next } $1 == d { gsub(/[[:space:]]/, "", $2); print $2 }' \
    "$PROV_DIR/lib/desktop-packages.txt"
}

simulate() {
  check_env
  detect_distro
  local pkgs=()
  mapfile -t pkgs < <(desktop_packages "$DISTRO_ID")
  ((${#pkgs[@]} > 0)) || die "no desktop packages listed for $DISTRO_ID in lib/desktop-packages.txt"
  if [[ $(id -u) -eq 0 ]]; then
    mkdir -p "$CHAOS_LAB_STATE_DIR" "$CHAOS_LAB_LOG_DIR"
    apt_lists_fresh || apt_update || die "apt-get update failed (see $CHAOS_LAB_APT_LOG)"
  fi
  log "simulating the install of: ${pkgs[*]}"
  local out rc=0
  out=$(apt-get install --simulate --no-install-recommends "${pkgs[@]}" 2>&1) || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "$out" | tail -n 20 >&2
    die "apt-get install --simulate failed (exit $rc) for $DISTRO_ID: ${pkgs[*]}"
  fi
  log "$(grep -E '^[0-9]+ upgraded' <<<"$out" || echo 'simulation succeeded')"
  exit 0
}

if [[ ${1:-} == --simulate ]]; then
  simulate
elif [[ $# -gt 0 ]]; then
  die "unknown argument '$1' (usage: desktop.sh [--simulate])"
fi

check_env
if [[ $LAB_PROFILE != desktop ]]; then
  log "skipped (headless profile)"
  exit 0
fi

step_begin
detect_distro
require_systemd
getent passwd "$LAB_USER" >/dev/null || die "user $LAB_USER does not exist (run the base step first)"
lab_home=$(user_home "$LAB_USER")

mapfile -t packages < <(desktop_packages "$DISTRO_ID")
((${#packages[@]} > 0)) || die "no desktop packages listed for $DISTRO_ID in lib/desktop-packages.txt"
apt_install "${packages[@]}"

# ------------------------------------------------------------------------------------------------ auto-login
case $DISTRO_ID in
  ubuntu) gdm_conf=/etc/gdm3/custom.conf ;;
  debian) gdm_conf=/etc/gdm3/daemon.conf ;;
esac
render_template "$PROV_DIR/files/desktop/gdm.conf" >"$STEP_TMP/gdm.conf"
install_file "$STEP_TMP/gdm.conf" "$gdm_conf" 0644 root:root
gdm_changed=$FILE_CHANGED

# ------------------------------------------------------------------------------------------------ no screen lock
dconf_changed=no
install_file "$PROV_DIR/files/desktop/dconf-profile-user" /etc/dconf/profile/user 0644 root:root
[[ $FILE_CHANGED == no ]] || dconf_changed=yes
install_file "$PROV_DIR/files/desktop/dconf-00-chaos-lab" /etc/dconf/db/local.d/00-chaos-lab 0644 root:root
[[ $FILE_CHANGED == no ]] || dconf_changed=yes
if [[ $dconf_changed == yes || ! -f /etc/dconf/db/local ]]; then
  dconf update
  log "compiled the dconf system database"
fi

# GNOME's first-login wizard would stand between the learner and the terminal.
ensure_dir "$lab_home/.config" 0755 "$LAB_USER"
printf 'yes\n' | install_content "$lab_home/.config/gnome-initial-setup-done" 0644 "$LAB_USER"

# ------------------------------------------------------------------------------------------------ boot into it
if [[ $(systemctl get-default) != graphical.target ]]; then
  systemctl set-default graphical.target
  log "default boot target: graphical.target"
fi
# gdm.service (alias display-manager.service) is GDM's unit on both distributions; gdm3.service is a link to it.
ensure_unit_enabled gdm.service
if ! unit_active display-manager.service; then
  if systemctl start display-manager.service; then
    log "started the display manager"
  else
    warn "the display manager did not start now; it starts at the next boot"
  fi
elif [[ $gdm_changed == yes ]]; then
  log "auto-login takes effect at the next boot (GDM is not restarted under a running session)"
fi

step_end
