import type { Config } from 'jest';

const config: Config = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Type checking happens once in `npm run typecheck`; per-file isolated transpilation keeps the suite fast.
  transform: { "^.+\\.ts$": "ts-jest" },
  testTimeout: 30000,
};

export default config;
