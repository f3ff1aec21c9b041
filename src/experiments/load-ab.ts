import {shellQuote} from '../util/shell.js'
import type {LoadSpec} from './schema.js'

/**
 * The book's own load generator, ab (ApacheBench, as chapter 2's run_ab.sh runs it: `-c 10 -l`), counted per
 * second. ab prints nothing per second, but at `-v 3` one line per answer: `LOG: Response code = 200` for a 2xx,
 * `WARNING: Response code not 2xx (502)` for any other; with `-r` a failed request (a reset, a refused connection)
 * is a line on stderr (`apr_socket_recv: Connection reset by peer (104)`) instead of the end of the run. A small
 * Python wrapper (sent in the command, as the sampler is) runs ab line-buffered (stdbuf), counts those lines into
 * the seconds they arrive in, and speaks the sampler's protocol: {start}, one {s, ok, non2xx, failed, lat, why}
 * per second (lat is empty: ab tells latencies only in its summary), then {total} — ab's own summary (Complete
 * requests, Non-2xx responses, Failed requests; ok = the rest), which ab prints when the run ends or on SIGINT,
 * the wrapper's stop. The chart's sums and ab's totals are two counts of one run: they differ at most by the
 * requests in flight when ab stopped (one per client). No summary (ab died): no total, and the run says so.
 * Requests carry User-Agent chaos-lab-load, as the sampler's do, so a load balancer's log tells them apart.
 */
export const AB_SAMPLER = String.raw`
import json, os, re, signal, subprocess, sys, threading, time
url, conc, stop, maxsec, nmax = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
cur = {'ok': 0, 'non2xx': 0, 'failed': 0, 'why': {}}
summary = {}
SUMMARY = re.compile(r'^(Complete requests|Failed requests|Non-2xx responses):\s+(\d+)')
FAILED = re.compile(r'^(apr_\w+): (.*?)(?: \(\d+\))?$')
def count(kind, why=None):
    with lock:
        cur[kind] += 1
        if why:
            cur['why'][why] = cur['why'].get(why, 0) + 1
def read_stdout(stream):
    for line in stream:
        if line.startswith('LOG: Response code = '):
            count('ok')
        elif line.startswith('WARNING: Response code not 2xx ('):
            count('non2xx', 'HTTP ' + re.sub(r'\D', '', line.split('(', 1)[1])[:3])
        else:
            m = SUMMARY.match(line)
            if m:
                summary[m.group(1)] = int(m.group(2))
def read_stderr(stream):
    for line in stream:
        m = FAILED.match(line.strip())
        if m:
            count('failed', re.sub(r'[^\w .:-]', '', m.group(1) + ': ' + m.group(2))[:60])
def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()
try:
    ab = subprocess.Popen(['stdbuf', '-oL', '-eL', 'ab', '-v', '3', '-r', '-l', '-c', str(conc), '-t', str(max(1, int(maxsec + 0.999))), '-n', str(nmax),
                           '-H', 'User-Agent: chaos-lab-load', url],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors='replace')
    readers = [threading.Thread(target=read_stdout, args=(ab.stdout,), daemon=True), threading.Thread(target=read_stderr, args=(ab.stderr,), daemon=True)]
    for th in readers:
        th.start()
    emit({'start': time.time(), 'concurrency': conc, 'generator': 'ab'})
    t0 = time.monotonic()
    s = 0
    while True:
        while time.monotonic() < t0 + s + 1 and not os.path.exists(stop) and ab.poll() is None:
            time.sleep(0.05)
        stopping = os.path.exists(stop) or ab.poll() is not None
        if stopping:
            if ab.poll() is None:
                ab.send_signal(signal.SIGINT)
            try:
                ab.wait(35)
            except subprocess.TimeoutExpired:
                ab.kill()
                ab.wait()
            for th in readers:
                th.join(10)
        with lock:
            line = {'s': s, 'ok': cur['ok'], 'non2xx': cur['non2xx'], 'failed': cur['failed'], 'lat': []}
            if cur['why']:
                line['why'] = cur['why']
            cur.update({'ok': 0, 'non2xx': 0, 'failed': 0, 'why': {}})
        emit(line)
        s += 1
        if stopping:
            break
    if 'Complete requests' in summary:
        complete, non2xx, failed = summary['Complete requests'], summary.get('Non-2xx responses', 0), summary.get('Failed requests', 0)
        emit({'total': {'ok': max(0, complete - non2xx - failed), 'non2xx': non2xx, 'failed': failed}})
    else:
        sys.stderr.write('ab printed no summary (exit %s)\n' % ab.returncode)
finally:
    try:
        os.remove(stop)
    except OSError:
        pass
`

/**
 * ab's -n, the most requests it makes (it keeps a record of each: 32 bytes): 5000 a second over the run's
 * longest time, at most 2 million (64 MB). ab's default with -t is 50000, which a fast lab reaches in a minute.
 */
export function abRequestCap(maxSeconds: number): number {
  return Math.min(2_000_000, Math.ceil(maxSeconds) * 5000)
}

/** The command that runs ab under its wrapper in the machine, bounded by `timeout`. */
export function abCommand(spec: LoadSpec, stopFile: string): string {
  const bound = Math.ceil(spec.maxSeconds + 45)
  return `timeout ${bound} python3 -u -c ${shellQuote(AB_SAMPLER)} ${shellQuote(spec.url)} ${spec.concurrency} ${shellQuote(stopFile)} ${spec.maxSeconds} ${abRequestCap(spec.maxSeconds)}`
}
