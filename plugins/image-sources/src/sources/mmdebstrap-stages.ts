/**
 * mmdebstrap's stages, from the `I: …` lines it prints on stderr (without --quiet), in the
 * order it runs them. A stage it skips (nothing to download) is simply passed over.
 */
export const MMDEBSTRAP_STAGES: readonly { name: string; match: RegExp }[] = Object.freeze([
  { name: 'updating package lists', match: /^I: (running apt-get update|skipping apt-get update)/ },
  { name: 'downloading packages', match: /^I: (simulate )?downloading packages/ },
  { name: 'extracting archives', match: /^I: extracting archives/ },
  { name: 'installing essential packages', match: /^I: (simulate )?installing essential packages/ },
  { name: 'installing remaining packages', match: /^I: (simulate )?installing remaining packages/ },
  { name: 'cleaning package lists', match: /^I: cleaning (package lists|apt cache)/ },
  { name: 'creating tarball', match: /^I: (simulate )?creating (a )?tarball/ },
]);

export interface BootstrapStage {
  /** 1-based: stage `index` of `MMDEBSTRAP_STAGES.length`. */
  index: number;
  name: string;
}

/** The stage a line starts, or undefined (another line, or a stage already passed). */
export function mmdebstrapStage(line: string, current = 0): BootstrapStage | undefined {
  const i = MMDEBSTRAP_STAGES.findIndex((s) => s.match.test(line.trim()));
  if (i < 0 || i + 1 <= current) return undefined;
  return { index: i + 1, name: MMDEBSTRAP_STAGES[i]!.name };
}
