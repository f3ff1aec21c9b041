#!/usr/bin/env bash
# Step "chapter4": chapter 4 "Database trouble and testing in production". WordPress served by Apache at
# http://127.0.0.1/blog (the book's `Alias /blog /usr/share/wordpress` site, a2ensite wordpress) over the database
# `wordpress` (user wordpress, password wordpress, on 127.0.0.1 over TCP), installed and given its first post
# without the browser's setup page; chaos-lab's request timing log (a conf of its own); chaos-lab's root-owned
# tools for `check lesson-4` in /opt/chaos-lab/chapter4 and the lesson 4 answer sheet.
# As in the book's VM, Apache and the database do not start at boot: the learner starts them. This step starts
# them while it works and leaves each as it found it (stopped on the first run).
# inputs: files/chapter4 files/answers
set -euo pipefail
# shellcheck disable=SC2034 # STEP is used by lib/common.sh
STEP=chapter4
PROV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=$PROV_DIR/files
# shellcheck source=../lib/common.sh
. "$PROV_DIR/lib/common.sh"

# chaos-lab's own chapter 4 tools, root-owned (the learner cannot change what `chaos-lab check lesson-4` runs).
TOOLS_DIR=/opt/chaos-lab/chapter4
BLOG_URL=http://127.0.0.1/blog
WP_TITLE="Chaos Engineering lab"
# Present once this step has finished on the machine: later runs leave Apache and the database running when the
# learner has started them.
CONFIGURED=$CHAOS_LAB_STATE_DIR/chapter4.configured

step_begin
detect_distro
require_systemd
getent passwd "$LAB_USER" >/dev/null || die "user $LAB_USER does not exist (run the base step first)"
lab_home=$(user_home "$LAB_USER")

# What runs now, to be restored at the end (a unit that is not installed yet is not running).
first_run=yes
[[ -e $CONFIGURED ]] && first_run=no
apache_was=no db_was=no
if unit_active apache2; then apache_was=yes; fi
if unit_active mariadb || unit_active mysql; then db_was=yes; fi

# The book's packages; `mysql-server` is `default-mysql-server` here: MariaDB on Debian, MySQL on Ubuntu.
apt_install apache2 libapache2-mod-php php php-cli php-mysql wordpress wordpress-theme-twentytwentythree default-mysql-server default-mysql-client apache2-utils curl iproute2 python3

# The database's unit: mariadb on Debian (its mysql alias exists only while it is enabled), mysql on Ubuntu.
if systemctl cat mariadb.service >/dev/null 2>&1; then db_unit=mariadb; else db_unit=mysql; fi
systemctl cat "$db_unit.service" >/dev/null 2>&1 || die "no mariadb or mysql unit after installing default-mysql-server"

# ------------------------------------------------------------------------------------------------ port 80
# Apache listens on 80. Chapter 2's nginx serves only 8003 (its step drops nginx's stock default site, which
# also wants 80); anything else on 80 would keep Apache from starting.
on_80=$(ss -Hltnp 'sport = :80' 2>/dev/null | grep -v '"apache2"' || true)
[[ -z $on_80 ]] || die "something other than Apache listens on port 80, which WordPress needs: $on_80"

# ------------------------------------------------------------------------------------------------ Apache
install_file "$FILES/chapter4/wordpress.conf" /etc/apache2/sites-available/wordpress.conf 0644 root:root
apache_changed=$FILE_CHANGED
install_file "$FILES/chapter4/chaos-lab-timing.conf" /etc/apache2/conf-available/chaos-lab-timing.conf 0644 root:root
[[ $FILE_CHANGED == no ]] || apache_changed=yes
if [[ ! -e /etc/apache2/sites-enabled/wordpress.conf ]]; then
  a2ensite -q wordpress
  apache_changed=yes
fi
if [[ ! -e /etc/apache2/conf-enabled/chaos-lab-timing.conf ]]; then
  a2enconf -q chaos-lab-timing
  apache_changed=yes
fi
apache2ctl -t >/dev/null 2>&1 || die "apache2ctl -t rejected the configuration: $(apache2ctl -t 2>&1 | tail -n 3)"

# ------------------------------------------------------------------------------------------------ WordPress
# The book's config-localhost.php; Debian's wp-config.php picks the file by the request's Host, so
# http://127.0.0.1/blog needs config-127.0.0.1.php: a link to the same file.
install_file "$FILES/chapter4/config-localhost.php" /etc/wordpress/config-localhost.php 0640 root:www-data
if [[ $(readlink /etc/wordpress/config-127.0.0.1.php || true) != config-localhost.php ]]; then
  ln -sfn config-localhost.php /etc/wordpress/config-127.0.0.1.php
  log "linked /etc/wordpress/config-127.0.0.1.php to config-localhost.php"
