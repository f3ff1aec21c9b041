#!/usr/bin/env bash
# chaos-lab's sturdy killer while (chapter 2): the book's killer_while.sh experiment, made to measure reliably.
# It is what `chaos-lab check lesson-2` runs (root-owned, in /opt/chaos-lab/chapter2, so a learner's edit of
# ~/src/examples/killer-whiles/killer_while.sh cannot change the experiment). It differs from the book's script:
#   - the victim is the unit's main process as systemd names it (`systemctl show -p MainPID`), never a grep;
#   - a kill is never skipped: when the instance is still starting, it waits (at most READY_WAIT s) for its
#     process, so every unit gets exactly KILLS kills however slow the machine is;
#   - before attacking the next instance it waits until the one it attacked answers HTTP again, then PAUSE s:
#     the hypothesis is about losing one instance at a time;
#   - it reports what it did: one line per kill, then "UNIT: N of KILLS kills delivered", and exits 0 only when
#     every kill was delivered (1 when a unit failed or never came back, 2 on bad settings).
#   KILLS=6 INTERVAL=1.25 PAUSE=2 READY_WAIT=60 SIGNAL=TERM UNITS="faas001_a faas001_b" sturdy_killer_while.sh
set -euo pipefail

KILLS=${KILLS:-6}
INTERVAL=${INTERVAL:-1.25}
PAUSE=${PAUSE:-2}
READY_WAIT=${READY_WAIT:-60}
SIGNAL=${SIGNAL:-TERM}
UNITS=${UNITS:-"faas001_a faas001_b"}
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO="sudo -n"

[[ $KILLS =~ ^[1-9][0-9]*$ ]] || { echo "KILLS must be a whole number above 0, not '$KILLS'" >&2; exit 2; }
[[ $READY_WAIT =~ ^[0-9]+$ ]] || { echo "READY_WAIT must be a whole number of seconds, not '$READY_WAIT'" >&2; exit 2; }

stamp() { date +%T.%3N; }
# Microseconds since the epoch; the kills keep to a fixed schedule, however long each kill itself takes.
now_us() { local t=${EPOCHREALTIME/[.,]/}; printf '%s\n' "$((10#$t))"; }
interval_us=$(awk -v s="$INTERVAL" 'BEGIN { printf "%d", s * 1000000 }')

# The port a FizzBuzz unit listens on: the number after fizzbuzz_api.py in its ExecStart.
port_of() {
  systemctl show -p ExecStart --value "$1" | sed -n 's/.*fizzbuzz_api\.py \([0-9][0-9]*\).*/\1/p' | head -n 1
}

# main_pid UNIT: waits (at most READY_WAIT s) until the unit has a main process and prints it; returns 1 when
# the unit has failed (systemd gave up on it) or did not get one in time.
main_pid() {
  local unit=$1 pid try
  for ((try = 0; try <= READY_WAIT * 10; try++)); do
    pid=$(systemctl show -p MainPID --value "$unit")
    if [[ -n $pid && $pid != 0 ]]; then
      printf '%s\n' "$pid"
      return 0
    fi
    [[ $(systemctl is-active "$unit" || true) != failed ]] || return 1
    sleep 0.1
  done
  return 1
}

# Waits (at most READY_WAIT s) until the unit answers HTTP on its port again, or has failed for good.
wait_until_serving() {
  local unit=$1 port started_us waited try
  port=$(port_of "$unit" || true)
  if [[ -z $port ]]; then
    echo "$(stamp) $unit: no port in its ExecStart, not waiting for it"
    return
  fi
  started_us=$(now_us)
  for ((try = 0; try < READY_WAIT * 5; try++)); do
    if [[ $(systemctl is-active "$unit" || true) == failed ]]; then
      echo "$(stamp) $unit has failed and stays down (see systemctl status $unit): going on"
      return
    fi
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
      waited=$(awk -v us="$(($(now_us) - started_us))" 'BEGIN { printf "%.1f", us / 1000000 }')
      echo "$(stamp) $unit answers on port $port again (after ${waited}s)"
      return
    fi
    sleep 0.2
  done
  echo "$(stamp) $unit did not answer on port $port within ${READY_WAIT}s: going on anyway"
}

all_delivered=yes
previous=
for unit in $UNITS; do
  if [[ -n $previous ]]; then
    wait_until_serving "$previous"
    echo "$(stamp) pausing ${PAUSE}s before the next instance"
    sleep "$PAUSE"
  fi
  previous=$unit
  delivered=0
  next_us=$(now_us)
  for ((round = 1; round <= KILLS; round++)); do
    if ! pid=$(main_pid "$unit"); then
      echo "$(stamp) $unit [$round/$KILLS]: no main process (state: $(systemctl is-active "$unit" || true)): giving up on it"
      break
    fi
    if $SUDO kill -s "$SIGNAL" "$pid"; then
      delivered=$((delivered + 1))
      echo "$(stamp) $unit [$round/$KILLS]: sent SIG$SIGNAL to its main process $pid"
    else
      echo "$(stamp) $unit [$round/$KILLS]: could not signal process $pid"
    fi
    ((round < KILLS)) || break
    next_us=$((next_us + interval_us))
    wait_us=$((next_us - $(now_us)))
    if ((wait_us > 0)); then sleep "$(awk -v us="$wait_us" 'BEGIN { printf "%.3f", us / 1000000 }')"; fi
  done
  echo "$(stamp) $unit: $delivered of $KILLS kills delivered"
  ((delivered == KILLS)) || all_delivered=no
done
[[ $all_delivered == yes ]]
