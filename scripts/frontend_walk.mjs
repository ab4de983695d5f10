#!/usr/bin/env node
// A walk through Home Assistant's real frontend, as a first-time owner would take it, against
// scripts/develop (Home Assistant with this integration and simulated stations on loopback).
//
//   scripts/develop --fresh --port 8712 &          # in another terminal; wait until it is up
//   npm install --prefix /tmp/pw playwright-core   # once; nothing is installed in the checkout
//   PLAYWRIGHT_CORE_DIR=/tmp/pw node scripts/frontend_walk.mjs --url http://127.0.0.1:8712 \
//       [--out DIR] [--docs]
//
// Needs Debian's chromium (apt-get install chromium). Chromium resolves no host name except
// 127.0.0.1 (--host-resolver-rules), so the frontend cannot reach the internet.
// Steps (a screenshot of each in --out, default a new temporary directory):
//   1. log in as dev / dev;
//   2. add the discovered x-series station (Add integration > KEBA KeContact, pick it, submit);
//   3. its device page;
//   4. charging mode Fast (the hardware limit, 32 A), then the charging-current slider dragged:
//      refused, and the real state must be written again at once (checked);
//   5. charging mode Solar outside a charging site: refused, and the select must show the
//      active mode again at once (checked);
//   6. Configure > Station with an invalid RFID tag: the error, and the RFID section open.
// With --docs the screenshots used by the README are copied to docs/.
// Exits non-zero when a check fails.
import { createRequire } from 'node:module';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

function loadPlaywright() {
  const dir = process.env.PLAYWRIGHT_CORE_DIR;
  try {
    return dir
      ? require(require.resolve('playwright-core', { paths: [dir] }))
      : require('playwright-core');
  } catch {
    console.error('playwright-core not found: npm install --prefix DIR playwright-core, then '
      + 'set PLAYWRIGHT_CORE_DIR=DIR');
    process.exit(2);
  }
}

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

const url = option('--url', 'http://127.0.0.1:8123').replace(/\/$/, '');
const out = option('--out', mkdtempSync(join(tmpdir(), 'keba-walk-')));
const toDocs = process.argv.includes('--docs');
const failures = [];

function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

