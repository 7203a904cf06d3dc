/**
 * The same tests as parallel-unpack.test.ts with the unpacker's threads on Node's fs calls
 * instead of native/unpack.c (the fallback where the addon could not be built). Workers
 * read the variable when they start; this file's pools all start after it is set.
 */
process.env.KARAPACE_UNPACK_NATIVE = '0';
await import('./parallel-unpack.test.js');
