<?php
// chaos-lab (chapter 4): finishes WordPress's installation without the browser's setup page, so /blog shows
// its first post, read from the database. Run by the chapter4 step with php-cli; does nothing when WordPress is
// installed already. Usage: php wp_install.php URL TITLE ADMIN_USER ADMIN_EMAIL ADMIN_PASSWORD
if ($argc !== 6) {
    fwrite(STDERR, "usage: php wp_install.php URL TITLE ADMIN_USER ADMIN_EMAIL ADMIN_PASSWORD\n");
    exit(2);
}
[, $url, $title, $user, $email, $password] = $argv;
$parts = parse_url($url);
// Debian's wp-config.php picks /etc/wordpress/config-HOST.php by the request's Host.
$_SERVER['HTTP_HOST'] = $parts['host'];
$_SERVER['REQUEST_URI'] = $parts['path'] . '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if (is_blog_installed()) {
    echo "already installed\n";
} else {
    $result = wp_install($title, $user, $email, true, '', $password);
    if (empty($result['user_id'])) {
        fwrite(STDERR, "wp_install did not create the administrator\n");
        exit(1);
    }
    echo "installed\n";
}
foreach (['siteurl', 'home'] as $option) {
    if (get_option($option) !== $url) update_option($option, $url);
}
