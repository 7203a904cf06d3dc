/**
 * What every command needs besides its arguments — global options, the reporter and an
 * engine wired to it — without clipanion, so the `exec` fast path and BaseCommand share it.
 */
import type { Writable } from 'node:stream';
import { asKarapaceError, createEngine, createLogger, parseLogLevel, type BuiltinPlugin, type Engine, type LogLevel } from '@karapace/kernel';
import { selfLauncher } from './launcher.js';
import { Reporter } from './reporter.js';

export interface GlobalOptions {
  json: boolean;
  store?: string;
  verbose: boolean;
  trace: boolean;
}

export interface SessionIO {
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export class Session {
  readonly reporter: Reporter;

  constructor(
    readonly options: GlobalOptions,
    readonly io: SessionIO,
    /** The built-in plugins this front end offers (exec offers only the backends). */
    private readonly builtins: readonly BuiltinPlugin[],
  ) {
    this.reporter = new Reporter(io.stdout, io.stderr, options.json);
  }

  logLevel(): LogLevel {
    if (this.options.trace) return 'trace';
    if (this.options.verbose) return 'debug';
    return parseLogLevel(this.io.env.KARAPACE_LOG, 'warn');
  }

  async engine(options: { deferBuiltins?: boolean } = {}): Promise<Engine> {
    const logger = createLogger(this.logLevel(), (line) => this.io.stderr.write(line + '\n'));
    const engine = await createEngine({ cwd: this.io.cwd, store: this.options.store, env: this.io.env, logger, builtins: this.builtins, launcher: selfLauncher(), ...options });
    engine.kernel.hooks.progress.tap('cli-reporter', (event) => this.reporter.progress(event, logger));
    return engine;
  }

  /** Runs a command body; a thrown error is reported once and becomes the exit code. */
  async run(body: () => Promise<number>): Promise<number> {
    try {
      return await body();
    } catch (error) {
      const err = asKarapaceError(error);
      this.reporter.error(err, this.options.trace);
      return err.exitCode;
    }
  }
}
