#!/usr/bin/env python3
"""The official `openai` npm package (installed from the npm registry into the build tree on first run) talking
to `viewfinder-cli serve` on 127.0.0.1: models, a picture question answered as the reference does (golden a02),
the same streamed, and an error.

Usage: test_openai_sdk.py NPM_DIR   (VF_CLI, VF_TEST_DATA from the environment)
"""
import json
import os
import signal
import subprocess
import sys

OPENAI_VERSION = 'openai@4'  # 4.x runs on Debian 12's node 18


def main():
    npm_dir = sys.argv[1]
    package = os.path.join(npm_dir, 'node_modules', 'openai', 'package.json')
    if not os.path.exists(package):
        os.makedirs(npm_dir, exist_ok=True)
        subprocess.run(['npm', 'install', '--prefix', npm_dir, '--no-audit', '--no-fund', '--loglevel=error',
                        OPENAI_VERSION], check=True)
    data = os.environ['VF_TEST_DATA']
    case_dir = os.path.join(data, 'golden', 'cases', 'a02_image_photo')
    with open(os.path.join(case_dir, 'case.json'), encoding='utf-8') as f:
        case = json.load(f)
    key = 'sdk-test-key'
    server = subprocess.Popen([os.environ['VF_CLI'], 'serve', '-m', os.path.join(data, 'models', 'tiny-a'),
                               '--tokenizer', os.path.join(data, 'tokenizer'), '--port', '0', '--api-key', key,
                               '--context', '512'], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        if not line.startswith('listening on http://127.0.0.1:'):
            sys.exit(f'serve did not start: {line!r}')
        base = line.split(' ')[-1] + '/v1'
        env = dict(os.environ, NODE_PATH=os.path.join(npm_dir, 'node_modules'))
        client = subprocess.run(['node', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'openai_sdk_client.cjs'),
                                 base, key, os.path.join(case_dir, 'chelsea.png'), case['generation']['decoded'],
                                 str(case['seq_len'])], env=env)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    if server.returncode != 0:
        sys.exit(f'serve exited with {server.returncode}')
    sys.exit(client.returncode)


if __name__ == '__main__':
    main()
