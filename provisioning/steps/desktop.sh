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
# shellcheck source=../lib/clipboard.sh
. "$PROV_DIR/lib/clipboard.sh"

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
# The profile this VM was provisioned with, for `chaos-lab check` (checks that only apply to one profile).
# CHAOS_LAB_PROFILE_MARKER moves it, for tests.
profile_marker=${CHAOS_LAB_PROFILE_MARKER:-$CHAOS_LAB_STATE_DIR/profile}
mkdir -p "$(dirname "$profile_marker")"
printf '%s\n' "$LAB_PROFILE" >"$profile_marker"
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

# GNOME Terminal refuses to start in a locale that is not UTF-8, and a minimal box may name no locale at all
# (the session then runs in "C"). C.UTF-8 is built into the C library on every supported release.
if ! grep -qsE '^LANG=' /etc/default/locale; then
  printf 'LANG=C.UTF-8\n' >>/etc/default/locale
  log "wrote LANG=C.UTF-8 to /etc/default/locale (none was set; GNOME Terminal needs a UTF-8 locale)"
elif ! grep -qsiE '^LANG="?[^"]*\.utf-?8"?$' /etc/default/locale; then
  warn "LANG in /etc/default/locale is not a UTF-8 locale: GNOME Terminal will not start (set LANG=C.UTF-8 there)"
fi

# GNOME's first-login wizard would stand between the learner and the terminal.
ensure_dir "$lab_home/.config" 0755 "$LAB_USER"
printf 'yes\n' | install_content "$lab_home/.config/gnome-initial-setup-done" 0644 "$LAB_USER"

# ------------------------------------------------------------------------------------------------ OOM: the kernel's, as the book shows it
# Chapter 2 runs mystery001 in a terminal until the kernel's OOM killer ends it, and reads the kill in dmesg.
# Ubuntu's desktop runs systemd-oomd, which kills whole cgroups under memory pressure before the kernel does (no
# "Killed process … (mystery001)" line then), and systemd's DefaultOOMPolicy=stop stops the unit of a process
# the kernel killed (a terminal's scope since systemd 253): the learner's terminal would vanish with it.
for unit in systemd-oomd.service systemd-oomd.socket; do
  state=$(systemctl is-enabled "$unit" 2>/dev/null || true)
  case $state in
    '' | not-found | masked) ;;
    *)
      systemctl mask --now "$unit" >/dev/null 2>&1 || systemctl mask "$unit" >/dev/null
      log "masked $unit (it would kill mystery001's whole terminal before the kernel's OOM killer)"
      ;;
  esac
done
if systemctl is-active --quiet systemd-oomd.service; then
  systemctl stop systemd-oomd.service || die "could not stop systemd-oomd"
  log "stopped systemd-oomd"
fi
install_file "$PROV_DIR/files/desktop/oom-policy.conf" /etc/systemd/system.conf.d/50-chaos-lab-oom.conf 0644 root:root
if [[ $FILE_CHANGED == yes || $(systemctl show -p DefaultOOMPolicy --value) != continue ]]; then
  # The manager reads system.conf.d when it starts (a re-exec keeps every unit running).
  systemctl daemon-reexec
  log "re-executed the system manager to read DefaultOOMPolicy=continue"
fi
oom_policy=$(systemctl show -p DefaultOOMPolicy --value)
[[ $oom_policy == continue ]] || die "the system manager still has DefaultOOMPolicy=$oom_policy after a re-exec (look for another DefaultOOMPolicy in /etc/systemd/system.conf and system.conf.d)"
install_file "$PROV_DIR/files/desktop/oom-policy.conf" /etc/systemd/user.conf.d/50-chaos-lab-oom.conf 0644 root:root
# A user manager reads user.conf.d when it starts: the learner's, if running now, is re-executed too.
lab_uid=$(id -u "$LAB_USER")
if systemctl is-active --quiet "user@$lab_uid.service"; then
  user_policy() { runuser -u "$LAB_USER" -- env XDG_RUNTIME_DIR="/run/user/$lab_uid" systemctl --user show -p DefaultOOMPolicy --value 2>/dev/null || true; }
  if [[ $(user_policy) != continue ]]; then
    runuser -u "$LAB_USER" -- env XDG_RUNTIME_DIR="/run/user/$lab_uid" systemctl --user daemon-reexec ||
      die "could not re-execute the user manager of $LAB_USER"
    [[ $(user_policy) == continue ]] || die "the user manager of $LAB_USER does not take DefaultOOMPolicy=continue (systemd too old?)"
    log "re-executed the user manager of $LAB_USER to read DefaultOOMPolicy=continue"
  fi
fi

# ------------------------------------------------------------------------------------------------ shared clipboard
# lib/clipboard.sh: the Guest Additions' X11 setup, or the distribution's agent package, or a clear warning.
setup_clipboard_agent
printf '%s\n' "$CLIPBOARD_AGENT" >"$CHAOS_LAB_STATE_DIR/clipboard-agent"

# ------------------------------------------------------------------------------------------------ boot into it
# learner_desktop_running: succeeds when a user (not GDM's greeter) has a graphical session.
learner_desktop_running() {
  local id class type
  while read -r id _; do
    [[ -n $id ]] || continue
    class=$(loginctl show-session "$id" -p Class --value 2>/dev/null || true)
    type=$(loginctl show-session "$id" -p Type --value 2>/dev/null || true)
    if [[ $class == user && $type =~ ^(x11|wayland|mir)$ ]]; then return 0; fi
  done < <(loginctl list-sessions --no-legend 2>/dev/null || true)
  return 1
}

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
elif ! learner_desktop_running; then
  # GDM reads auto-login when it starts: one already showing its login screen (a box whose desktop was
  # installed before, or a learner who logged out) would wait for a password. No user's session runs under it.
  systemctl restart display-manager.service || die "could not restart the display manager"
  log "restarted the display manager (it showed its login screen) so that it logs $LAB_USER in"
elif [[ $gdm_changed == yes ]]; then
  log "auto-login takes effect at the next boot (GDM is not restarted under a running session)"
fi

step_end
