import { createHash, X509Certificate } from 'node:crypto';
import { type Browser, type BrowserContext, type ConsoleMessage, chromium, type Page } from 'playwright-core';
import { findCommand, requireCommand } from './skip.js';

/*
 * Real Chromium (Debian's `chromium` package) driven by playwright-core, for
 * the console's browser tests. playwright-core downloads no browser: it runs
 * /usr/bin/chromium. Use `requireChromium()` as the test's skip reason (a
 * missing Chromium skips, and fails under CI=true).
 */

/** Skip reason when Chromium is not installed; throws under CI. */
export function requireChromium(): string | undefined {
  return requireCommand('chromium');
}

export interface LaunchOptions {
  /**
   * Host names Chromium resolves to 127.0.0.1 (the URL's port is kept), so a
   * test can use the cloud's real names without DNS or /etc/hosts. Default:
   * `cloud.test` and `*.cloud.test`. (`*.localhost` is loopback anyway.)
   */
  mapToLoopback?: string[];
  /**
   * Certificates the browser accepts as if trusted, by the SHA-256 of their
   * public key (see {@link spkiHashOf}): the test's own self-signed or CA-made
   * certificate, without turning off every TLS check as `ignoreHTTPSErrors` would.
   */
  trustSpki?: string[];
}

/** Launches headless Chromium; close it in an `after` hook. */
export async function launchBrowser(options: LaunchOptions = {}): Promise<Browser> {
  const executablePath = findCommand('chromium');
  if (!executablePath) throw new Error('chromium is not installed (apt-get install chromium)');
  const hosts = options.mapToLoopback ?? ['cloud.test', '*.cloud.test'];
  const args = ['--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking'];
  // Chromium refuses to start as root with its sandbox on ("Running as root
  // without --no-sandbox is not supported"); the test machines run as root.
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  if (hosts.length > 0) {
    args.push(`--host-resolver-rules=${hosts.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`);
  }
  if (options.trustSpki && options.trustSpki.length > 0) {
    args.push(`--ignore-certificate-errors-spki-list=${options.trustSpki.join(',')}`);
  }
  return chromium.launch({ executablePath, headless: true, args, timeout: 60_000 });
}

/** The base64 SHA-256 of a certificate's public key (for `trustSpki`). */
export function spkiHashOf(certificatePem: string): string {
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

export interface ContextOptions {
  /** Default: a phone, 375x667. */
  viewport?: { width: number; height: number };
  /**
   * Accept any certificate. Only for a test whose CA the browser cannot be
   * given (prefer `trustSpki` at launch).
   */
  ignoreHTTPSErrors?: boolean;
}

export async function newContext(browser: Browser, options: ContextOptions = {}): Promise<BrowserContext> {
  return browser.newContext({
    viewport: options.viewport ?? { width: 375, height: 667 },
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
  });
}

/**
 * Collects what a person would see as broken: console errors and warnings
 * (Chromium reports CSP violations there), uncaught page errors, failed
 * requests. Assert `problems` is empty at the end of a step.
 */
export function watchPage(page: Page): { problems: string[]; cspViolations: () => string[] } {
  const problems: string[] = [];
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() === 'error' || msg.type() === 'warning')
      problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) =>
    problems.push(`request failed: ${req.url()} ${req.failure()?.errorText ?? ''}`),
  );
  return {
    problems,
    cspViolations: () => problems.filter((p) => /Content Security Policy/i.test(p)),
  };
}

/** True when the page is wider than its viewport (a horizontal scroll bar on a phone). */
export async function hasHorizontalScroll(page: Page): Promise<boolean> {
  return page.evaluate(
    () =>
      document.documentElement.scrollWidth > window.innerWidth ||
      document.body.scrollWidth > window.innerWidth,
  );
}
