#!/bin/bash
# shellcheck disable=SC2009 # grepping ps is the book's way, and its blast-radius lesson
# Killer while (chapter 2), as the book prints it: kill FizzBuzz instance A (port 8001) six times, 1.25 s apart,
# show what systemd makes of it, wait 2 s, then do the same to instance B (port 8002).
# Start the load first, in another terminal: ./run_ab.sh
#
# It finds its victims the book's way, by grepping `ps auxf` for the chapter's folder, python and the port. That
# `grep 8001` is the book's lesson on blast radius (README.md): it hits anything whose line holds those digits.
# chaos-lab's sturdier variant, which `chaos-lab check lesson-2` runs, asks systemd for each victim and waits until
# it is back: /opt/chaos-lab/chapter2/sturdy_killer_while.sh

echo "Instance A: six kills, 1.25 s apart"
for round in 1 2 3 4 5 6; do
    echo "Killing faas001_a, round ${round} of 6"
    ps auxf | grep killer-whiles | grep python | grep 8001 | awk '{system("sudo kill " $2)}'
    sleep 1.25
done
systemctl status faas001_a --no-pager

sleep 2

echo "Instance B: six kills, 1.25 s apart"
for round in 1 2 3 4 5 6; do
    echo "Killing faas001_b, round ${round} of 6"
    ps auxf | grep killer-whiles | grep python | grep 8002 | awk '{system("sudo kill " $2)}'
    sleep 1.25
done
systemctl status faas001_b --no-pager
