#!/bin/bash
# benign.sh: some lightweight background work. Honest.
# (It waits a little first, so the first rounds of mystery002 show how fast it is alone.)
sleep "${BENIGN_DELAY:-15}"
while :; do
  stress --cpu 2 -m 1 -d 1 --timeout 30
  sleep 5
done
