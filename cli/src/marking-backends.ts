/**
 * The built-in backends that mark what they start in the store's running index
 * (`Backend.marksRunning`, store/running-index.ts): with only the built-ins loaded, an
 * unmarked environment of one of these is stopped without asking its plugin, which is what
 * lets bundle/list.cjs answer `list` without loading any. The plugins declare it themselves;
 * test/cli/fast-list.test.ts holds this list to what they register.
 */
export const MARKING_BACKENDS: ReadonlySet<string> = new Set(['mock', 'namespace']);
