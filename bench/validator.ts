/**
 * Release validator benchmark (issue 5): for each bomb of the malicious
 * corpus and for valid releases, the time and peak memory to refuse or accept
 * it, beside `unzip -t` (Info-ZIP, Debian's `unzip`) on the same file in the
 * same run. Targets: every bomb refused in < 100 ms and < 64 MiB RSS.
 *
 * Each validation runs in its own process, so its peak RSS is its own: the
 * validator is bundled once with esbuild into a plain .mjs (no TypeScript
 * compiler in the child; `--runner tsx` runs it through tsx instead). The
 * child reports the time spent inside validateRelease; the parent measures
 * the wall time of the whole process (Node start-up included, ~40-50 ms) and
 * reports the RSS of a bare `node -e ''` as the floor.
 *
 *   node --import tsx bench/validator.ts [--runs 5] [--runner bundle|tsx]
 *
 * Needs Debian's `unzip` for the baseline, and GNU time (`/usr/bin/time`) for
 * its peak RSS (else /proc VmHWM sampling).
 */

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { REPO_ROOT } from '../test/helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../test/helpers/tmp.js';
import { type CorpusFile, corpusCases, writeCorpus } from '../test/release/corpus.js';
import { formatRatio, markdownRow, median, watchPeakRss } from './lib/stats.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    runner: { type: 'string', default: 'bundle' },
  },
});
const RUNS = Number(flags.runs);
const MIB = 1024 * 1024;
const TARGET_MS = 100;
const TARGET_RSS = 64 * MIB;

interface Measure {
  code: string;
  /** Inside the child, validateRelease alone. */
  innerMs: number;
  /** The whole child process. */
  wallMs: number;
  rssBytes: number;
  inflatedBytes: number;
}

interface UnzipMeasure {
  exit: number;
  wallMs: number;
  rssBytes: number;
}

function run(
  command: string,
  args: string[],
): Promise<{ stdout: string; stderr: string; exit: number; wallMs: number; peak: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const watch = watchPeakRss(child.pid!, 5);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (exit) => {
      const wallMs = performance.now() - start;
      resolve({ stdout, stderr, exit: exit ?? -1, wallMs, peak: watch.stop() });
    });
  });
}

async function validateOnce(childArgs: string[], file: CorpusFile): Promise<Measure> {
  const args = [...childArgs, file.path, ...(file.limits ? [JSON.stringify(file.limits)] : [])];
  const result = await run(process.execPath, args);
  if (result.exit !== 0) throw new Error(`validator child failed: ${result.stderr}`);
  const line = JSON.parse(result.stdout.trim()) as {
    code: string;
    ms: number;
    maxRssBytes: number;
    inflatedBytes: number;
  };
  return {
    code: line.code,
    innerMs: line.ms,
    wallMs: result.wallMs,
    rssBytes: line.maxRssBytes,
    inflatedBytes: line.inflatedBytes,
  };
}

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

async function unzipOnce(path: string): Promise<UnzipMeasure> {
  if (GNU_TIME) {
    const result = await run(GNU_TIME, ['-f', 'WARREN_TIME %e %M', 'unzip', '-tqq', path]);
    const match = /WARREN_TIME ([0-9.]+) ([0-9]+)/.exec(result.stderr);
    const exit = /Command exited with non-zero status (\d+)/.exec(result.stderr);
    return {
      exit: exit ? Number(exit[1]) : result.exit,
      wallMs: result.wallMs,
      rssBytes: match ? Number(match[2]) * 1024 : result.peak,
    };
  }
  const result = await run('unzip', ['-tqq', path]);
  return { exit: result.exit, wallMs: result.wallMs, rssBytes: result.peak };
}

async function childCommand(scratch: string): Promise<string[]> {
  const entry = join(REPO_ROOT, 'bench', 'lib', 'validate-one.ts');
  if (flags.runner === 'tsx') return ['--import', 'tsx', entry];
  const outfile = join(scratch, 'validate-one.mjs');
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    // yauzl is CommonJS and requires Node built-ins.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return [outfile];
}

const mib = (bytes: number) => (bytes / MIB).toFixed(1);
const ms = (value: number) => value.toFixed(1);

async function main(): Promise<void> {
  if (spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('needs Debian unzip for the baseline: apt-get install -y unzip');
  }
  const scratch = tempDir('warren-validator-bench-');
  try {
    const corpusDir = join(scratch, 'corpus');
    mkdirSync(corpusDir);
    const cases = corpusCases().filter(
      (c) =>
        c.kind === 'bomb' ||
        c.name === 'valid-basic' ||
        c.name === 'valid-icon-png' ||
        c.name === 'yaml-billion-laughs',
    );
    const files = await writeCorpus(corpusDir, cases);
    const childArgs = await childCommand(scratch);
    const floor = await run(process.execPath, ['-e', '']);

    const header = [
      'file',
      'expected',
      'result',
      'validator (in-process) ms',
      'validator process ms',
      'validator peak RSS MiB',
      'inflated KiB',
      'unzip -t ms',
      'unzip -t peak RSS MiB',
      'unzip exit',
      'process time vs unzip',
      'target',
    ];
    const rows: string[] = [markdownRow(header), markdownRow(header.map(() => '---'))];
    let missed = 0;
    for (const file of files) {
      const ours: Measure[] = [];
      const theirs: UnzipMeasure[] = [];
      for (let i = 0; i < RUNS; i++) {
        ours.push(await validateOnce(childArgs, file));
        theirs.push(await unzipOnce(file.path));
      }
      const code = ours[0]!.code;
      const innerMs = median(ours.map((m) => m.innerMs));
      const wallMs = median(ours.map((m) => m.wallMs));
      const rss = Math.max(...ours.map((m) => m.rssBytes));
      const unzipMs = median(theirs.map((m) => m.wallMs));
      const unzipRss = Math.max(...theirs.map((m) => m.rssBytes));
      const isBomb = file.kind === 'bomb';
      const met = innerMs < TARGET_MS && rss < TARGET_RSS;
      if (isBomb && !met) missed++;
      rows.push(
        markdownRow([
          file.name,
          file.expect,
          code === file.expect ? code : `**${code}**`,
          ms(innerMs),
          ms(wallMs),
          mib(rss),
          (Math.max(...ours.map((m) => m.inflatedBytes)) / 1024).toFixed(1),
          ms(unzipMs),
          mib(unzipRss),
          String(theirs[0]!.exit),
          formatRatio(wallMs / unzipMs),
          isBomb ? (met ? 'met' : '**missed**') : '-',
        ]),
      );
    }
    process.stdout.write(
      `Release validator vs unzip -t (median of ${RUNS} runs; peak RSS is the highest; runner: ${flags.runner})\n` +
        `Node ${process.version}; a bare \`node -e ''\` peaks at ${mib(floor.peak)} MiB RSS and takes ${ms(floor.wallMs)} ms.\n\n` +
        `${rows.join('\n')}\n\n` +
        `Bombs over target (< ${TARGET_MS} ms inside the validator and < ${TARGET_RSS / MIB} MiB peak RSS): ${missed}\n`,
    );
  } finally {
    cleanupTempDirs();
  }
}

await main();
