#!/bin/bash
# The steady state of the chapter 2 experiment, as the book runs it: 30 s of load from 10 concurrent clients on
# the FizzBuzz load balancer (nginx, port 8003). Read "Failed requests" and "Non-2xx responses" in ab's report:
# both should be 0. (-l: answers of varying length are not counted as failures.)

# show the command before running it
set -o xtrace

ab -t 30 -c 10 -l http://127.0.0.1:8003/api/v1/
