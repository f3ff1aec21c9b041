# shellcheck shell=bash
# Shared functions for the chaos-lab provisioning steps. Sourced by every step script; defines functions and
# variables only (no side effects at source time), so tests can source it too.
#
# Environment understood by the steps (see provisioning/README.md for the full contract):
#   CHAOS_LAB_PROFILE      desktop | headless (default headless)
#   CHAOS_LAB_USER         the learner account (default chaos)
#   CHAOS_LAB_PASSWORD     its password, set only when the account is created or has none (default chaos)
#   CHAOS_LAB_LOGIN_USER   the user the provisioner logs in as (default: $SUDO_USER)
#   CHAOS_LAB_RESET        1 = restore the pristine copy of learner-editable files (units, scripts, answer sheet)
#   CHAOS_LAB_APT_PROXY    http(s) URL of a package cache (apt-cacher-ng) every apt run uses; empty = none
#   CHAOS_LAB_OS_RELEASE   os-release file to read (default /etc/os-release; for tests)

CHAOS_LAB_STATE_DIR=/var/lib/chaos-lab
CHAOS_LAB_PRISTINE_DIR=$CHAOS_LAB_STATE_DIR/pristine
CHAOS_LAB_LOG_DIR=/var/log/chaos-lab
CHAOS_LAB_APT_LOG=$CHAOS_LAB_LOG_DIR/apt.log
CHAOS_LAB_APT_STAMP=$CHAOS_LAB_STATE_DIR/apt-update.stamp
# Seconds to wait for another apt/dpkg process (unattended-upgrades, cloud-init) to release its lock.
CHAOS_LAB_APT_LOCK_WAIT=${CHAOS_LAB_APT_LOCK_WAIT:-600}
# Waits before the 2nd, 3rd and 4th try of a failed apt download.
CHAOS_LAB_APT_BACKOFF=${CHAOS_LAB_APT_BACKOFF:-"5 15 45"}
# Package lists younger than this (minutes) are not refreshed before an install.
CHAOS_LAB_APT_FRESH_MINUTES=${CHAOS_LAB_APT_FRESH_MINUTES:-60}
# Seconds to wait for cloud-init to finish a cloud image's first boot before the first apt run.
CHAOS_LAB_CLOUD_INIT_WAIT=${CHAOS_LAB_CLOUD_INIT_WAIT:-900}
# Present once cloud-init is known to be finished in this boot (/run is emptied at every boot).
CHAOS_LAB_CLOUD_INIT_SETTLED=${CHAOS_LAB_CLOUD_INIT_SETTLED:-/run/chaos-lab/cloud-init-settled}
# The apt setting that sends apt's downloads through CHAOS_LAB_APT_PROXY (absent when it is empty).
CHAOS_LAB_APT_PROXY_CONF=${CHAOS_LAB_APT_PROXY_CONF:-/etc/apt/apt.conf.d/01chaos-lab-proxy}

STEP=${STEP:-chaos-lab}
FILE_CHANGED=no

# ---------------------------------------------------------------------------------------------- output

