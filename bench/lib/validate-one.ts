/**
 * Child of bench/validator.ts: validates one release zip and prints one JSON
 * line — the outcome, the time spent inside validateRelease (Node start-up
 * excluded), the bytes inflated and the process's peak RSS.
 *
 *   node validate-one.mjs FILE.zip ['{"maxEntries":1000}']
 */
import { validateReleaseCounting } from '../../src/core/release/validate.js';

const [path, limitsJson] = process.argv.slice(2);
if (!path) throw new Error('usage: validate-one FILE.zip [LIMITS_JSON]');
const stats = { inflatedBytes: 0 };
const start = performance.now();
let code = 'valid';
try {
  await validateReleaseCounting(path, limitsJson ? JSON.parse(limitsJson) : undefined, stats);
} catch (err) {
  code = (err as { code?: string }).code ?? 'ERROR';
}
const ms = performance.now() - start;
// maxRSS is in KiB on Linux.
const maxRssBytes = process.resourceUsage().maxRSS * 1024;
process.stdout.write(`${JSON.stringify({ code, ms, inflatedBytes: stats.inflatedBytes, maxRssBytes })}\n`);
