/**
 * A package-manager adapter builds the argv for each step and parses the tools' output;
 * `install.ts` runs them inside the environment through the backend. Keeping the adapters
 * pure (argv in, text out) is what lets the ones we cannot run here be tested on real
 * captured outputs.
 */
import type { ResolvedPackage } from '@karapace/kernel';
import type { ProgressReader } from './progress-lines.js';

export interface PackageManagerAdapter {
  name: 'apt' | 'dnf' | 'zypper' | 'pacman' | 'apk';
  /** Paths (relative to the rootfs) whose presence identifies this package manager. */
  markers: string[];
  /** Environment variables for every command (non-interactive frontends). */
  environment: Record<string, string>;
  /**
   * Commands run before the refresh (offline builds too) that set the package manager up for
   * life in an environment; what they write lands in the packages layer with the install.
   */
  configure?(): string[][];
  /** Refresh the package index. */
  refresh(): string[];
  /** Install; `pinned` holds exact versions (under --locked). */
  install(packages: string[], pinned: Record<string, string> | undefined, options: { offline: boolean }): string[];
  /** List exact installed versions of `packages`. */
  query(packages: string[]): string[];
  /** Parses the query's stdout. Packages not installed are absent from the result. */
  parseQuery(stdout: string): ResolvedPackage[];
  /**
   * Commands run after a successful install that remove what the package manager keeps
   * for itself (downloaded packages, binary caches; the index too where the package
   * manager's convention is to refresh before installing): otherwise every environment
   * carries them (issue 18).
   */
  clean(): string[][];
  /**
   * A reader of the install command's output lines, made for each install (it may count
   * lines against a total printed earlier): where the install is, or undefined for a line
   * that does not say (progress-lines.ts, apt-status.ts). Adapters without one report the
   * install's steps only.
   */
  progress?(): ProgressReader;
  /** Lines that are progress records, kept out of logs and error excerpts. */
  isProgressLine?(line: string): boolean;
  /** Recognises "would have to download" failures in offline mode. */
  needsNetwork(output: string): boolean;
}

/** Splits output into non-empty trimmed lines. */
export function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}
