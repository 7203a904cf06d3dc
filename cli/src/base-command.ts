/**
 * The global options every command takes, engine construction, and the one place errors
 * are turned into output and an exit code.
 */
import { Command, Option } from 'clipanion';
import type { BaseContext } from 'clipanion';
import { asKarapaceError, createEngine, createLogger, parseLogLevel, type Engine, type LogLevel } from '@karapace/kernel';
import { Reporter } from './reporter.js';
import { CLI_BUILTINS } from './builtins.js';

export interface KarapaceContext extends BaseContext {
  cwd: string;
}

export abstract class BaseCommand extends Command<KarapaceContext> {
  json = Option.Boolean('--json', false, { description: 'Print one JSON document on stdout (errors as JSON on stderr)' });
  store = Option.String('--store', { description: 'Store root (default: $KARAPACE_STORE, config, ~/.local/share/karapace)' });
  verbose = Option.Boolean('--verbose,-v', false, { description: 'Log what is happening to stderr' });
  trace = Option.Boolean('--trace', false, { description: 'Log everything, including stack traces on error' });

  private reporterInstance?: Reporter;

  get reporter(): Reporter {
    this.reporterInstance ??= new Reporter(this.context.stdout, this.context.stderr, this.json);
    return this.reporterInstance;
  }

  logLevel(): LogLevel {
    if (this.trace) return 'trace';
    if (this.verbose) return 'debug';
    return parseLogLevel(this.context.env.KARAPACE_LOG, 'warn');
  }

  async engine(options: { deferBuiltins?: boolean } = {}): Promise<Engine> {
    const logger = createLogger(this.logLevel(), (line) => this.context.stderr.write(line + '\n'));
    const engine = await createEngine({ cwd: this.context.cwd, store: this.store, env: this.context.env, logger, builtins: CLI_BUILTINS, ...options });
    engine.kernel.hooks.progress.tap('cli-reporter', (event) => this.reporter.progress(event, logger));
    return engine;
  }

  /** The command's work; returns the exit code. */
  abstract run(): Promise<number>;

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (error) {
      const err = asKarapaceError(error);
      this.reporter.error(err, this.trace);
      return err.exitCode;
    }
  }
}
