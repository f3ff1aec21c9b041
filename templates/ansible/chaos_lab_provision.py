#!/usr/bin/python3
# chaos_lab_provision: an Ansible module written by `chaos-lab export ansible`. It runs chaos-lab's provisioning
# bundle on this host as `chaos-lab provision` does over SSH (src/provision/provisioner.ts): the same state file
# and stamps, the same bundle folder, the same step commands and environment. It knows nothing of what the steps
# do: that lives in the bundle's shell scripts, the one copy chaos-lab and Ansible both run.
import datetime
import json
import os
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule

STEP_TIMEOUT_S = 30 * 60


def read_state(path):
    try:
        with open(path) as handle:
            state = json.load(handle)
        if state.get('version') == 1 and isinstance(state.get('steps'), dict):
            chapters = state.get('chapters')
            chapters = [n for n in chapters if isinstance(n, int)] if isinstance(chapters, list) else None
            return {'version': 1, 'bundle': state.get('bundle'), 'chapters': chapters, 'steps': state['steps']}
    except (OSError, ValueError, AttributeError):
        pass  # a missing or damaged state file means: nothing is known to be done
    return {'version': 1, 'bundle': None, 'chapters': None, 'steps': {}}


def save_state(path, state):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    old = os.umask(0o022)
    try:
        with open(tmp, 'w') as handle:
            handle.write(json.dumps({k: v for k, v in state.items() if v is not None}, indent=2) + '\n')
        os.replace(tmp, path)
    finally:
        os.umask(old)


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')


def unpack(module, tar, manifest):
    bundle_dir = manifest['bundleDir']
    fresh = bundle_dir + '.new'
    os.makedirs(manifest['root'], exist_ok=True)
    shutil.rmtree(fresh, ignore_errors=True)
    os.mkdir(fresh, 0o755)
    os.chmod(fresh, 0o755)
    result = subprocess.run(['tar', '-xf', tar, '-C', fresh, '--no-same-owner'], capture_output=True, text=True)
    if result.returncode != 0:
        module.fail_json(msg='Could not unpack the provisioning files: %s' % (result.stderr.strip() or result.returncode))
    shutil.rmtree(bundle_dir, ignore_errors=True)
    os.rename(fresh, bundle_dir)


def run_step(module, step, manifest, login_user):
    env = dict(os.environ)
    env.update(manifest['env'])
    if login_user:
        env['CHAOS_LAB_LOGIN_USER'] = login_user
    log_file = manifest['logFile']
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    with open(log_file, 'a') as log:
        log.write('[%s] --- start %s\n' % (step['name'], now()))
        log.flush()
        # One step at a time per machine, as chaos-lab runs them: a step of another run finishes first.
        command = ['flock', '-w', '1800', manifest['root'] + '/step.lock', 'bash', manifest['bundleDir'] + '/' + step['script']]
        try:
            code = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=STEP_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            code = 'timeout'
    if code != 0:
        with open(log_file) as log:
            tail = log.read().splitlines()[-15:]
        module.fail_json(msg='Provisioning step "%s" failed (%s). Its last lines are below; the full log is %s on the host. Fix the cause, then run the playbook again: finished steps are skipped.' % (
            step['name'], 'it ran longer than 30 minutes' if code == 'timeout' else 'it exited with %s' % code, log_file), last_lines=tail)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bundle=dict(type='path', required=True),
            manifest=dict(type='path', required=True),
            login_user=dict(type='str', default=''),
        ),
        supports_check_mode=True,
    )
    with open(module.params['manifest']) as handle:
        manifest = json.load(handle)
    state_file = manifest['stateFile']
    state = read_state(state_file)
    pending = [step for step in manifest['steps'] if state['steps'].get(step['name'], {}).get('hash') != step['hash']]
    if not pending or module.check_mode:
        module.exit_json(changed=bool(pending), pending=[step['name'] for step in pending], ran=[])
    # The lab's chapters, as chaos-lab records them: those the machine had, and this playbook's.
    state['chapters'] = sorted(set(state.get('chapters') or []) | set(manifest.get('chapters') or []))
    if state.get('bundle') != manifest['bundle']:
        unpack(module, module.params['bundle'], manifest)
        state['bundle'] = manifest['bundle']
        save_state(state_file, state)
    ran = []
    for step in pending:
        # Unstamp first: a run cut off inside this step must redo it next time.
        if step['name'] in state['steps']:
            del state['steps'][step['name']]
            save_state(state_file, state)
        run_step(module, step, manifest, module.params['login_user'])
        state['steps'][step['name']] = {'hash': step['hash'], 'finishedAt': now()}
        save_state(state_file, state)
        ran.append(step['name'])
    module.exit_json(changed=True, pending=[step['name'] for step in pending], ran=ran)


if __name__ == '__main__':
    main()