log() { printf '[%s] %s\n' "$STEP" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$STEP" "$*" >&2; }
die() {
  printf '[%s] FAILED: %s\n' "$STEP" "$*" >&2
  exit 1
}

_on_err() {
  local rc=$1 line=$2 cmd=$3
  # Only the step's own shell reports: a failure inside $(...) or <(...) surfaces there too, or is handled.
  [[ $BASHPID == "${STEP_MAIN_PID:-}" ]] || return 0
  printf '[%s] FAILED: command exited %s at %s line %s: %s\n' "$STEP" "$rc" "${BASH_SOURCE[1]##*/}" "$line" "$cmd" >&2
}

_step_cleanup() {
  if [[ -n ${STEP_TMP:-} && -d $STEP_TMP ]]; then rm -rf -- "$STEP_TMP"; fi
}

# step_begin: common start of a step: error trap, temp dir, timing, root check.
step_begin() {
  set -o errtrace
  STEP_MAIN_PID=$BASHPID
  trap '_on_err $? $LINENO "$BASH_COMMAND"' ERR
  trap _step_cleanup EXIT
  STEP_STARTED=$SECONDS
  STEP_TMP=$(mktemp -d)
  export DEBIAN_FRONTEND=noninteractive
  export LC_ALL=C.UTF-8
  check_env
  [[ $(id -u) -eq 0 ]] || die "must run as root (the provisioner runs: sudo -n env ... bash $0)"
  mkdir -p "$CHAOS_LAB_STATE_DIR" "$CHAOS_LAB_LOG_DIR"
  log "start (profile $LAB_PROFILE, user $LAB_USER)"
}

step_end() {
  log "done in $((SECONDS - STEP_STARTED))s"
}

# ---------------------------------------------------------------------------------------------- environment

# check_env: validates the environment and sets LAB_USER and LAB_PROFILE.
check_env() {
  LAB_USER=${CHAOS_LAB_USER:-chaos}
  [[ $LAB_USER =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "CHAOS_LAB_USER '$LAB_USER' is not a valid user name"
  LAB_PROFILE=${CHAOS_LAB_PROFILE:-headless}
  case $LAB_PROFILE in
    desktop | headless) ;;
    *) die "CHAOS_LAB_PROFILE must be 'desktop' or 'headless', not '$LAB_PROFILE'" ;;
  esac
}

# user_home USER: the home directory from the passwd database.
user_home() {
  getent passwd "$1" | cut -d: -f6
}

# detect_distro: sets DISTRO_ID (ubuntu|debian), DISTRO_VERSION and DISTRO_PRETTY; fails on anything else.
detect_distro() {
  local file=${CHAOS_LAB_OS_RELEASE:-/etc/os-release}
  [[ -r $file ]] || die "cannot read $file: unknown distribution (chaos-lab needs Ubuntu LTS or Debian 12 or 13)"
  local id version pretty
  # shellcheck disable=SC1090  # os-release is a shell fragment by specification; read it in a subshell
  id=$(. "$file" && printf '%s' "${ID:-}")
  # shellcheck disable=SC1090
  version=$(. "$file" && printf '%s' "${VERSION_ID:-}")
  # shellcheck disable=SC1090
  pretty=$(. "$file" && printf '%s' "${PRETTY_NAME:-${ID:-unknown}}")
  case $id in
    ubuntu)
      case $version in
        20.04 | 22.04 | 24.04) ;;
        *) warn "Ubuntu $version is untested (supported: 20.04, 22.04, 24.04); continuing" ;;
      esac
      ;;
    debian)
      case $version in
        12 | 13) ;;
        *) warn "Debian ${version:-(testing/unstable)} is untested (supported: 12, 13); continuing" ;;
      esac
      ;;
    *) die "unsupported distribution '$pretty' (ID=$id): chaos-lab provisions Ubuntu LTS (20.04, 22.04, 24.04) or Debian 12 or 13" ;;
  esac
  # shellcheck disable=SC2034 # read by the steps
  DISTRO_ID=$id DISTRO_VERSION=$version DISTRO_PRETTY=$pretty
}

# _cloud_init_status: cloud-init's one-word status (running, done, disabled, error, degraded done, not started…).
_cloud_init_status() {
  { cloud-init status 2>/dev/null || true; } | sed -n 's/^status: *//p' | head -n 1
}

