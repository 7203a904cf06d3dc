import test from 'ava';
import { spawnSync } from 'node:child_process';
import { BIN, sandbox } from '../helpers/cli.js';
import { buildMock, hasTool } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Polls the pane until `pattern` shows up (the TUI redraws asynchronously). */
async function waitFor(session: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = '';
  while (Date.now() < deadline) {
    screen = tmux('capture-pane', '-p', '-t', session);
    if (pattern.test(screen)) return screen;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${pattern}; screen:\n${screen}`);
}

test('the TUI lists, filters and renames environments, driven through tmux', async (t) => {
  if (!hasTool('tmux')) {
    t.log('tmux is not installed (.ci/run installs it)');
    t.fail('tmux missing');
    return;
  }
  const box = sandbox('kp-tui-');
  await buildMock(box, 'alpha', 'alpha');
  const beta = await buildMock(box, 'beta', 'beta');
  const session = `kp-tui-${process.pid}-${Date.now()}`;
  const cmd = `cd ${JSON.stringify(box.dir)} && KARAPACE_STORE=${JSON.stringify(box.store)} XDG_CONFIG_HOME=${JSON.stringify(box.env.XDG_CONFIG_HOME)} ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} tui; echo TUI-EXIT=$?; sleep 30`;
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '24', cmd);
  t.teardown(() => spawnSync('tmux', ['kill-session', '-t', session]));

  let screen = await waitFor(session, /2\/2 environments/);
  t.regex(screen, /alpha\s+built\s+mock/);
  t.regex(screen, /beta\s+built\s+mock/);

  tmux('send-keys', '-t', session, '/', 'b', 'e', 't');
  screen = await waitFor(session, /1\/2 environments .*filter: bet/);
  t.notRegex(screen, /alpha\s+built/);
  tmux('send-keys', '-t', session, 'Enter');

  tmux('send-keys', '-t', session, 'r');
  await waitFor(session, /rename beta to: beta/);
  tmux('send-keys', '-t', session, 'BSpace', 'BSpace', 'BSpace', 'BSpace', 'g', 'a', 'm', 'm', 'a', 'Enter');
  screen = await waitFor(session, /renamed \w+ to gamma/);
  t.regex(screen, /gamma\s+built\s+mock/);

  // Escape clears the filter: both again, sorted by name after `s`.
  tmux('send-keys', '-t', session, 'Escape');
  await waitFor(session, /2\/2 environments/);
  tmux('send-keys', '-t', session, 's');
  await waitFor(session, /sort: name/);
  tmux('send-keys', '-t', session, '?');
  await waitFor(session, /cycle sort/);
  tmux('send-keys', '-t', session, 'Escape', 'q');
  await waitFor(session, /TUI-EXIT=0/);

  const list = await box.json(['list']);
  const renamed = list.environments.find((e: { env_id: string }) => e.env_id === beta.env_id);
  t.is(renamed.name, 'gamma');
});

test('tui rejects --json and needs a terminal', async (t) => {
  const box = sandbox('kp-tui-');
  const json = await box.run(['tui', '--json']);
  t.is(json.code, 2);
  t.is(JSON.parse(json.stderr.trim()).error.code, 'KP_TUI_JSON');
  const noTty = await box.run(['tui']);
  t.is(noTty.code, 2);
  t.regex(noTty.stderr, /needs a terminal/);
});
