// ESM entry point of wsflow/redis: the CommonJS build, re-exported (see index.mjs).
export * from '../dist/src/brokers/redis.js';
// The default export is what `import x from` gives for a CommonJS module: the whole exports object.
export { default } from '../dist/src/brokers/redis.js';
