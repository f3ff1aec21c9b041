# shellcheck shell=bash
# The shared clipboard of the desktop profile (sourced by steps/desktop.sh after lib/common.sh; functions only).
#
# Copy and paste between the host and the VM needs an agent in the learner's X11 session: VirtualBox's
# `VBoxClient --clipboard` (the Guest Additions' X11 part) or, on QEMU/KVM with SPICE graphics (libvirt),
# spice-vdagent. Box builders install the Guest Additions on a server without X, so their X11 part (the autostart
# entry that starts VBoxClient in every session) was skipped: a desktop added later has no clipboard until it runs.
#
# Overridable for tests: CHAOS_LAB_VBOX_GA_GLOB (where the Guest Additions' init scripts are looked for) and
# CHAOS_LAB_VBOX_AUTOSTART (the autostart entry their X11 setup writes).

VBOX_GA_GLOB=${CHAOS_LAB_VBOX_GA_GLOB:-/opt/VBoxGuestAdditions-*/init/vboxadd-x11}
VBOX_AUTOSTART=${CHAOS_LAB_VBOX_AUTOSTART:-/etc/xdg/autostart/vboxclient.desktop}

# vbox_x11_setup: prints the Guest Additions' X11 setup script (rcvboxadd-x11, or the newest
# /opt/VBoxGuestAdditions-*/init/vboxadd-x11), if the Guest Additions are installed.
vbox_x11_setup() {
  local found
  found=$(PATH="$PATH:/usr/sbin:/sbin" command -v rcvboxadd-x11 2>/dev/null || true)
  if [[ -z $found ]]; then
    # shellcheck disable=SC2086 # a glob
    found=$(compgen -G "$VBOX_GA_GLOB" | sort -V | tail -n 1 || true)
  fi
  printf '%s' "$found"
}

# apt_candidate PKG: succeeds when this distribution and architecture have PKG in the package lists.
apt_candidate() {
  local candidate
  candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
  [[ -n $candidate && $candidate != '(none)' ]]
}

# setup_clipboard_agent: sets CLIPBOARD_AGENT to VBoxClient, spice-vdagent or none, after
#   1. the Guest Additions present: running their X11 setup (once: its autostart entry marks it done);
#   2. else VirtualBox: the distribution's virtualbox-guest-x11, QEMU/KVM: spice-vdagent, where the archive has it
#      for this architecture;
#   3. else a warning that says why there is no shared clipboard and what to do.
setup_clipboard_agent() {
  local x11_setup virt agent_package='' log_file="$CHAOS_LAB_LOG_DIR/vboxadd-x11.log"
  CLIPBOARD_AGENT=none
  x11_setup=$(vbox_x11_setup)
  if [[ -n $x11_setup ]]; then
    CLIPBOARD_AGENT=VBoxClient
    if [[ -f $VBOX_AUTOSTART ]]; then
      log "VirtualBox Guest Additions: X11 services already set up ($VBOX_AUTOSTART)"
      return 0
    fi
    log "VirtualBox Guest Additions: running their X11 setup ($x11_setup setup)"
    mkdir -p "$CHAOS_LAB_LOG_DIR"
    "$x11_setup" setup >>"$log_file" 2>&1 || die "the Guest Additions' X11 setup failed: $(tail -n 5 "$log_file")"
    if [[ -f $VBOX_AUTOSTART ]]; then
      log "shared clipboard: VBoxClient --clipboard starts in the learner's session ($VBOX_AUTOSTART)"
    else
      warn "the Guest Additions' X11 setup left no $VBOX_AUTOSTART: VBoxClient --clipboard will not start in the session (log: $log_file)"
    fi
    return 0
  fi
  virt=$(systemd-detect-virt --vm 2>/dev/null || true)
  case $virt in
    oracle) agent_package=virtualbox-guest-x11 CLIPBOARD_AGENT=VBoxClient ;;
    kvm | qemu) agent_package=spice-vdagent CLIPBOARD_AGENT=spice-vdagent ;;
  esac
  if [[ -z $agent_package ]]; then
    warn "no shared clipboard: chaos-lab knows no clipboard agent for this machine (virtualization: ${virt:-none}); copy and paste between your computer and the VM will not work"
    CLIPBOARD_AGENT=none
    return 0
  fi
  if [[ -n $(apt_missing "$agent_package") ]]; then
    apt_lists_fresh || apt_update || true
    if ! apt_candidate "$agent_package"; then
      warn "no shared clipboard: neither the VirtualBox Guest Additions (no rcvboxadd-x11) nor the package $agent_package for ${DISTRO_PRETTY:-this distribution} on $(dpkg --print-architecture 2>/dev/null || uname -m) is available; install the Guest Additions (VirtualBox menu Devices > Insert Guest Additions CD image, run VBoxLinuxAdditions.run in the VM), then run chaos-lab provision again"
      CLIPBOARD_AGENT=none
      return 0
    fi
  fi
  apt_install "$agent_package"
  log "shared clipboard: $CLIPBOARD_AGENT (package $agent_package) starts in the learner's session"
}
