#!/usr/bin/env bash
# Step "base": packages, the learner account (passwordless sudo, the provisioner's SSH keys), SSH keys only,
# no swap (swap files deleted), and dbus + systemd-logind running. Idempotent: a rerun changes nothing.
# It also points apt at chaos-lab.yaml's aptProxy (or removes that setting): a changed aptProxy reruns this step.
# settings: CHAOS_LAB_APT_PROXY
set -euo pipefail
# shellcheck disable=SC2034 # STEP is used by lib/common.sh
STEP=base
PROV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../lib/common.sh
. "$PROV_DIR/lib/common.sh"

BASE_PACKAGES=(
  gcc make libc6-dev nginx python3 apache2-utils curl git vim net-tools procps man-db manpages manpages-dev
  dbus libpam-systemd psmisc less sudo openssl kmod openssh-server
)

step_begin
detect_distro
require_systemd
log "distribution: $DISTRO_PRETTY"
# cloud-init's first boot installs packages and edits users and sshd settings, as this step does: let it finish.
wait_for_cloud_init

# ------------------------------------------------------------------------------------------------ packages
apt_proxy_sync
apt_install "${BASE_PACKAGES[@]}"
# nginx here serves chapter 2's FizzBuzz on 8003 only: its stock default site would take port 80, which is Apache's
# (WordPress, chapter 4), so it goes (the file stays in sites-available).
if [[ -L /etc/nginx/sites-enabled/default ]]; then
  rm -f -- /etc/nginx/sites-enabled/default
  if unit_active nginx; then systemctl reload nginx; fi
  log "disabled nginx's default site (port 80 is Apache's)"
fi

# ------------------------------------------------------------------------------------------------ the learner
if ! getent passwd "$LAB_USER" >/dev/null; then
  group_opt=(--user-group)
  # A group of that name without the user (left by an earlier account) becomes its primary group.
  if getent group "$LAB_USER" >/dev/null; then group_opt=(--gid "$LAB_USER"); fi
  useradd --create-home --shell /bin/bash "${group_opt[@]}" "$LAB_USER"
  log "created user $LAB_USER"
fi
# Set the password only when the account has none (new or locked): a learner's own password survives a rerun.
current_hash=$(getent shadow "$LAB_USER" | cut -d: -f2)
if [[ -z $current_hash || $current_hash == '!'* || $current_hash == '*'* ]]; then
  printf '%s:%s\n' "$LAB_USER" "$(openssl passwd -6 "${CHAOS_LAB_PASSWORD:-chaos}")" | chpasswd -e
  log "set the password of $LAB_USER"
fi
if [[ $(getent passwd "$LAB_USER" | cut -d: -f7) != /bin/bash ]]; then
  usermod --shell /bin/bash "$LAB_USER"
  log "login shell of $LAB_USER set to /bin/bash"
fi
# sudo, adm (read logs) and systemd-journal (journalctl without sudo), where the groups exist.
for group in sudo adm systemd-journal; do
  if getent group "$group" >/dev/null && ! id -nG "$LAB_USER" | tr ' ' '\n' | grep -qx "$group"; then
    usermod -a -G "$group" "$LAB_USER"
    log "added $LAB_USER to group $group"
  fi
done

sudoers_tmp=$STEP_TMP/sudoers
printf '# chaos-lab: the learner may run anything as root without a password.\n%s ALL=(ALL) NOPASSWD:ALL\n' \
  "$LAB_USER" >"$sudoers_tmp"
visudo -cqf "$sudoers_tmp" || die "visudo rejected the generated sudoers drop-in"
install_file "$sudoers_tmp" /etc/sudoers.d/chaos 0440 root:root
# A changed drop-in is validated together with the whole sudoers configuration.
if [[ $FILE_CHANGED == yes ]] && ! visudo -cq; then
  rm -f /etc/sudoers.d/chaos
  die "visudo -c failed with /etc/sudoers.d/chaos in place; removed it"
fi

# ------------------------------------------------------------------------------------------------ SSH keys
lab_home=$(user_home "$LAB_USER")
login_user=${CHAOS_LAB_LOGIN_USER:-${SUDO_USER:-}}
ensure_dir "$lab_home/.ssh" 0700 "$LAB_USER"
if [[ -z $login_user ]]; then
  warn "neither CHAOS_LAB_LOGIN_USER nor SUDO_USER is set: no SSH keys copied to $LAB_USER"
elif [[ $login_user == "$LAB_USER" ]]; then
  log "the provisioner logs in as $LAB_USER already: authorized_keys left as it is"
else
  login_home=$(user_home "$login_user")
  [[ -n $login_home ]] || die "login user '$login_user' (CHAOS_LAB_LOGIN_USER/SUDO_USER) does not exist"
  src_keys=$login_home/.ssh/authorized_keys
  dest_keys=$lab_home/.ssh/authorized_keys
  if [[ -s $src_keys ]]; then
    # Keep the learner's own keys; add each of the login user's keys that is not there yet.
    merged=$STEP_TMP/authorized_keys
    if [[ -f $dest_keys ]]; then cat -- "$dest_keys" >"$merged"; else : >"$merged"; fi
    if [[ -s $merged && $(tail -c 1 -- "$merged" | wc -l) -eq 0 ]]; then echo >>"$merged"; fi
    while IFS= read -r key || [[ -n $key ]]; do
      [[ -z $key || $key == '#'* ]] && continue
      grep -qxF -- "$key" "$merged" || printf '%s\n' "$key" >>"$merged"
    done <"$src_keys"
    install_file "$merged" "$dest_keys" 0600 "$LAB_USER"
  else
    warn "$src_keys is empty or missing: no SSH keys copied to $LAB_USER"
  fi
