#!/usr/bin/env python3
"""chaos-lab (chapter 4): what `chaos-lab check lesson-4` reads in the VM. Root-owned; runs as root.

  lab_facts.py page           WordPress through Apache at http://127.0.0.1/blog/ and the first post in the database
  lab_facts.py runs           the learner's ab runs (Apache's timing log) and the experiments' windows (sudo's log)
  lab_facts.py left           what is still injected: netem qdiscs, I/O limits on the database's unit
  lab_facts.py means KIND     the mean time per request of each ab run of KIND (baseline, disk, connection)
  lab_facts.py slower         which experiment slowed WordPress down more: disk or connection

Only what happened since the lesson started counts (provisioning and `chaos-lab reset lesson-4` write the mark).
Every source is one the learner cannot write: Apache's log (root:adm), sudo's own journal lines, tc, systemd.
"""
import html
import http.client
import json
import os
import re
import subprocess
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
STARTED = '/var/lib/chaos-lab/lessons/lesson-4.started'
TIMING_LOG = '/var/log/apache2/chaos-lab-timing.log'
# For the unit tests only (sudo's env_reset drops both in the VM): sudo's journal lines as `journalctl -o json`
# prints them, from a file, and another timing log.
SUDO_JOURNAL = os.environ.get('CHAOS_LAB_TEST_SUDO_JOURNAL')
TIMING_LOG = os.environ.get('CHAOS_LAB_TEST_TIMING_LOG', TIMING_LOG)
# Requests further apart than this (from one's end to the next one's start) belong to different ab runs.
RUN_GAP_MS = 5000
IO_LIMITS = ('IOReadBandwidthMax', 'IOWriteBandwidthMax', 'IOReadIOPSMax', 'IOWriteIOPSMax')
# The kinds of ab run, by the word `means` takes.
RUN_KINDS = {'baseline': 'baseline', 'disk': 'slow disk', 'connection': 'slow connection'}

DISK_ON = re.compile(r'\bsystemctl\b.*\bset-property\b.*\bIO(?:Read|Write)(?:IOPS|Bandwidth)Max=\S')
DISK_OFF = re.compile(r'\bsystemctl\b.*(?:\brevert\b|\bset-property\b.*\bIO(?:Read|Write)(?:IOPS|Bandwidth)Max=(?:\s|$))')
NETEM_ON = re.compile(r'\btc\b.*\bqdisc\s+(?:add|replace|change)\b.*\bnetem\b')
NETEM_OFF = re.compile(r'\btc\b.*\bqdisc\s+del\b')


def lesson_start_ms():
    try:
        with open(STARTED, encoding='utf-8') as f:
            return int(f.read().strip()) * 1000
    except (OSError, ValueError):
        return 0


def database_unit():
    with open(os.path.join(TOOLS, 'database-unit'), encoding='utf-8') as f:
        return f.read().strip()


def first_post_title():
    query = "SELECT post_title FROM wp_posts WHERE post_type='post' AND post_status='publish' ORDER BY ID LIMIT 1"
    out = subprocess.run(['mysql', '--batch', '--skip-column-names', '-e', query, 'wordpress'],
                         capture_output=True, text=True, timeout=30, check=False)
    return out.stdout.strip() if out.returncode == 0 else ''


def page():
    title = first_post_title()
    print(f'first post in the database: {title or "(none)"}')
    try:
        conn = http.client.HTTPConnection('127.0.0.1', 80, timeout=60)
        conn.request('GET', '/blog/', headers={'User-Agent': 'chaos-lab-check'})
        resp = conn.getresponse()
        body = resp.read().decode('utf-8', 'replace')
    except OSError as err:
        print(f'status: no answer ({err})')
        return
    print(f'status: {resp.status}')
    print(f'server: {resp.getheader("Server", "")}')
    print(f'title on the page: {"yes" if title and title in html.unescape(body) else "no"}')


