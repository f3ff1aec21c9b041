#!/usr/bin/env bash
# `chaos-lab reset lesson-4`: puts chapter 4 back as a new learner finds it. Runs as root in the VM, after
# chaos-lab has copied the learner's work to the host. Uses the provisioning files already in the VM.
set -euo pipefail
prov=/var/lib/chaos-lab/provisioning
lessons=/var/lib/chaos-lab/lessons
learner=${CHAOS_LAB_USER:-chaos}

if [[ ! -f $prov/steps/chapter4.sh ]]; then
  echo "this machine was not provisioned with chapter 4 ($prov/steps/chapter4.sh is missing): run chaos-lab provision --chapters 4 first" >&2
  exit 3
fi
getent passwd "$learner" >/dev/null || { echo "user $learner does not exist: run chaos-lab provision first" >&2; exit 3; }
db_unit=$(cat /opt/chaos-lab/chapter4/database-unit)

# 1. Nothing injected: the experiments' qdiscs (every interface with a netem qdisc loses its root qdisc) and
#    runtime properties on the database's unit (the disk limits) go.
for dev in $(tc qdisc show | awk '/ netem /{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1)}' | sort -u); do
  tc qdisc del dev "$dev" root
  echo "removed the qdiscs of $dev"
done
systemctl revert "$db_unit.service" >/dev/null
echo "reverted $db_unit's runtime properties"

# 2. WordPress as provisioned: the database wordpress is made again, with only the first post.
systemctl start "$db_unit.service"
mysql --batch -e 'DROP DATABASE IF EXISTS wordpress'
echo "dropped the database wordpress"

# 3. The chapter4 step in reset mode: the database, WordPress's installation and the pristine answer sheet
#    come back; it leaves Apache and the database running, as it found them.
CHAOS_LAB_RESET=1 CHAOS_LAB_USER=$learner CHAOS_LAB_PROFILE=${CHAOS_LAB_PROFILE:-headless} bash "$prov/steps/chapter4.sh"

# 4. As a new learner finds them (the book's VM): Apache and the database stopped.
systemctl stop apache2.service "$db_unit.service"
echo "stopped apache2 and $db_unit (the learner starts them)"

# 5. A new start for the lesson: ab runs and sudo's log from before this moment no longer count.
mkdir -p "$lessons"
date +%s >"$lessons/lesson-4.started"
echo "lesson-4 starts again at $(date -u +%FT%TZ)"
