/**
 * A real headless browser for the status page: Debian's chromium driven by playwright-core (which
 * downloads no browser of its own). Records what would show a broken page: console errors,
 * Content-Security-Policy violations, requests that left the page's origin.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.ENTRASYNC_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null. In CI they always run (and fail without chromium). */
export function browserSkipReason(): string | null {
  if (existsSync(CHROMIUM) || process.env.CI) return null;
  return `no chromium at ${CHROMIUM}: apt-get install chromium (.ci/run installs it), or set ENTRASYNC_TEST_CHROMIUM`;
}

export const launchBrowser = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM });

export interface WatchedPage {
  page: Page;
  /** Console errors and CSP violations, as the browser reported them. */
  problems: string[];
  /** Every URL the page requested. */
  requests: string[];
}

export async function openPage(browser: Browser, url: string): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (r) => requests.push(r.url()));
  // Injected by the DevTools protocol, so the page's own policy does not stop it.
  await page.exposeFunction('__reportViolation', (text: string) => problems.push(`csp: ${text}`));
  await page.addInitScript(
    "document.addEventListener('securitypolicyviolation', (e) => window.__reportViolation(e.violatedDirective + ' blocked ' + e.blockedURI));",
  );
  const response = await page.goto(url, { waitUntil: 'load' });
  if (!response || response.status() !== 200) throw new Error(`${url} answered ${response?.status()}`);
  return { page, problems, requests };
}

/** The text a person reads in one element (rendered, not the markup). */
export const textOf = (page: Page, selector: string) => page.locator(selector).first().innerText();