def sudo_commands(since_ms):
    """(time in ms, command) of every command sudo ran since since_ms, from sudo's own journal lines."""
    if SUDO_JOURNAL:
        with open(SUDO_JOURNAL, encoding='utf-8') as f:
            text = f.read()
    else:
        args = ['journalctl', '_COMM=sudo', '-o', 'json', '--output-fields=MESSAGE', '--no-pager', '-q']
        if since_ms:
            args += ['--since', f'@{since_ms // 1000}']
        text = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False).stdout
    commands = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        message = entry.get('MESSAGE', '')
        if isinstance(message, list):
            message = bytes(message).decode('utf-8', 'replace')
        match = re.search(r'COMMAND=(.*)$', message)
        if match:
            commands.append((int(entry['__REALTIME_TIMESTAMP']) // 1000, match.group(1)))
    return commands


def windows(commands, on, off, now_ms):
    """[start, end] of each time a fault was on: from a command matching `on` to the next matching `off`."""
    found, start = [], None
    for at, command in commands:
        if start is None and on.search(command):
            start = at
        elif start is not None and off.search(command):
            found.append((start, at))
            start = None
    if start is not None:
        found.append((start, now_ms))
    return found


def ab_runs(since_ms):
    """Each run of ab against /blog: [start ms, end ms, requests, mean ms, non-2xx]."""
    requests = []
    for path in (TIMING_LOG + '.1', TIMING_LOG):
        try:
            with open(path, encoding='utf-8', errors='replace') as f:
                lines = f.readlines()
        except OSError:
            continue
        for line in lines:
            match = re.match(r'^(\d+) (\d+) (\d{3}) "(?:GET|HEAD|POST) (/blog\S*) [^"]*" "ApacheBench', line)
            if not match:
                continue
            start, micros, status = int(match.group(1)), int(match.group(2)), int(match.group(3))
            if start >= since_ms:
                requests.append((start, start + micros // 1000, micros / 1000.0, status))
    requests.sort()
    runs = []
    for start, end, ms, status in requests:
        if runs and start - runs[-1]['end'] <= RUN_GAP_MS:
            run = runs[-1]
            run['end'] = max(run['end'], end)
        else:
            run = {'start': start, 'end': end, 'times': [], 'non2xx': 0}
            runs.append(run)
        run['times'].append(ms)
        run['non2xx'] += 0 if 200 <= status < 300 else 1
    for run in runs:
        run['mean'] = sum(run['times']) / len(run['times'])
    return runs


def facts():
    now_ms = int(time.time() * 1000)
    since = lesson_start_ms()
    commands = sudo_commands(since)
    disk = windows(commands, DISK_ON, DISK_OFF, now_ms)
    netem = windows(commands, NETEM_ON, NETEM_OFF, now_ms)
    inside = lambda run, spans: any(s <= run['start'] and run['end'] <= e + 2000 for s, e in spans)  # noqa: E731
    overlaps = lambda run, spans: any(run['start'] <= e and s <= run['end'] for s, e in spans)  # noqa: E731
    runs = ab_runs(since)
    for run in runs:
        in_disk, in_netem = inside(run, disk), inside(run, netem)
        if in_disk and not in_netem and not overlaps(run, netem):
            run['kind'] = 'slow disk'
        elif in_netem and not in_disk and not overlaps(run, disk):
            run['kind'] = 'slow connection'
        elif not overlaps(run, disk) and not overlaps(run, netem):
            run['kind'] = 'baseline'
        else:
            run['kind'] = 'mixed'
    return {'disk': disk, 'netem': netem, 'runs': runs}


def show_runs():
    f = facts()
    print(f'disk slowed (sudo systemctl set-property … IO…Max=): {len(f["disk"])} times')
    print(f'connection slowed (sudo tc qdisc … netem): {len(f["netem"])} times')
    for run in f['runs']:
        started = time.strftime('%H:%M:%S', time.gmtime(run['start'] / 1000))
        print(f'ab run at {started} UTC: {run["kind"]}, {len(run["times"])} requests, mean {run["mean"]:.0f} ms, non-2xx {run["non2xx"]}')
    for kind in ('baseline', 'slow disk', 'slow connection'):
        print(f'{kind} ab runs: {sum(1 for run in f["runs"] if run["kind"] == kind)}')


def left():
    out = subprocess.run(['tc', 'qdisc', 'show'], capture_output=True, text=True, timeout=30, check=True)
    netem = [line for line in out.stdout.splitlines() if re.search(r'\bnetem\b', line)]
    for line in netem:
        print(f'netem: {line}')
    print(f'netem qdiscs left: {len(netem)}')
    unit = database_unit()
    args = ['systemctl', 'show', unit] + [f'--property={name}' for name in IO_LIMITS]
    shown = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout
    limits = [line for line in shown.splitlines() if re.match(r'^IO\w+Max=\S', line)]
    for line in limits:
        print(f'{unit}: {line}')
    print(f'database unit: {unit}')
    print(f'I/O limits left on the database: {len(limits)}')


def means(kind):
    """The mean time per request (ms) of each ab run of one kind, one a line: the truths of the time answers."""
    for run in facts()['runs']:
        if run['kind'] == kind:
            print(f'{run["mean"]:.1f}')


def slower():
    runs = facts()['runs']
    last = {kind: [run['mean'] for run in runs if run['kind'] == kind] for kind in ('slow disk', 'slow connection')}
    if not last['slow disk'] or not last['slow connection']:
        print('need an ab run during each experiment', file=sys.stderr)
        sys.exit(1)
    print('disk' if last['slow disk'][-1] > last['slow connection'][-1] else 'connection')


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ''
    if what == 'page':
        page()
    elif what == 'runs':
        show_runs()
    elif what == 'left':
        left()
    elif what == 'means' and len(sys.argv) == 3 and sys.argv[2] in RUN_KINDS:
        means(RUN_KINDS[sys.argv[2]])
    elif what == 'slower':
        slower()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
