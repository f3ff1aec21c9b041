#!/usr/bin/env bash
# Killer while: kill FizzBuzz instance A again and again (6 times, 1.25 s apart), then instance B the same way.
# Each round asks systemd for the instance's current main process; an instance that is not running is skipped.
# Before it attacks the next instance, it waits until the one it attacked answers HTTP again (at most READY_WAIT
# seconds), then PAUSE seconds more: the hypothesis is about losing one instance at a time, not two at once, and
# a slow machine may need a while to start the service again.
# Run ./run_ab.sh in another terminal first, then this, then read ab's report and `systemctl status faas001_a`.
#   KILLS=6 INTERVAL=1.25 PAUSE=2 READY_WAIT=60 SIGNAL=TERM ./killer_while.sh
set -euo pipefail

KILLS=${KILLS:-6}
INTERVAL=${INTERVAL:-1.25}
PAUSE=${PAUSE:-2}
READY_WAIT=${READY_WAIT:-60}
SIGNAL=${SIGNAL:-TERM}
UNITS=${UNITS:-"faas001_a faas001_b"}
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo

# Microseconds since the epoch; the kills keep to a fixed schedule, however long each kill itself takes.
now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s\n' "$((10#$t))"; }
interval_us=$(awk -v s="$INTERVAL" 'BEGIN { printf "%d", s * 1000000 }')
next_us=$(now_us)

# The port a FizzBuzz unit listens on: the last argument of its ExecStart (fizzbuzz_api.py PORT).
port_of() {
  systemctl show -p ExecStart --value "$1" | sed -n 's/.*argv\[\]=[^;]* \([0-9][0-9]*\) ;.*/\1/p' | head -n 1
}

# Waits (at most READY_WAIT seconds) until the unit answers HTTP on its port again, or has failed for good.
wait_until_serving() {
  local unit=$1 port started_us waited
  port=$(port_of "$unit" || true)
  if [[ -z $port ]]; then
    echo "$(date +%T.%3N) $unit: no port in its ExecStart, not waiting for it"
    return
  fi
  started_us=$(now_us)
  for ((try = 0; try < READY_WAIT * 5; try++)); do
    if [[ $(systemctl is-active "$unit" || true) == failed ]]; then
      echo "$(date +%T.%3N) $unit has failed and stays down (see systemctl status $unit): going on"
      return
    fi
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
      waited=$(awk -v us="$(($(now_us) - started_us))" 'BEGIN { printf "%.1f", us / 1000000 }')
      echo "$(date +%T.%3N) $unit answers on port $port again (after ${waited}s)"
      return
    fi
    sleep 0.2
  done
  echo "$(date +%T.%3N) $unit did not answer on port $port within ${READY_WAIT}s: going on anyway"
}

previous=
for unit in $UNITS; do
  if [[ -n $previous ]]; then
    wait_until_serving "$previous"
    echo "$(date +%T.%3N) pausing ${PAUSE}s before the next instance"
    sleep "$PAUSE"
    next_us=$(now_us)
  fi
  previous=$unit
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
