<?php
// WordPress's database settings (chaos-lab, chapter 4), as the book's VM has them. Debian's and Ubuntu's
// /usr/share/wordpress/wp-config.php reads /etc/wordpress/config-HOST.php for the Host of the request:
// config-127.0.0.1.php (a link to this file) serves http://127.0.0.1/blog, this file http://localhost/blog.
// The database is reached over TCP on 127.0.0.1 (not the socket), so `tc` can slow the connection down.
define('DB_NAME', 'wordpress');
define('DB_USER', 'wordpress');
define('DB_PASSWORD', 'wordpress');
define('DB_HOST', '127.0.0.1');
define('WP_CONTENT_DIR', '/usr/share/wordpress/wp-content');
define('WP_DEBUG', true);
