// dashboard_test.mjs — drives the xferq dashboard in Debian's headless
// Chromium with puppeteer-core, for tests/serve_browser_test.cc (which
// starts the server, owns the fixtures and checks the queue afterwards).
//
//   node dashboard_test.mjs BASE_URL TOKEN JOB_ID SCREENSHOT.png ADD_URL ADD_PATH
//
// Opens BASE_URL/#token=TOKEN, checks the token left the address bar and is
// in no cookie, waits for JOB_ID's progress bar to move, adds a download
// with the form and sees it appear, saves a screenshot, clicks Cancel on
// JOB_ID (accepting the confirmation) and waits for the row to say
// CANCELLED. Prints one JSON line of what it saw; exits 1 on any failure.
import puppeteer from 'puppeteer-core';

const [base, token, jobId, screenshot, addUrl, addPath] = process.argv.slice(2);
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const seen = { console_errors: [] };

function fail(message) {
  console.log(JSON.stringify({ ok: false, error: message, ...seen }));
  process.exit(1);
}

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--window-size=1280,900'],
  defaultViewport: { width: 1280, height: 900 },
});
try {
  const page = await browser.newPage();
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => seen.console_errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') seen.console_errors.push(m.text()); });

  await page.goto(base + '#token=' + token, { waitUntil: 'domcontentloaded' });
  const row = `tr[data-job-id="${jobId}"]`;
  await page.waitForSelector(`${row}[data-state="TRANSFERRING"]`, { timeout: 30000 });
  if (page.url().includes(token)) fail('the token stayed in the address bar');
  const cookies = await page.cookies();
  if (cookies.length) fail('the dashboard set a cookie');

  // The progress bar moves, live from the events (no reload).
  const percent = () => page.$eval(`${row} .bar`, (b) => parseFloat(b.dataset.percent));
  seen.first_percent = await percent();
  await page.waitForFunction(
    (sel, first) => parseFloat(document.querySelector(sel).dataset.percent) > first,
    { timeout: 30000 }, `${row} .bar`, seen.first_percent);
  seen.later_percent = await percent();
  seen.rate_text = await page.$eval(`${row} .rate`, (e) => e.textContent);

  // The form adds a download, which appears in the list.
  await page.type('#add-url', addUrl);
  await page.type('#add-path', addPath);
  await page.type('#add-name', 'added from the form');
  await page.click('#add-form button[type=submit]');
  await page.waitForFunction(
    () => [...document.querySelectorAll('#job-rows a.name')].some((a) => a.textContent === 'added from the form'),
    { timeout: 15000 });
  seen.added = true;

  // A job's files, then the screenshot of the whole page.
  await page.click(`${row} a.name`);
  await page.waitForFunction((sel) => {
    const files = document.querySelector(sel).nextElementSibling;
    return !files.hidden && files.textContent.includes('\u2192');
  }, { timeout: 15000 }, row);
  await page.waitForFunction(() => document.querySelector('#rate-now').textContent !== '', { timeout: 15000 });
  await page.screenshot({ path: screenshot, fullPage: true });
  seen.screenshot = screenshot;

  await page.click(`${row} button[data-action="cancel"]`);
  await page.waitForSelector(`${row}[data-state="CANCELLED"]`, { timeout: 15000 });
  seen.final_state = await page.$eval(`${row} .state`, (e) => e.textContent);
  if (seen.console_errors.length) fail('the page reported errors');
  console.log(JSON.stringify({ ok: true, ...seen }));
} catch (e) {
  fail(String(e && e.stack ? e.stack : e));
} finally {
  await browser.close();
}
