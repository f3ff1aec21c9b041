#!/bin/bash
# shellcheck disable=SC2009 # grepping ps is the book's way, and its blast-radius lesson
# Cereal killer (chapter 2), as the book prints it: list the FizzBuzz instances, kill instance A (port 8001),
# show its status, wait 2 s, kill instance B (port 8002), show its status, list the instances again.
# Start the load first, in another terminal: ./run_ab.sh
# Victims are found the book's way, by grepping `ps auxf` (see README.md, "A note on blast radius").

echo "Listing backend services"
ps auxf | grep killer-whiles | grep python
echo

echo "Killing instance A (port 8001)"
ps auxf | grep killer-whiles | grep python | grep 8001 | awk '{system("sudo kill " $2)}'
sleep 0.5
systemctl status faas001_a --no-pager
echo

echo "Wait some time in-between killings"
sleep 2
echo

echo "Killing instance B (port 8002)"
ps auxf | grep killer-whiles | grep python | grep 8002 | awk '{system("sudo kill " $2)}'
sleep 0.5
systemctl status faas001_b --no-pager
echo

echo "Listing backend services"
ps auxf | grep killer-whiles | grep python
echo "Done here!"
