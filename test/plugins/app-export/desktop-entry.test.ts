/**
 * The desktop-entry reader follows GLib's GKeyFile rules, and what we write reads back as
 * exactly the values we meant (the real-path checks, launched by GLib, are in
 * test/plugins/app-export/export-hostile.test.ts).
 */
import test from 'ava';
import { escapeValue, parseKeyFile, unescapeList, unescapeValue } from '../../../plugins/app-export/dist/export-key-file.js';
import { parseExecLine, quoteExecArg } from '../../../plugins/app-export/dist/export-exec-line.js';
import { hostDesktopEntry, parseDesktopEntry } from '../../../plugins/app-export/dist/export-desktop-entry.js';

test('key files: leading whitespace, CRLF, comments, repeated groups and keys (last wins), locales', (t) => {
  const kf = parseKeyFile('# c\r\n[Desktop Entry]\r\n  Exec = a\r\n\tName[de_DE.UTF-8@euro]=x\n[Other]\nExec=o\n[Desktop Entry]\nExec=b  \n');
  const main = kf.get('Desktop Entry')!;
  t.is(main.get('Exec'), 'b  ', 'the last one wins; trailing spaces stay, as in GLib');
  t.is(main.get('Name[de_DE.UTF-8@euro]'), 'x');
  t.is(kf.get('Other')!.get('Exec'), 'o');
  for (const bad of ['Exec=x\n[A]\n', '[A]\nnot a pair\n', '[A]\n=x\n', '[A]\nK[$e]=x\n', '[A\n', '[A]x\n', '[A]\nK=\0\n', '[A]\nEncoding=latin1\n']) {
    t.throws(() => parseKeyFile(bad), undefined, JSON.stringify(bad));
  }
  t.is(unescapeValue('\\sa\\nb\\tc\\rd\\\\e'), ' a\nb\tc\rd\\e');
  t.is(unescapeValue('bad\\x'), undefined);
  t.is(unescapeValue('end\\'), undefined);
  t.deepEqual(unescapeList('a;b\\;c;;d;'), ['a', 'b;c', '', 'd']);
  for (const v of [' lead', '\ttab', 'new\nline', 'back\\slash', 'semi;colon', 'x ']) {
    t.is(unescapeValue(escapeValue(v)), v);
    t.deepEqual(unescapeList(`${escapeValue(v, true)};`), [v]);
  }
});

test('Exec lines: split as g_shell_parse_argv splits them, field codes kept; every quoted argument reads back the same', (t) => {
  t.deepEqual(parseExecLine(`a "b c" 'd $e' f\\ g %U "%f" 100%% h;i \`j\` #k`), [['a'], ['b c'], ['d $e'], ['f g'], [{ field: '%U' }], [], ['100%'], ['h;i'], ['`j`']]);
  t.deepEqual(parseExecLine('a --file=%f %i %c %k'), [['a'], ['--file=', { field: '%f' }]]);
  t.throws(() => parseExecLine('a "b'));
  t.throws(() => parseExecLine('%U'));
  const hostile = ['', ' ', 'a b', '$(touch x)', '`id`', ';', '|', '&&', '"', "'", '\\', '\\\\"', '%', '%%f', '%f', 'new\nline', '#c', '~', 'é ü', '>x<'];
  const line = hostile.map((a) => quoteExecArg(a)).join(' ');
  // A desktop expands %% first (anywhere), then splits: parseExecLine does both.
  t.deepEqual(parseExecLine(`prog ${line}`).slice(1).map((a) => a.join('')), hostile);
});

test('a host entry is written from parsed values only', (t) => {
  const entry = parseDesktopEntry('[Desktop Entry]\nType=Application\nName=N\nExec=app %F\nTryExec=app\nPath=/\nURL=x\nX-Foo=1\nTerminal=1\nActions=a;b;\n[Desktop Action a]\nName=A\nExec=app --a\n[Desktop Action b]\nName=B\n');
  const out = hostDesktopEntry(entry, { launch: ['/k k', 'exec', '--'], label: 'L', envId: 'e' });
  t.is(out, '[Desktop Entry]\nType=Application\nName=N (L)\nTerminal=true\nExec="/k k" exec -- app %F\nActions=a;\nX-Karapace-Env=e\n\n[Desktop Action a]\nName=A\nExec="/k k" exec -- app --a\n');
  t.throws(() => parseDesktopEntry('[Desktop Entry]\nType=Link\nName=N\nURL=file:///etc\n'), { message: /Type is "Link"/ });
  t.throws(() => hostDesktopEntry(parseDesktopEntry('[Desktop Entry]\nType=Application\nName=N\nExec=a "b\n'), { launch: ['k'], label: 'L', envId: 'e' }), { message: /Exec is missing or unreadable/ });
});