const { chromium } = loadPlaywright();
const profile = mkdtempSync(join(tmpdir(), 'keba-walk-profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(20000);

async function shot(name) {
  await page.waitForTimeout(600); // let animations end
  const file = join(out, `${name}.png`);
  await page.screenshot({ path: file });
  console.log(`     screenshot ${file}`);
  return file;
}

/** A websocket command through the frontend's own connection. */
function ws(message) {
  return page.evaluate((m) => document.querySelector('home-assistant').hass.callWS(m), message);
}

function service(domain, name, data) {
  return page.evaluate(
    ([d, s, x]) => document.querySelector('home-assistant').hass.callService(d, s, x),
    [domain, name, data],
  );
}

function stateOf(entityId) {
  return page.evaluate(
    (id) => document.querySelector('home-assistant').hass.states[id]?.state,
    entityId,
  );
}

async function ready() {
  await page.waitForFunction(() => {
    const hass = document.querySelector('home-assistant')?.hass;
    return hass && hass.connected && hass.states && Object.keys(hass.states).length > 0;
  });
}

async function addStation() {
  await page.goto(`${url}/config/integrations/dashboard/add?domain=keba`);
  await page.getByRole('button', { name: /^ok$/i }).click(); // "Do you want to set up …?"
  // "Want to add these discovered devices?": the x-series station, then its confirm step.
  // (Within the dialog: the integrations page behind it lists the discovered stations too.)
  await page.locator('dialog-add-integration').getByText(/^KeContact P30 x-series \d+$/)
    .first().click();
  const submit = page.getByRole('button', { name: /^(submit|next)$/i });
  await submit.waitFor();
  await shot('1-add-station');
  await submit.click();
  // "Name and assign": the device is named KEBA P30.
  const finish = page.getByRole('button', { name: /^(finish|skip and finish)$/i }).first();
  await finish.waitFor();
  await shot('2-station-added');
  await finish.click();
}

try {
  // 1. Log in.
  await page.goto(url);
  await page.locator('input[name="username"]').fill('dev');
  await page.locator('input[name="password"]').fill('dev');
  await page.keyboard.press('Enter');
  await ready();
  check(true, 'logged in');

  // 2. Add the x-series station through the integration's own dialog (unless a previous walk
  //    against the same Home Assistant did; scripts/develop --fresh starts anew).
  const existing = (await ws({ type: 'config_entries/get', domain: 'keba' }))
    .filter((entry) => entry.source !== 'ignore');
  if (existing.length === 0) await addStation();

  const entries = (await ws({ type: 'config_entries/get', domain: 'keba' }))
    .filter((entry) => entry.source !== 'ignore');
  check(entries.length === 1, `one entry: ${entries.map((e) => e.title).join(', ')}`);
  const entry = entries[0];
  const devices = (await ws({ type: 'config/device_registry/list' }))
    .filter((device) => device.config_entries.includes(entry.entry_id));
  const registry = (await ws({ type: 'config/entity_registry/list' }))
    .filter((e) => e.config_entry_id === entry.entry_id);
  const byKey = (key) => registry.find((e) => e.unique_id.endsWith(`_${key}`))?.entity_id;
  const energy = byKey('total_energy');
  check(/^sensor\.keba_p\d0_total_energy$/.test(energy ?? ''), `entity id ${energy}`);

  // 3. The device page.
  await page.goto(`${url}/config/devices/device/${devices[0].id}`);
  await page.getByText('Charging current').first().waitFor();
  await shot('3-device-page');

  // 4. Fast mode rules the current: a dragged slider is refused and jumps back at once.
  const number = byKey('charging_current');
  const select = byKey('charging_mode');
  await service('select', 'select_option', { entity_id: select, option: 'fast' });
  await page.waitForFunction((id) => document.querySelector('home-assistant').hass.states[id]
    .state === 'fast', select);
  await page.waitForTimeout(1500);
  const real = await stateOf(number);
  check(real === '32', `Fast offers the hardware limit: ${real} A`);
  const updatedBefore = await page.evaluate(
    (id) => document.querySelector('home-assistant').hass.states[id].last_updated,
    number,
  );
  const slider = page.locator('hui-number-entity-row ha-slider, ha-more-info-number ha-slider')
    .first();
  await slider.scrollIntoViewIfNeeded();
  const box = await slider.boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width - 4, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.15, y, { steps: 8 });
  await page.mouse.up();
  await page.getByText(/charging mode .* is not "Off"/i).first().waitFor();
  await page.waitForTimeout(400);
  const updatedAfter = await page.evaluate(
    (id) => document.querySelector('home-assistant').hass.states[id].last_updated,
    number,
  );
  check(updatedAfter !== updatedBefore && (await stateOf(number)) === real,
    `refused current: the real state (${real} A) was written again at once`);
  // The entities card's slider row binds its value without Lit's live(): a state written again
  // with the same value does not move the knob back (a frontend matter; the label is right).
  const shown = await slider.evaluate((element) => element.value);
  console.log(`note knob after the refusal: ${shown} (label and state: ${real})`);
  await shot('4-refused-current');

  // 5. Not in a charging site: Solar is refused and the select shows the active mode at once.
  await page.waitForTimeout(4000); // let the first toast go
  const picker = page.locator('hui-select-entity-row ha-select').first();
  await picker.scrollIntoViewIfNeeded();
  await picker.click();
  await page.locator('ha-dropdown-item').getByText('Solar', { exact: true }).click();
  await page.getByText(/is not in a charging site/i).first().waitFor();
  await page.waitForTimeout(400);
  const picked = await picker.evaluate((element) => element.value);
  check(picked === 'fast' && (await stateOf(select)) === 'fast',
    `refused mode: the select shows ${picked}`);
  await shot('5-refused-mode');
  await service('select', 'select_option', { entity_id: select, option: 'off' });

  // 6. Options: an invalid RFID tag; the form comes back with the RFID section open.
  await page.goto(`${url}/config/integrations/integration/keba`);
  await page.getByRole('button', { name: /^configure$/i }).first().click();
  await page.getByText(/^Station: polling/).first().click();
  await page.getByText('RFID authorization').first().click();
  const tag = page.getByRole('textbox', { name: 'Default RFID tag' });
  await tag.fill('xyz');
  await page.getByRole('button', { name: /^submit$/i }).click();
  const error = page.getByText(/RFID tag must be/i).first();
  await error.waitFor();
  check(await tag.isVisible() && await error.isVisible(),
    'options error: the RFID section is open, the field and the message visible');
  await error.scrollIntoViewIfNeeded();
  await shot('6-options-error');
  await page.keyboard.press('Escape');
} catch (err) {
  failures.push(String(err));
  console.error(err);
  await shot('failed').catch(() => {});
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

if (toDocs && failures.length === 0) {
  for (const [name, doc] of [
    ['3-device-page', 'device-page.png'],
    ['6-options-error', 'options-error.png'],
  ]) {
    copyFileSync(join(out, `${name}.png`), join(repoRoot, 'docs', doc));
    console.log(`     docs/${doc}`);
  }
}
console.log(failures.length ? `${failures.length} check(s) failed` : 'all checks passed');
process.exit(failures.length ? 1 : 0);
