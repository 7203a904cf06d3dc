/**
 * The one start-up dispatcher: which fast path serves a command line, and the command line
 * parsed, from the option definitions of the commands that have one. The clipanion commands
 * declare the same options (test/cli/fast-dispatch.test.ts holds the two together and
 * checks that both split `exec` arguments alike). Anything not recognised exactly — help,
 * an option this table does not know (one added to a command since), a repeated option, a
 * wrong number of arguments — is undefined: the full CLI decides, so behaviour and messages
 * stay its own. CommonJS so the executable (karapace.cts) can use it before loading a bundle.
 */

// verbatimModuleSyntax: a CommonJS file exports one value; the namespace carries the types too.
namespace FastDispatch {
  export interface OptionDef {
    /** The flags, as clipanion declares them (`--verbose,-v` → ['--verbose', '-v']). */
    flags: readonly string[];
    field: string;
    kind: 'boolean' | 'string';
  }

  export interface CommandDef {
    options: readonly OptionDef[];
    /** Positional arguments before the command's rest; `optional` ones may be left out. */
    positionals: readonly { name: string; optional?: boolean }[];
    /**
     * The command to run, after the positionals:
     * - `proxy` (exec): from the first argument that is not an option, or after `--`, every
     *   argument belongs to the command (`exec dev --json -- ls -l`: `--json` is ours);
     * - `rest` (enter): further positionals, options still parsed, `--` ends the options.
     */
    rest?: { kind: 'proxy' | 'rest'; required: number };
    /** Fast-path bundles (cli/dist/bundle/<name>.cjs) tried in order. */
    bundles: readonly string[];
  }

  /** Options every command takes (BaseCommand). */
  export const GLOBAL_OPTIONS: readonly OptionDef[] = [
    { flags: ['--json'], field: 'json', kind: 'boolean' },
    { flags: ['--store'], field: 'store', kind: 'string' },
    { flags: ['--verbose', '-v'], field: 'verbose', kind: 'boolean' },
    { flags: ['--trace'], field: 'trace', kind: 'boolean' },
  ];

  const REMOTE_OPTIONS: readonly OptionDef[] = [
    { flags: ['--remote'], field: 'remote', kind: 'string' },
    { flags: ['--token-env'], field: 'tokenEnv', kind: 'string' },
  ];

  const LIST_OPTIONS: readonly OptionDef[] = [
    { flags: ['--limit'], field: 'limit', kind: 'string' },
    { flags: ['--offset'], field: 'offset', kind: 'string' },
  ];

  /**
   * The commands with a fast path. A build first asks exec.cjs, which answers a warm build
   * without loading any plugin; only a build with work to do loads build.cjs.
   */
  export const FAST_COMMANDS: Readonly<Record<string, CommandDef>> = {
    exec: { options: [], positionals: [{ name: 'env' }], rest: { kind: 'proxy', required: 1 }, bundles: ['exec'] },
    enter: { options: [], positionals: [{ name: 'env' }], rest: { kind: 'rest', required: 0 }, bundles: ['exec'] },
    build: {
      options: [
        { flags: ['--name'], field: 'name', kind: 'string' },
        { flags: ['--locked'], field: 'locked', kind: 'boolean' },
        { flags: ['--offline'], field: 'offline', kind: 'boolean' },
        { flags: ['--require-pinned-image'], field: 'requirePinnedImage', kind: 'boolean' },
      ],
      positionals: [{ name: 'manifest', optional: true }],
      bundles: ['exec', 'build'],
    },
    // `list` from the index alone when nothing needs asking (list.cjs), else with the backends.
    list: { options: LIST_OPTIONS, positionals: [], bundles: ['list', 'exec'] },
    ls: { options: LIST_OPTIONS, positionals: [], bundles: ['list', 'exec'] },
    push: { options: REMOTE_OPTIONS, positionals: [{ name: 'env' }, { name: 'reference', optional: true }], bundles: ['remote'] },
    pull: { options: [...REMOTE_OPTIONS, { flags: ['--name'], field: 'name', kind: 'string' }], positionals: [{ name: 'reference' }], bundles: ['remote'] },
    // A commit or restore loads only the backends (issue 18: a one-file commit ≈ Node's start-up).
    commit: { options: [{ flags: ['--message', '-m'], field: 'message', kind: 'string' }], positionals: [{ name: 'env' }], bundles: ['snapshot'] },
    restore: { options: [], positionals: [{ name: 'env' }, { name: 'snapshot', optional: true }], bundles: ['snapshot'] },
  };

  export interface GlobalValues {
    json: boolean;
    store?: string;
    verbose: boolean;
    trace: boolean;
  }

