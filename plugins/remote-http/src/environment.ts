/** Push and pull are kernel operations (kernel/src/engine/push.ts, pull.ts); re-exported for existing callers. */
export { pushEnvironment, pullEnvironment, type PushOptions, type PullEnvironmentOptions as PullOptions } from '@karapace/kernel';
