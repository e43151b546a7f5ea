// The echo page moved to src/cli/echo-page.ts, where `wsflow serve` uses it too.
export { echoPage } from '../src/cli/echo-page';