fi

# ------------------------------------------------------------------------------------------------ the database
ensure_unit_running "$db_unit.service"
WAIT_TRIES=30 wait_for mysqladmin --silent ping >/dev/null 2>&1 || die "the database ($db_unit) does not answer mysqladmin ping"
mysql --batch <<'SQL' || die "could not create the database wordpress and its user"
CREATE DATABASE IF NOT EXISTS wordpress;
CREATE USER IF NOT EXISTS 'wordpress'@'localhost' IDENTIFIED BY 'wordpress';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER ON wordpress.* TO 'wordpress'@'localhost';
SQL

ensure_dir /opt/chaos-lab 0755 root:root
ensure_dir "$TOOLS_DIR" 0755 root:root
install_file "$FILES/chapter4/lab/wp_install.php" "$TOOLS_DIR/wp_install.php" 0644 root:root
install_file "$FILES/chapter4/lab/lab_facts.py" "$TOOLS_DIR/lab_facts.py" 0755 root:root
printf '%s\n' "$db_unit" | install_content "$TOOLS_DIR/database-unit" 0644 root:root
# WordPress's own installer (the tables, the administrator, the first post), as the web server's user would run it.
installed=$(runuser -u www-data -- php "$TOOLS_DIR/wp_install.php" "$BLOG_URL" "$WP_TITLE" "$LAB_USER" "$LAB_USER@localhost" "$LAB_USER" 2>"$STEP_TMP/wp_install.err") ||
  die "WordPress's installation failed: $(tail -n 5 "$STEP_TMP/wp_install.err")"
log "WordPress: $installed"

# ------------------------------------------------------------------------------------------------ check
ensure_unit_running apache2.service
[[ $apache_changed == no ]] || { systemctl reload apache2 && log "reloaded apache2"; }
title=$(mysql --batch --skip-column-names -e "SELECT post_title FROM wp_posts WHERE post_type='post' AND post_status='publish' ORDER BY ID LIMIT 1" wordpress)
[[ -n $title ]] || die "the database wordpress has no published post"
served=$(WAIT_TRIES=10 wait_for curl -fsS --max-time 60 -A chaos-lab-provisioning "$BLOG_URL/" 2>&1) || die "$BLOG_URL/ does not answer: $served"
grep -qF -- "$title" <<<"$served" || die "$BLOG_URL/ answers without the first post's title ($title)"
log "WordPress answers at $BLOG_URL/ with \"$title\" from the database ($db_unit)"

# ------------------------------------------------------------------------------------------------ at boot
# Not started at boot, as in the book's VM (the learner starts them); left running only if they were.
for unit in apache2 "$db_unit"; do
  if [[ $(systemctl is-enabled "$unit.service" 2>/dev/null || true) == enabled ]]; then
    systemctl disable --quiet "$unit.service"
    log "disabled $unit at boot"
  fi
  was=$db_was
  [[ $unit != apache2 ]] || was=$apache_was
  if [[ $first_run == yes || $was == no ]]; then
    systemctl stop "$unit.service"
    log "stopped $unit (start it with: sudo systemctl start $unit)"
  fi
done

# ------------------------------------------------------------------------------------------------ answer sheet
ensure_dir "$lab_home/answers" 0755 "$LAB_USER"
answers=$lab_home/answers/lesson-4.yaml
if [[ ! -e $answers || ${CHAOS_LAB_RESET:-0} == 1 ]]; then
  install_file "$FILES/answers/lesson-4.yaml" "$answers" 0644 "$LAB_USER"
else
  log "kept $answers (never overwritten: it holds the learner's answers)"
fi
install_file "$FILES/answers/lesson-4.yaml" "$CHAOS_LAB_PRISTINE_DIR/answers/lesson-4.yaml" 0644 root:root
PRISTINE_MANIFEST_LINES+=("$(printf '%s\t%s\t%s\t%s' answers/lesson-4.yaml "$answers" 0644 "$LAB_USER")")
write_pristine_manifest chapter4

# The lesson starts now, for `chaos-lab check lesson-4`: ab runs and sudo's log from before do not count.
ensure_dir "$CHAOS_LAB_STATE_DIR/lessons" 0755 root:root
if [[ ! -s $CHAOS_LAB_STATE_DIR/lessons/lesson-4.started ]]; then
  date +%s >"$CHAOS_LAB_STATE_DIR/lessons/lesson-4.started"
  log "lesson-4 starts now"
fi
touch "$CONFIGURED"

step_end
