#!/usr/bin/env bash
# Cereal killer: kill FizzBuzz instance A, wait, then kill instance B. It makes no load itself: run ./run_ab.sh
# in another terminal first, then this, and compare ab's report with the steady state.
#   DELAY=2 SIGNAL=TERM ./cereal_killer.sh
set -euo pipefail

DELAY=${DELAY:-2}
SIGNAL=${SIGNAL:-TERM}
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo

# kill_instance UNIT: send $SIGNAL to the unit's main process, found through systemd (never by grep).
kill_instance() {
  local unit=$1 pid
  pid=$(systemctl show -p MainPID --value "$unit")
  if [[ -z $pid || $pid == 0 ]]; then
    echo "$(date +%T.%3N) $unit is not running: nothing to kill"
    return 0
  fi
  if $SUDO kill -s "$SIGNAL" "$pid"; then
    echo "$(date +%T.%3N) $unit: sent SIG$SIGNAL to its main process $pid"
  else
    echo "$(date +%T.%3N) $unit: process $pid was already gone"
  fi
}

kill_instance faas001_a
echo "$(date +%T.%3N) waiting ${DELAY}s"
sleep "$DELAY"
kill_instance faas001_b