  export interface FastArgs {
    command: string;
    global: GlobalValues;
    /** The command's own options that were given, by field. */
    options: Record<string, string | boolean>;
    /** Positionals by name (optional ones that were left out are absent). */
    positionals: Record<string, string>;
    /** The command to run (exec/enter), without the `--` that may have introduced it. */
    rest: string[];
  }

  /** Where the native front door wants an exec plan written (native/front-door.c). */
  export interface PlanRequest {
    file: string;
    key: string;
  }

  /**
   * The plan request the front door passed (KARAPACE_FRONT_DOOR_PLAN/_KEY), taken out of
   * `env`: it is the front door's, never part of what runs (nor of a plan's inputs).
   */
  export function takePlanRequest(env: NodeJS.ProcessEnv): PlanRequest | undefined {
    const file = env.KARAPACE_FRONT_DOOR_PLAN;
    const key = env.KARAPACE_FRONT_DOOR_KEY;
    if (file === undefined && key === undefined) return undefined;
    delete env.KARAPACE_FRONT_DOOR_PLAN;
    delete env.KARAPACE_FRONT_DOOR_KEY;
    return file && key ? { file, key } : undefined;
  }

  function findOption(defs: readonly OptionDef[], flag: string): OptionDef | undefined {
    return defs.find((d) => d.flags.includes(flag));
  }

  /** Parses a command line for a fast path; undefined when the full CLI must handle it. */
  export function dispatch(args: readonly string[]): FastArgs | undefined {
    let name: string | undefined;
    let def: CommandDef | undefined;
    const global: GlobalValues = { json: false, verbose: false, trace: false };
    const options: Record<string, string | boolean> = {};
    const seen = new Set<string>();
    const values: string[] = [];
    const rest: string[] = [];
    let restStarted = false;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      const positionalsFull = def !== undefined && values.length === def.positionals.length;
      if (restStarted) {
        rest.push(arg);
        continue;
      }
      if (arg === '--') {
        // Only a command's rest may follow `--` (`exec dev -- ls`, `enter dev -- sh`).
        if (!def?.rest || !positionalsFull) return undefined;
        restStarted = true;
        continue;
      }
      if (arg.startsWith('-') && arg !== '-') {
        const eq = arg.indexOf('=');
        const flag = eq > 0 ? arg.slice(0, eq) : arg;
        // Before the command's name only global options are recognised.
        const globalDef = findOption(GLOBAL_OPTIONS, flag);
        const option = globalDef ?? (def ? findOption(def.options, flag) : undefined);
        if (!option) return undefined;
        const target: Record<string, string | boolean | undefined> = globalDef ? (global as unknown as Record<string, string | boolean | undefined>) : options;
        if (seen.has(option.field)) return undefined;
        seen.add(option.field);
        if (option.kind === 'boolean') {
          if (eq > 0) return undefined;
          target[option.field] = true;
        } else {
          const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
          if (value === undefined || (eq < 0 && value.startsWith('-'))) return undefined;
          target[option.field] = value;
        }
        continue;
      }
      if (name === undefined) {
        if (!Object.prototype.hasOwnProperty.call(FAST_COMMANDS, arg)) return undefined;
        name = arg;
        def = FAST_COMMANDS[arg]!;
        continue;
      }
      if (positionalsFull && def!.rest) {
        rest.push(arg);
        if (def!.rest.kind === 'proxy') restStarted = true;
        continue;
      }
      if (values.length >= def!.positionals.length) return undefined;
      values.push(arg);
    }
    if (!name || !def) return undefined;
    if (values.length < def.positionals.filter((p) => !p.optional).length) return undefined;
    if (rest.length < (def.rest?.required ?? 0)) return undefined;
    const positionals: Record<string, string> = {};
    values.forEach((v, i) => (positionals[def!.positionals[i]!.name] = v));
    return { command: name, global, options, positionals, rest };
  }

  /**
   * The command line with the global options that come before the command's name moved
   * after it (`--store S -v list` → `list --store S -v`): clipanion takes options only after
   * the path, and reads a leading `-v` as `--version`. A lone `-v`/`--version`, or options
   * before something that is not a command, are left as they are.
   */
  export function commandFirst(args: readonly string[], isCommand: (name: string) => boolean): string[] {
    let i = 0;
    while (i < args.length) {
      const arg = args[i]!;
      const eq = arg.indexOf('=');
      const option = findOption(GLOBAL_OPTIONS, eq > 0 ? arg.slice(0, eq) : arg);
      if (!option) break;
      i += option.kind === 'string' && eq < 0 ? 2 : 1;
    }
    if (i === 0 || i >= args.length || !isCommand(args[i]!)) return [...args];
    return [args[i]!, ...args.slice(0, i), ...args.slice(i + 1)];
  }
}

export = FastDispatch;
