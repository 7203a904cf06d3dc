/** Minimal leveled logger; the CLI routes it to stderr (`--verbose`, `--trace`, `KARAPACE_LOG`). */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

export interface Logger {
  level: LogLevel;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  trace(message: string): void;
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'warn'): LogLevel {
  const v = (value ?? '').trim().toLowerCase();
  return v in ORDER ? (v as LogLevel) : fallback;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const logger: Logger = {
    level,
    error: (m) => emit('error', m),
    warn: (m) => emit('warn', m),
    info: (m) => emit('info', m),
    debug: (m) => emit('debug', m),
    trace: (m) => emit('trace', m),
  };
  function emit(at: LogLevel, message: string): void {
    if (ORDER[at] <= ORDER[logger.level]) write(`karapace ${at}: ${message}`);
  }
  return logger;
}

export const silentLogger: Logger = createLogger('error', () => {});