# wait_for_cloud_init: on a machine with cloud-init, waits (bounded by CHAOS_LAB_CLOUD_INIT_WAIT) until it has
# finished. A cloud image answers SSH long before its first boot is done, and cloud-init then still installs
# packages (holding apt's locks), rewrites apt sources and sshd settings. Fails when it is still running at the end.
wait_for_cloud_init() {
  [[ ! -e $CHAOS_LAB_CLOUD_INIT_SETTLED ]] || return 0
  command -v cloud-init >/dev/null || return 0
  local status
  status=$(_cloud_init_status)
  case $status in
    running) ;;
    'not started' | 'not run')
      # Its units have not run yet: they will while the boot is still going; otherwise cloud-init is not used here.
      case $(systemctl is-system-running 2>/dev/null || true) in
        initializing | starting) ;;
        *) status='' ;;
      esac
      ;;
    *) status='' ;;
  esac
  if [[ -n $status ]]; then
    log "waiting for cloud-init to finish (status: $status; up to ${CHAOS_LAB_CLOUD_INIT_WAIT}s)"
    local started=$SECONDS rc=0
    timeout "$CHAOS_LAB_CLOUD_INIT_WAIT" cloud-init status --wait >/dev/null 2>&1 || rc=$?
    if ((rc == 124)); then
      die "cloud-init was still running after ${CHAOS_LAB_CLOUD_INIT_WAIT}s (on a cloud image's first boot it installs packages and holds apt's locks); wait until \`cloud-init status --wait\` returns, then run this again"
    fi
    log "cloud-init finished after $((SECONDS - started))s (status: $(_cloud_init_status))"
  fi
  mkdir -p "${CHAOS_LAB_CLOUD_INIT_SETTLED%/*}"
  : >"$CHAOS_LAB_CLOUD_INIT_SETTLED"
}

require_systemd() {
  [[ -d /run/systemd/system ]] || die "systemd is not running as PID 1 here; chaos-lab needs a systemd-booted machine"
}

# ---------------------------------------------------------------------------------------------- apt

