#!/usr/bin/env bash
# Killer while: kill FizzBuzz instance A again and again (6 times, 1.25 s apart), then instance B the same way.
# Each round asks systemd for the instance's current main process; an instance that is not running is skipped.
# Between the two instances it pauses (PAUSE seconds), so that A is back and serving before B is attacked: the
# hypothesis is about losing one instance at a time, not two at once.
# Run ./run_ab.sh in another terminal first, then this, then read ab's report and `systemctl status faas001_a`.
#   KILLS=6 INTERVAL=1.25 PAUSE=5 SIGNAL=TERM ./killer_while.sh
set -euo pipefail

KILLS=${KILLS:-6}
INTERVAL=${INTERVAL:-1.25}
PAUSE=${PAUSE:-5}
SIGNAL=${SIGNAL:-TERM}
UNITS=${UNITS:-"faas001_a faas001_b"}
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo

# Microseconds since the epoch; the kills keep to a fixed schedule, however long each kill itself takes.
now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s\n' "$((10#$t))"; }
interval_us=$(awk -v s="$INTERVAL" 'BEGIN { printf "%d", s * 1000000 }')
next_us=$(now_us)

first=yes
for unit in $UNITS; do
  if [[ $first == no ]]; then
    echo "$(date +%T.%3N) pausing ${PAUSE}s before the next instance"
    sleep "$PAUSE"
    next_us=$(now_us)
  fi
  first=no
  for ((round = 1; round <= KILLS; round++)); do
    pid=$(systemctl show -p MainPID --value "$unit")
    if [[ -z $pid || $pid == 0 ]]; then
      echo "$(date +%T.%3N) $unit [$round/$KILLS]: not running, skipped"
    elif $SUDO kill -s "$SIGNAL" "$pid"; then
      echo "$(date +%T.%3N) $unit [$round/$KILLS]: sent SIG$SIGNAL to its main process $pid"
    else
      echo "$(date +%T.%3N) $unit [$round/$KILLS]: process $pid was already gone"
    fi
    ((round < KILLS)) || break
    next_us=$((next_us + interval_us))
    wait_us=$((next_us - $(now_us)))
    if ((wait_us > 0)); then sleep "$(awk -v us="$wait_us" 'BEGIN { printf "%.3f", us / 1000000 }')"; fi
  done
done
echo "$(date +%T.%3N) done: $KILLS kills each for $UNITS"
