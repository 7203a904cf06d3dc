/**
 * The global options every command takes (clipanion fields), and the bridge to Session:
 * engine construction and the one place errors become output and an exit code.
 */
import { Command, Option } from 'clipanion';
import type { BaseContext } from 'clipanion';
import type { Engine } from '@karapace/kernel';
import type { Reporter } from './reporter.js';
import { Session } from './session.js';
import { CLI_BUILTINS } from './builtins.js';

export interface KarapaceContext extends BaseContext {
  cwd: string;
}

export abstract class BaseCommand extends Command<KarapaceContext> {
  json = Option.Boolean('--json', false, { description: 'Print one JSON document on stdout (errors as JSON on stderr)' });
  store = Option.String('--store', { description: 'Store root (default: $KARAPACE_STORE, config, ~/.local/share/karapace)' });
  verbose = Option.Boolean('--verbose,-v', false, { description: 'Log what is happening to stderr' });
  trace = Option.Boolean('--trace', false, { description: 'Log everything, including stack traces on error' });

  private sessionInstance?: Session;

  get session(): Session {
    this.sessionInstance ??= new Session(
      { json: this.json, store: this.store, verbose: this.verbose, trace: this.trace },
      { stdout: this.context.stdout, stderr: this.context.stderr, env: this.context.env, cwd: this.context.cwd },
      CLI_BUILTINS,
    );
    return this.sessionInstance;
  }

  get reporter(): Reporter {
    return this.session.reporter;
  }

  engine(options: { deferBuiltins?: boolean } = {}): Promise<Engine> {
    return this.session.engine(options);
  }

  /** The command's work; returns the exit code. */
  abstract run(): Promise<number>;

  execute(): Promise<number> {
    return this.session.run(() => this.run());
  }
}
