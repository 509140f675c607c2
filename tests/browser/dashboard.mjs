// Drives berth's dashboard in Debian's Chromium (headless) through playwright-core, which is
// pointed at /usr/bin/chromium and never downloads a browser. Run by tests/e2e/dashboard_test.cc
// against a real `berth serve`:
//
//   node dashboard.mjs URL KEY FAILED_JOB_ID ARTIFACT_DIR
//
// FAILED_JOB_ID is a job that already ended with exit code 7. Exits non-zero with a message on
// the first check that fails; screenshots of each page go to ARTIFACT_DIR.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url, key, failedId, artifacts] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const T = 120_000;

function step(name) { console.log(`dashboard: ${name}`); }

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const shot = (name) => page.screenshot({ path: join(artifacts, name + '.png'), fullPage: true });

  step('the key is asked for once; a wrong key is refused');
  await page.goto(url + '/');
  await page.getByTestId('key-input').waitFor({ state: 'visible' });
  await shot('01-key');
  await page.getByTestId('key-input').fill('not-the-key');
  await page.getByTestId('key-save').click();
  await page.getByText('That key was refused.').waitFor();
  // With the keyboard: type the key and press Enter.
  await page.getByTestId('key-input').fill('');
  await page.getByTestId('key-input').focus();
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');

  step('the jobs list shows the failed job with its exit code');
  const failedRow = page.locator(`[data-testid="job-row"][data-job-id="${failedId}"]`);
  await failedRow.waitFor({ timeout: T });
  assert.equal(await failedRow.getByTestId('job-state').textContent(), 'Failed');
  assert.equal(await failedRow.getByTestId('job-exit-code').textContent(), '7');
  await shot('02-jobs');
  // Marks this document: a reload would lose it.
  await page.evaluate(() => { window.berthNoReload = 'still here'; });

  step('one failed job: its status, exit code and log');
  await failedRow.getByRole('link').click();
  await page.waitForFunction(
    () => document.querySelector('#job-view [data-testid="job-exit-code"]')?.textContent === '7');
  assert.equal(await page.locator('#job-view [data-testid="job-state"]').textContent(), 'Failed');
  await page.waitForFunction(
    () => document.querySelector('[data-testid="job-log"]').textContent.includes('failing on purpose'));
  assert.equal(await page.getByTestId('cancel-button').isDisabled(), true);
  await shot('03-failed-job');

  step('submit the default job; its log grows to 30 lines and it turns Succeeded, live');
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.getByTestId('submit-image').waitFor({ state: 'visible' });
  await shot('04-submit');
  await page.getByTestId('submit-button').click();
  await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
  const defaultId = page.url().split('/').pop();
  const log = page.getByTestId('job-log');
  await page.waitForFunction(
    () => document.querySelector('[data-testid="job-log"]').textContent.split('\n').length > 3,
    null, { timeout: T });
  const early = (await log.textContent()).trim().split('\n');
  assert.ok(early.length < 30, `the log should be seen while it grows, got ${early.length} lines`);
  assert.notEqual(await page.locator('#job-view [data-testid="job-state"]').textContent(),
    'Succeeded');
  await shot('05-running-job');
  await page.waitForFunction(
    () => document.querySelector('#job-view [data-testid="job-state"]')?.textContent === 'Succeeded',
    null, { timeout: T });
  const lines = (await log.textContent()).trim().split('\n');
  assert.deepEqual(lines, Array.from({ length: 30 }, (_, i) => String(i + 1)));
  assert.equal(await page.evaluate(() => window.berthNoReload), 'still here', 'page reloaded');
  await shot('06-succeeded-job');

  step('cancel a running job');
  await page.getByRole('link', { name: 'Submit' }).click();
  await page.getByTestId('submit-image').fill('busybox');
  await page.getByTestId('submit-command').fill('echo started; sleep 300');
  await page.getByTestId('submit-env').fill('WHO=dashboard');
  await page.getByTestId('submit-button').click();
  await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
  const cancelId = page.url().split('/').pop();
  assert.notEqual(cancelId, defaultId);
  await page.waitForFunction(
    () => document.querySelector('#job-view [data-testid="job-state"]')?.textContent === 'Running',
    null, { timeout: T });
  await page.waitForFunction(
    () => document.querySelector('[data-testid="job-log"]').textContent.includes('started'),
    null, { timeout: T });
  await page.getByTestId('cancel-button').click();
  await page.waitForFunction(
    () => document.querySelector('#job-view [data-testid="job-state"]')?.textContent === 'Canceled',
    null, { timeout: T });
  await shot('07-canceled-job');

  step('the list has every job in its final state, and a new job appears without a reload');
  await page.getByRole('link', { name: 'Jobs' }).click();
  for (const [id, want] of [[defaultId, 'Succeeded'], [cancelId, 'Canceled'], [failedId, 'Failed']]) {
    const row = page.locator(`[data-testid="job-row"][data-job-id="${id}"]`);
    await row.waitFor({ timeout: T });
    assert.equal(await row.getByTestId('job-state').textContent(), want, id);
  }
  const posted = await page.evaluate(async (k) => {
    const r = await fetch('/api/jobs', { method: 'POST', headers: { 'x-functions-key': k },
      body: JSON.stringify({ image: 'busybox', command: 'exit 0' }) });
    return (await r.json()).id;
  }, key);
  const liveRow = page.locator(`[data-testid="job-row"][data-job-id="${posted}"]`);
  await liveRow.waitFor({ timeout: T });
  await page.waitForFunction((id) => document.querySelector(
    `[data-testid="job-row"][data-job-id="${id}"] [data-testid="job-state"]`)?.textContent ===
    'Succeeded', posted, { timeout: T });
  assert.equal(await page.evaluate(() => window.berthNoReload), 'still here', 'page reloaded');
  await shot('08-jobs-live');

  step('filter by state');
  await page.locator('#state-filter').selectOption('Failed');
  await page.waitForFunction(() => {
    const states = [...document.querySelectorAll('[data-testid="job-row"] [data-testid="job-state"]')];
    return states.length === 1 && states[0].textContent === 'Failed';
  }, null, { timeout: T });
  await page.locator('#state-filter').selectOption('');

  step('images');
  await page.getByRole('link', { name: 'Images' }).click();
  await page.getByTestId('image-row').first().waitFor({ timeout: T });
  assert.match(await page.getByTestId('image-row').first().textContent(), /busybox/);
  await shot('09-images');

  step('a narrow window: nothing wider than the screen');
  await page.setViewportSize({ width: 360, height: 740 });
  await page.getByRole('link', { name: 'Jobs' }).click();
  await page.getByTestId('job-row').first().waitFor();
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a 360px window`);
  await shot('10-narrow');

  assert.deepEqual(pageErrors, [], 'JavaScript errors on the page');
  step('ok');
} catch (e) {
  if (page) await page.screenshot({ path: join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`dashboard: FAILED: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