fi

# ------------------------------------------------------------------------------------------------ sshd: keys only
sshd_dropin=/etc/ssh/sshd_config.d/50-chaos-lab.conf
if [[ ! -x /usr/sbin/sshd ]]; then
  warn "openssh-server is not installed: skipped the sshd settings"
else
  if ! grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf' /etc/ssh/sshd_config; then
    die "/etc/ssh/sshd_config does not include /etc/ssh/sshd_config.d/*.conf; add 'Include /etc/ssh/sshd_config.d/*.conf' at its top"
  fi
  backup=
  if [[ -f $sshd_dropin ]]; then
    backup=$STEP_TMP/sshd-dropin.bak
    cp -p -- "$sshd_dropin" "$backup"
  fi
  install_file "$PROV_DIR/files/base/50-chaos-lab.conf" "$sshd_dropin" 0644 root:root
  if [[ $FILE_CHANGED == yes ]]; then
    install -d -m 0755 /run/sshd
    if ! sshd_err=$(/usr/sbin/sshd -t 2>&1); then
      if [[ -n $backup ]]; then cp -p -- "$backup" "$sshd_dropin"; else rm -f -- "$sshd_dropin"; fi
      die "sshd -t rejected the configuration (drop-in reverted): $sshd_err"
    fi
    # Reload, never restart: a restart could cut the provisioner's own connection.
    for unit in ssh.service sshd.service; do
      if unit_active "$unit"; then
        systemctl reload "$unit"
        log "reloaded $unit"
        break
      fi
    done
  fi
  install -d -m 0755 /run/sshd
  effective=$(/usr/sbin/sshd -T 2>/dev/null | grep -iE '^(passwordauthentication|kbdinteractiveauthentication) ' || true)
  if grep -qiE ' yes$' <<<"$effective"; then
    die "another sshd setting wins over $sshd_dropin (effective: $(tr '\n' ' ' <<<"$effective")); check /etc/ssh/sshd_config.d/"
  fi
fi

# ------------------------------------------------------------------------------------------------ no swap
# Swap files to delete once swap is off: the active ones, and those the fstab names (Ubuntu's boxes and cloud images
# carry /swap.img, 2-4 GB of the learner's disk), also in lines an earlier run commented out.
swap_files=()
while read -r name type; do
  [[ $type == file ]] && swap_files+=("$name")
done < <(swapon --show=NAME,TYPE --noheadings --raw 2>/dev/null || true)
if [[ -f /etc/fstab ]]; then
  while read -r name; do swap_files+=("$name"); done < <(
    sed -e 's/^# chaos-lab: no swap[^:]*: //' /etc/fstab | awk '!/^[[:space:]]*#/ && $3 == "swap" && $1 ~ "^/" { print $1 }'
  )
fi
swap_units=()
while read -r unit _; do
  [[ $unit == *.swap ]] && swap_units+=("$unit")
done < <(
  systemctl list-units --type=swap --all --plain --no-legend 2>/dev/null || true
  systemctl list-unit-files --type=swap --no-legend 2>/dev/null || true
)
if [[ -n $(swapon --show=NAME --noheadings 2>/dev/null) ]]; then
  swapoff -a
  log "turned swap off"
fi
for unit in $(printf '%s\n' "${swap_units[@]+"${swap_units[@]}"}" | sort -u); do
  if [[ $(systemctl is-enabled "$unit" 2>/dev/null || true) != masked ]]; then
    systemctl mask --quiet "$unit"
    log "masked $unit"
  fi
done
if [[ -f /etc/fstab ]]; then
  awk '!/^[[:space:]]*#/ && $3 == "swap" { print "# chaos-lab: no swap (the OOM lesson needs none): " $0; next } { print }' \
    /etc/fstab >"$STEP_TMP/fstab"
  install_file "$STEP_TMP/fstab" /etc/fstab 0644 root:root
  [[ $FILE_CHANGED == no ]] || systemctl daemon-reload
fi
[[ -z $(swapon --show=NAME --noheadings 2>/dev/null) ]] || die "swap is still active: $(swapon --show --noheadings)"
while IFS= read -r file; do
  # Only regular files: a swap partition (/dev/…) is left alone.
  if [[ -n $file && -f $file && ! -L $file ]]; then
    size=$(du -m -- "$file" | cut -f1)
    rm -f -- "$file"
    log "removed the swap file $file (${size} MB)"
  fi
done < <(printf '%s\n' "${swap_files[@]+"${swap_files[@]}"}" | sort -u)

# ------------------------------------------------------------------------------------------------ dbus + logind
# Without dbus, `systemctl` as a user fails ("Failed to connect to bus"); without logind (libpam-systemd), SSH
# sessions live inside ssh.service, so an OOM kill in a session makes systemd restart sshd.
if ! grep -qs pam_systemd /etc/pam.d/common-session; then
  pam-auth-update --package --enable systemd
  log "enabled pam_systemd in /etc/pam.d/common-session"
fi
for unit in dbus.service systemd-logind.service; do
  ensure_unit_running "$unit"
done

step_end