# apt_missing PKG...: prints the packages that are not fully installed, one per line (one dpkg-query call).
apt_missing() {
  (($# > 0)) || return 0
  local installed
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null | awk '$2 == "ii" { print $1 }' || true)
  local pkg
  for pkg in "$@"; do
    grep -qxF -- "${pkg%%:*}" <<<"$installed" || printf '%s\n' "$pkg"
  done
}

apt_lists_fresh() {
  [[ -f $CHAOS_LAB_APT_STAMP ]] || return 1
  [[ -n $(find "$CHAOS_LAB_APT_STAMP" -mmin "-$CHAOS_LAB_APT_FRESH_MINUTES" 2>/dev/null) ]] || return 1
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

# apt_proxy_sync: every apt run in this machine (chaos-lab's and the learner's) goes through CHAOS_LAB_APT_PROXY,
# chaos-lab.yaml's aptProxy, by one apt.conf.d file; an empty value removes that file. Only apt uses the proxy
# (no http_proxy for anything else), and only for http:// sources: a cache such as apt-cacher-ng cannot store
# what comes over TLS, so https:// sources keep going direct. Once per step.
apt_proxy_sync() {
  [[ -z ${_APT_PROXY_SYNCED:-} ]] || return 0
  _APT_PROXY_SYNCED=yes
  local proxy=${CHAOS_LAB_APT_PROXY:-}
  if [[ -z $proxy ]]; then
    if [[ -e $CHAOS_LAB_APT_PROXY_CONF ]]; then
      rm -f -- "$CHAOS_LAB_APT_PROXY_CONF"
      log "removed $CHAOS_LAB_APT_PROXY_CONF: apt goes direct again (no aptProxy)"
    fi
    return 0
  fi
  [[ $proxy =~ ^https?://[][A-Za-z0-9.:-]+(/[A-Za-z0-9._~%/-]*)?$ ]] ||
    die "CHAOS_LAB_APT_PROXY '$proxy' is not an http:// or https:// URL (aptProxy in chaos-lab.yaml)"
  printf '// Written by chaos-lab provisioning from aptProxy in chaos-lab.yaml; removed when aptProxy is empty.\nAcquire::http::Proxy "%s";\n' \
    "$proxy" | install_content "$CHAOS_LAB_APT_PROXY_CONF" 0644 root:root
}

# _apt_lock_holder: "COMMAND (pid N)" of a process that holds an apt or dpkg lock now, if any.
_apt_lock_holder() {
  command -v lslocks >/dev/null || return 0
  lslocks -n -o PID,COMMAND,PATH 2>/dev/null |
    awk '$3 ~ "^/var/lib/dpkg/lock|^/var/lib/apt/lists/lock|^/var/cache/apt/archives/lock" { print $2 " (pid " $1 ")"; exit }'
}

# _apt ARGS...: apt-get ARGS, output in the apt log, the error output also in $STEP_TMP/apt-error. Waits, bounded by
# CHAOS_LAB_APT_LOCK_WAIT, while another process (unattended-upgrades, cloud-init) holds an apt or dpkg lock;
# returns 75 when the lock was still held at the end. apt waits for the dpkg frontend lock by itself
# (DPkg::Lock::Timeout); the loop covers the lists lock and older apts. flock(1) cannot see these locks: apt
# uses fcntl locks.
_apt() {
  wait_for_cloud_init
  apt_proxy_sync
  local deadline=$((SECONDS + CHAOS_LAB_APT_LOCK_WAIT)) errf=${STEP_TMP:-/tmp}/apt-error rc said_wait=no remaining holder
  while :; do
    holder=$(_apt_lock_holder)
    if [[ -n $holder && $said_wait == no ]]; then
      log "waiting for $holder to release the apt/dpkg lock (up to ${CHAOS_LAB_APT_LOCK_WAIT}s)"
      said_wait=yes
    fi
    remaining=$((deadline - SECONDS))
    ((remaining > 0)) || remaining=1
    rc=0
    printf '\n==== %s apt-get %s\n' "$(date -u +%FT%TZ)" "$*" >>"$CHAOS_LAB_APT_LOG"
    # needrestart (Ubuntu 22.04+) would restart services after a library upgrade, in the middle of provisioning
    # (on 24.04 even without a terminal): suspended for our runs (NEEDRESTART_SUSPEND is upstream's switch,
    # NEEDRESTART_MODE=l Ubuntu's: list only).
    NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l apt-get -q -o DPkg::Lock::Timeout="$remaining" \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "$@" >>"$CHAOS_LAB_APT_LOG" 2>"$errf" || rc=$?
    cat "$errf" >>"$CHAOS_LAB_APT_LOG"
    ((rc != 0)) || return 0
    if grep -qiE 'Could not get lock|Unable to lock|Unable to acquire the dpkg' "$errf"; then
      if ((SECONDS < deadline)); then
        sleep 5
        continue
      fi
      APT_LOCK_HOLDER=$(_apt_lock_holder)
      return 75
    fi
    if grep -q "dpkg --configure -a" "$errf"; then
      log "an earlier dpkg run was interrupted: running dpkg --configure -a"
      dpkg --configure -a >>"$CHAOS_LAB_APT_LOG" 2>&1 || true
    fi
    return "$rc"
  done
}

_apt_fail() {
  local errf=${STEP_TMP:-/tmp}/apt-error
  if [[ -s $errf ]]; then
    printf '[%s] ---- apt-get said:\n' "$STEP" >&2
    grep -v '^Waiting for cache lock' "$errf" | tail -n 12 >&2 || true
  fi
  die "$*"
}

_apt_lock_fail() {
  die "another package manager${APT_LOCK_HOLDER:+, $APT_LOCK_HOLDER,} held the apt/dpkg lock for more than ${CHAOS_LAB_APT_LOCK_WAIT}s; run this step again when it is done"
}

# apt_update_failures FILE: the lines of apt-get update's error output that say a source could not be read.
# apt-get update exits 0 when a source fails to download ("W: Failed to fetch …", "W: Some index files failed to
# download"): the old lists, or none, stay in use, and a later install says "Unable to locate package".
apt_update_failures() {
  # apt 3 says Warning:/Error: where older ones say W:/E: (on a terminal).
  grep -E '^(W|E|Warning|Error): (Failed to fetch|Some index files failed|GPG error)|^(E|Error): ' -- "$1" 2>/dev/null || true
}

# _apt_failed_sources FAILURES: one line per source that failed: "URI SUITE: reason (in FILE)".
_apt_failed_sources() {
  local line url reason source suite files
  while IFS= read -r line; do
    [[ $line =~ ^(W|E|Warning|Error):\ Failed\ to\ fetch\ ([^[:space:]]+)[[:space:]]*(.*)$ ]] || continue
    url=${BASH_REMATCH[2]} reason=${BASH_REMATCH[3]%:}
    source=${url%%/dists/*} suite=
    if [[ $url == */dists/* ]]; then
      suite=${url#*/dists/}
      suite=${suite%%/*}
    fi
    files=$(grep -rlsF -- "$source" /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null | paste -sd, - || true)
    printf '%s%s: %s%s\n' "$source" "${suite:+ $suite}" "${reason:-download failed}" "${files:+ (in $files)}"
  done <<<"$1" | sort -u
}

# apt_update: refreshes the package lists; a source that cannot be read counts as a failure even when apt-get
# exits 0. Retries with the CHAOS_LAB_APT_BACKOFF waits, then fails naming the source. Only a clean run stamps
# the lists as fresh; a failed one removes the stamp.
apt_update() {
  local waits=() attempt=1 rc failures sources errf=${STEP_TMP:-/tmp}/apt-error
  read -r -a waits <<<"$CHAOS_LAB_APT_BACKOFF"
  local tries=$((${#waits[@]} + 1))
  while :; do
    if ((attempt == 1)); then log "apt-get update"; else log "apt-get update (try $attempt of $tries)"; fi
    rc=0
    _apt update || rc=$?
    ((rc != 75)) || _apt_lock_fail
    failures=$(apt_update_failures "$errf")
    if ((rc == 0)) && [[ -z $failures ]]; then
      touch "$CHAOS_LAB_APT_STAMP"
      return 0
    fi
    rm -f -- "$CHAOS_LAB_APT_STAMP"
    sources=$(_apt_failed_sources "$failures")
    if ((attempt >= tries)); then
      if [[ -n $sources ]]; then
        local count
        count=$(wc -l <<<"$sources")
        if ((count == 1)); then
          die "apt-get update could not read the package source $sources, $tries tries; fix or remove that source (/etc/apt/sources.list, /etc/apt/sources.list.d/), then run again (full log: $CHAOS_LAB_APT_LOG)"
        fi
        printf '[%s] ---- package sources that could not be read:\n%s\n' "$STEP" "$sources" >&2
        die "apt-get update could not read $count package sources (listed above), $tries tries, first $(head -n 1 <<<"$sources"); fix or remove them (/etc/apt/sources.list, /etc/apt/sources.list.d/), then run again (full log: $CHAOS_LAB_APT_LOG)"
      fi
      _apt_fail "apt-get update failed $tries times (exit $rc${failures:+: $(head -n 1 <<<"$failures")}); full log: $CHAOS_LAB_APT_LOG"
    fi
    local wait=${waits[attempt - 1]}
    log "apt-get update failed (try $attempt of $tries: $(head -n 1 <<<"${sources:-${failures:-exit $rc}}")); retrying in ${wait}s"
    sleep "$wait"
    attempt=$((attempt + 1))
  done
}

# apt_install PKG...: install what is missing (nothing to do = no apt call at all). Retries failed downloads
# with backoff, refreshing the package lists before each retry. APT_RECOMMENDS=1 installs recommends too.
apt_install() {
  local missing=() pkg
  while IFS= read -r pkg; do missing+=("$pkg"); done < <(apt_missing "$@")
  if ((${#missing[@]} == 0)); then
    log "packages: all $# present"
    return 0
  fi
  local opts=(-y)
  [[ ${APT_RECOMMENDS:-0} == 1 ]] || opts+=(--no-install-recommends)
  local waits=() attempt=1 started=$SECONDS rc
  read -r -a waits <<<"$CHAOS_LAB_APT_BACKOFF"
  local tries=$((${#waits[@]} + 1))
  log "installing ${#missing[@]} package(s): ${missing[*]}"
  while :; do
    # A failed update has been retried already and ends the step: installing from stale lists would only
    # fail later with a misleading "Unable to locate package".
    if ((attempt > 1)) || ! apt_lists_fresh; then apt_update; fi
    rc=0
    _apt install "${opts[@]}" "${missing[@]}" || rc=$?
    ((rc != 0)) || break
    ((rc != 75)) || _apt_lock_fail
    # A name the freshly updated lists do not know will not appear on a retry.
    if grep -qE 'Unable to locate package|has no installation candidate' "${STEP_TMP:-/tmp}/apt-error" && apt_lists_fresh; then
      _apt_fail "no such package in this distribution's archive (full log: $CHAOS_LAB_APT_LOG)"
    fi
    if ((attempt >= tries)); then
      _apt_fail "apt-get install failed $tries times for: ${missing[*]} (full log: $CHAOS_LAB_APT_LOG)"
    fi
    local wait=${waits[attempt - 1]}
    log "apt-get install failed (try $attempt of $tries); retrying in ${wait}s"
    sleep "$wait"
    attempt=$((attempt + 1))
  done
  local still=()
  while IFS= read -r pkg; do still+=("$pkg"); done < <(apt_missing "${missing[@]}")
  ((${#still[@]} == 0)) || _apt_fail "apt-get reported success but these are not installed: ${still[*]}"
  log "installed ${#missing[@]} package(s) in $((SECONDS - started))s"
}

# ---------------------------------------------------------------------------------------------- files

# _owner_parts OWNER -> sets _OWN_USER _OWN_GROUP ("user" or "user:group"; group defaults to the user's).
_owner_parts() {
  _OWN_USER=${1%%:*}
  if [[ $1 == *:* ]]; then _OWN_GROUP=${1#*:}; else _OWN_GROUP=$(id -gn "$_OWN_USER"); fi
}

# install_file SRC DEST MODE OWNER: write DEST only when its content differs from SRC (atomic rename in the
# destination directory), fix mode/owner when they differ. Sets FILE_CHANGED=yes|no and logs a change.
install_file() {
  local src=$1 dest=$2 mode=$3 owner=$4
  [[ -f $src ]] || die "install_file: source $src is missing"
  _owner_parts "$owner"
  local want_mode
  want_mode=$(printf '%o' "$((8#$mode))")
  FILE_CHANGED=no
  if [[ -f $dest && ! -L $dest ]] && cmp -s -- "$src" "$dest"; then
    local have
    have=$(stat -c '%a %U %G' -- "$dest")
    if [[ $have != "$want_mode $_OWN_USER $_OWN_GROUP" ]]; then
      chown "$_OWN_USER:$_OWN_GROUP" -- "$dest"
      chmod "$want_mode" -- "$dest"
      FILE_CHANGED=yes
      log "fixed owner/mode of $dest"
    fi
    return 0
  fi
  local dir tmp
  dir=$(dirname -- "$dest")
  mkdir -p -- "$dir"
  tmp=$(mktemp "$dir/.chaos-lab.XXXXXX")
  cat -- "$src" >"$tmp"
  chown "$_OWN_USER:$_OWN_GROUP" -- "$tmp"
  chmod "$want_mode" -- "$tmp"
  mv -f -- "$tmp" "$dest"
  FILE_CHANGED=yes
  log "wrote $dest"
}

# install_content DEST MODE OWNER < content: install_file with the content read from stdin.
install_content() {
  local tmp
  tmp=$(mktemp "${STEP_TMP:-/tmp}/content.XXXXXX")
  cat >"$tmp"
  install_file "$tmp" "$@"
  rm -f -- "$tmp"
}

# ensure_dir DIR MODE OWNER: create DIR (not its parents) or fix its mode/owner.
ensure_dir() {
  local dir=$1 mode=$2 owner=$3
  _owner_parts "$owner"
  local want_mode
  want_mode=$(printf '%o' "$((8#$mode))")
  if [[ ! -d $dir ]]; then
    mkdir -p -- "$dir"
    log "created $dir"
  fi
  if [[ $(stat -c '%a %U %G' -- "$dir") != "$want_mode $_OWN_USER $_OWN_GROUP" ]]; then
    chown "$_OWN_USER:$_OWN_GROUP" -- "$dir"
    chmod "$want_mode" -- "$dir"
  fi
}

# render_template SRC: prints SRC with @LAB_USER@ and @LAB_HOME@ replaced.
render_template() {
  local home
  home=$(user_home "$LAB_USER")
  [[ -n $home ]] || die "user $LAB_USER does not exist (run the base step first)"
  sed -e "s|@LAB_USER@|$LAB_USER|g" -e "s|@LAB_HOME@|$home|g" -- "$1"
}

# install_learner_file SRC DEST MODE OWNER PRISTINE_REL: a file the learner may edit (units, scripts, sources).
# Written when missing, when it is still the previous pristine version, or when CHAOS_LAB_RESET=1; a learner's
# edit is kept. The pristine copy under $CHAOS_LAB_PRISTINE_DIR/PRISTINE_REL is always brought up to date and
# recorded in the pristine MANIFEST (for `chaos-lab reset`). Sets FILE_CHANGED for DEST.
PRISTINE_MANIFEST_LINES=()
install_learner_file() {
  local src=$1 dest=$2 mode=$3 owner=$4 rel=$5
  local pristine=$CHAOS_LAB_PRISTINE_DIR/$rel changed=no
  if [[ ! -e $dest ]] || cmp -s -- "$src" "$dest" || { [[ -f $pristine ]] && cmp -s -- "$pristine" "$dest"; } ||
    [[ ${CHAOS_LAB_RESET:-0} == 1 ]]; then
    install_file "$src" "$dest" "$mode" "$owner"
    changed=$FILE_CHANGED
  else
    log "kept $dest: changed by the learner (pristine copy: $pristine)"
  fi
  install_file "$src" "$pristine" 0644 root:root
  PRISTINE_MANIFEST_LINES+=("$(printf '%s\t%s\t%s\t%s' "$rel" "$dest" "$mode" "$owner")")
  FILE_CHANGED=$changed
}

# write_pristine_manifest NAME: records the learner files of this step in $CHAOS_LAB_PRISTINE_DIR/NAME.manifest
# (tab-separated: pristine path relative to the pristine dir, destination, mode, owner).
write_pristine_manifest() {
  {
    printf '# pristine-relative-path\tdestination\tmode\towner (written by chaos-lab provisioning)\n'
    printf '%s\n' "${PRISTINE_MANIFEST_LINES[@]}"
  } | install_content "$CHAOS_LAB_PRISTINE_DIR/$1.manifest" 0644 root:root
}

# ---------------------------------------------------------------------------------------------- systemd

unit_active() { systemctl is-active --quiet "$1"; }

# ensure_unit_enabled UNIT: enable when not enabled yet (static/indirect units are left alone).
ensure_unit_enabled() {
  local state
  state=$(systemctl is-enabled "$1" 2>/dev/null || true)
  case $state in
    enabled | enabled-runtime | static | indirect | generated | alias) ;;
    masked) die "$1 is masked; unmask it (systemctl unmask $1) and rerun" ;;
    *)
      systemctl enable --quiet "$1"
      log "enabled $1"
      ;;
  esac
}

# ensure_unit_running UNIT: start when not active (clearing a failed state such as start-limit-hit first).
ensure_unit_running() {
  local unit=$1
  unit_active "$unit" && return 0
  if systemctl is-failed --quiet "$unit"; then systemctl reset-failed "$unit"; fi
  systemctl start "$unit" || die "could not start $unit: $(systemctl status --no-pager -n 5 "$unit" 2>&1 | tail -n 5)"
  log "started $unit"
}

# wait_for CMD...: run CMD up to $WAIT_TRIES times (default 30), $WAIT_DELAY seconds apart (default 1).
wait_for() {
  local tries=${WAIT_TRIES:-30} delay=${WAIT_DELAY:-1} i
  for ((i = 1; i <= tries; i++)); do
    if "$@"; then return 0; fi
    ((i == tries)) || sleep "$delay"
  done
  return 1
}
