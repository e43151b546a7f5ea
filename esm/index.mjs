// ESM entry point of wsflow: the CommonJS build, re-exported. One implementation for both module systems,
// so `instanceof` checks and module state agree whether a dependency imports or requires wsflow.
// Node finds the names through the build's static `exports.X =` / re-export getters (cjs-module-lexer).
export * from '../dist/src/index.js';
// The default export is what `import x from` gives for a CommonJS module: the whole exports object.
export { default } from '../dist/src/index.js';
