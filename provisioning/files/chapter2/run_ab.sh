#!/usr/bin/env bash
# Steady state of the chapter 2 experiment: load the FizzBuzz load balancer (nginx, port 8003) with ApacheBench
# and read "Failed requests" and "Non-2xx responses" in its report: both should be 0.
#   DURATION=30 CONCURRENCY=10 ./run_ab.sh
set -euo pipefail

DURATION=${DURATION:-30}
CONCURRENCY=${CONCURRENCY:-10}
URL=${URL:-http://127.0.0.1:8003/api/v1/}

echo "Load: ${CONCURRENCY} concurrent clients for ${DURATION}s against ${URL}"
# -n after -t: with -t alone ab stops at 50000 requests, which a fast machine reaches before the time is up.
exec ab -t "$DURATION" -n 1000000 -c "$CONCURRENCY" "$URL"
