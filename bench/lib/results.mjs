// Replaces (or appends) one `## <title>` section of bench/RESULTS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function writeSection(resultsFile, titlePrefix, section) {
  let text = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : '# Benchmark results\n\n';
  const start = text.indexOf(`## ${titlePrefix}`);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + 3);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else text = text.trimEnd() + '\n\n' + section;
  writeFileSync(resultsFile, text);
}
