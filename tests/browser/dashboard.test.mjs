// Browser tests of the dashboard against a running `tessera serve` (tests/e2e/dashboard.sh
// starts one on a demo store and runs this file with `node --test`).
//
// Environment: TESSERA_URL (http://127.0.0.1:PORT/, a store with two snapshots),
// TESSERA_VIEWER_KEY, TESSERA_ANALYST_KEY; TESSERA_FRESH_URL, TESSERA_FRESH_KEY (viewer),
// TESSERA_FRESH_STORE (a served store without snapshots, which a test gives one with
// TESSERA_BIN); TESSERA_ARTIFACT_DIR (screenshots go there), CHROMIUM (default /usr/bin/chromium).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";

const base = process.env.TESSERA_URL;
const viewerKey = process.env.TESSERA_VIEWER_KEY;
const analystKey = process.env.TESSERA_ANALYST_KEY;
const artifacts = process.env.TESSERA_ARTIFACT_DIR ?? os.tmpdir();
if (!base || !viewerKey || !analystKey) {
  throw new Error("set TESSERA_URL, TESSERA_VIEWER_KEY and TESSERA_ANALYST_KEY");
}
// The servers the pages may talk to; anything else is a request that leaves the machine.
const origins = [base, process.env.TESSERA_FRESH_URL].filter(Boolean).map((u) => new URL(u).origin);

let browser;
const foreignRequests = [];
const pageErrors = [];

// playwright gives chromium a fresh, throwaway --user-data-dir of its own on every launch.
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    // Without these, chromium reaches out to Google's services from a closed network.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-default-apps",
      "--disable-extensions",
      "--metrics-recording-only",
    ],
  });
});

after(async () => {
  await browser?.close();
});

async function newPage(viewport = { width: 1366, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, locale: "en-GB" });
  const page = await context.newPage();
  page.on("request", (req) => {
    const url = req.url();
    const ok = origins.some((o) => url.startsWith(o + "/")) || /^(data|blob):/.test(url);
    if (!ok) {
      foreignRequests.push(url);
    }
  });
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  return page;
}

async function login(page, key) {
  await page.goto(base);
  await page.fill("#api-key", key);
  await page.click("#sign-in");
  await page.waitForSelector("#segments-table tbody tr");
}

async function api(pathAndQuery, key = analystKey) {
  const res = await fetch(new URL(pathAndQuery, base), { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200, `${pathAndQuery}: ${res.status}`);
  return res;
}

// Pixels of colour (bars, heat-map cells) in the chart's canvas: axes and text are grey, so
// a chart that drew no data has next to none.
async function colouredPixels(page, selector) {
  await page.waitForSelector(`${selector}[data-chart="ready"] canvas`);
  // ECharts may draw a series on a layer (canvas) of its own.
  return page.$$eval(`${selector} canvas`, (canvases) => {
    let n = 0;
    for (const canvas of canvases) {
      const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
        if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 40) n++;
      }
    }
    return n;
  });
}

test("a wrong key is refused on the login screen", async () => {
  const page = await newPage();
  await page.goto(base);
  await page.fill("#api-key", "tsk_0000000000000000_" + "0".repeat(64));
  await page.click("#sign-in");
  await page.waitForSelector("#login-error:not(:empty)");
  assert.match(await page.textContent("#login-error"), /not accepted/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.context().close();
});

test("after login the overview draws the segment chart and table", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  const report = await (await api("api/v1/segments", viewerKey)).json();
  const rows = await page.$$eval("#segments-table tbody tr", (trs) =>
    trs.map((tr) => ({ key: tr.dataset.segment, cells: [...tr.children].map((c) => c.textContent.trim()) })),
  );
  assert.equal(rows.length, 9);
  assert.deepEqual(
    rows.map((r) => r.key),
    report.segments.map((s) => s.key),
  );
  for (const [i, s] of report.segments.entries()) {
    assert.equal(rows[i].cells[0], s.group);
    assert.equal(rows[i].cells[1].replace(/,/g, ""), String(s.uuid_count));
  }
  // The newest snapshot carries predictions: average P(alive) and predicted CLV per segment.
  assert.ok(report.predictions, "the test store's newest snapshot has predictions");
  const heads = await page.$$eval("#segments-table thead th", (ths) => ths.map((th) => th.textContent.trim()));
  assert.ok(heads.includes("Avg. P(alive)"), `no P(alive) column in ${heads}`);
  for (const [i, s] of report.segments.entries()) {
    const shown = rows[i].cells[heads.indexOf("Avg. P(alive)")];
    if (s.avg_p_alive == null) assert.equal(shown, "–", s.key);
    else assert.ok(Math.abs(Number(shown) - s.avg_p_alive) <= 0.0051, `${s.key}: ${shown} vs ${s.avg_p_alive}`);
  }
  const pixels = await colouredPixels(page, "#segments-chart");
  assert.ok(pixels > 2000, `the segment chart has only ${pixels} coloured pixels`);
  // Every measure draws.
  for (const metric of ["share_percent", "avg_clv", "avg_recency_days", "avg_order_count"]) {
    await page.click(`[data-metric="${metric}"]`);
    assert.ok((await colouredPixels(page, "#segments-chart")) > 2000, `${metric} drew nothing`);
  }
  await page.click('[data-metric="uuid_count"]');
  await page.waitForTimeout(1200);  // the bars' animation
  const shot = path.join(artifacts, "dashboard-overview.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  await page.context().close();
});

test("the heat map and the histograms draw", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click('nav a[data-screen="distributions"]');
  for (const chart of ["#rf-heatmap", "#clv-histogram", "#recency-histogram"]) {
    const pixels = await colouredPixels(page, chart);
    assert.ok(pixels > 1000, `${chart} has only ${pixels} coloured pixels`);
  }
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(artifacts, "dashboard-distributions.png"), fullPage: true });
  await page.context().close();
});

test("the migration matrix counts every customer of the two newest snapshots", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click('nav a[data-screen="migration"]');
  await page.waitForSelector("#migration-matrix");
  const migration = await (await api("api/v1/migration", viewerKey)).json();
  const expected = migration.moves.reduce((n, m) => n + m.customers, 0);
  const total = await page.$eval("#migration-matrix tbody tr:last-child td:last-child", (td) =>
    Number(td.textContent.replace(/\D/g, "")),
  );
  assert.equal(total, expected);
  await page.context().close();
});

test("a viewer who clicks a segment is told that profiles need an analyst key", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click('#segments-table tr[data-segment="champions"] a');
  await page.waitForSelector('.message[data-status="403"]');
  assert.match(await page.textContent('.message[data-status="403"]'), /analyst key/);
  await page.context().close();
});

test("an analyst who clicks a segment sees its profiles, pages on, and opens one", async () => {
  const page = await newPage();
  await login(page, analystKey);
  await page.click('#segments-table tr[data-segment="champions"] td.num');  // the row, not the link
  await page.waitForSelector("#profiles-table tbody tr");
  const first = await (await api("api/v1/profiles?segment=champions&limit=100")).json();
  let uuids = await page.$$eval("#profiles-table tbody tr", (trs) => trs.map((tr) => tr.dataset.uuid));
  assert.equal(uuids.length, Math.min(100, first.total));
  assert.deepEqual(uuids, first.items.map((p) => p.uuid));
  assert.match(await page.textContent("#profiles-title"), /Champions/);
  if (first.next_cursor) {
    await page.click("#load-more");
    await page.waitForFunction((n) => document.querySelectorAll("#profiles-table tbody tr").length > n, uuids.length);
    uuids = await page.$$eval("#profiles-table tbody tr", (trs) => trs.map((tr) => tr.dataset.uuid));
    assert.equal(uuids.length, Math.min(200, first.total));
    assert.equal(new Set(uuids).size, uuids.length, "a profile appears twice across pages");
  }
  await page.click(`#profiles-table tr[data-uuid="${uuids[0]}"] a`);
  await page.waitForSelector("#profile-detail");
  assert.match(await page.textContent("#profile-detail"), new RegExp(uuids[0]));
  assert.match(await page.textContent("#profile-detail"), /P\(alive\).*Predicted CLV/s);
  await page.context().close();
});

test("profile lookup by UUID finds a customer and says when there is none", async () => {
  const page = await newPage();
  await login(page, analystKey);
  const some = (await (await api("api/v1/profiles?segment=lost&limit=1")).json()).items[0];
  await page.click('nav a[data-screen="profiles"]');
  await page.fill("#lookup-uuid", "not-a-uuid");
  await page.click("#lookup-form button[type=submit]");
  assert.match(await page.textContent("#lookup-error"), /looks like/);
  await page.fill("#lookup-uuid", some.uuid.toUpperCase());
  await page.click("#lookup-form button[type=submit]");
  await page.waitForSelector("#profile-detail");
  assert.match(await page.textContent("#profile-detail"), new RegExp(some.uuid));
  await page.fill("#lookup-uuid", "00000000-0000-0000-0000-000000000000");
  await page.click("#lookup-form button[type=submit]");
  await page.waitForSelector('.message[data-status="404"]');
  await page.context().close();
});

test("the CSV downloads hold the API's rows", async () => {
  const page = await newPage();
  await login(page, analystKey);
  const [segments] = await Promise.all([
    page.waitForEvent("download"),
    page.click('[data-download="segments"]'),
  ]);
  const got = await readFile(await segments.path(), "utf8");
  const want = await (await api("api/v1/segments?format=csv&lang=en")).text();
  assert.equal(got, want);
  assert.equal(got.trim().split(/\r?\n/).length, 10, "a header and nine segments");
  assert.match(segments.suggestedFilename(), /\.csv$/);

  await page.goto(base + "#/profiles?segment=champions");
  await page.waitForSelector("#profiles-table tbody tr");
  const [profiles] = await Promise.all([
    page.waitForEvent("download"),
    page.click('[data-download="profiles"]'),
  ]);
  const rows = (await readFile(await profiles.path(), "utf8")).trim().split(/\r?\n/);
  const total = (await (await api("api/v1/profiles?segment=champions&limit=1")).json()).total;
  assert.equal(rows.length, total + 1, "a header and every profile of the segment");
  await page.context().close();
});

test("German shows the German segment names and UI", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click('[data-lang="de"]');
  await page.waitForFunction(() => document.querySelector('#segments-table tr[data-segment="champions"] th')?.textContent === "VIPs");
  assert.equal(await page.getAttribute("html", "lang"), "de");
  assert.match(await page.textContent("nav.tabs"), /Segmente/);
  assert.match(await page.textContent("#segments-table thead"), /Kunden/);
  // The choice survives a reload; the key does too (same tab).
  await page.reload();
  await page.waitForSelector('#segments-table tr[data-segment="champions"]');
  assert.equal(await page.textContent('#segments-table tr[data-segment="champions"] th'), "VIPs");
  await page.context().close();
});

test("on a phone the overview fits the screen width", async () => {
  const page = await newPage({ width: 390, height: 844 });
  await login(page, viewerKey);
  assert.ok((await colouredPixels(page, "#segments-chart")) > 500);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(artifacts, "dashboard-overview-phone.png"), fullPage: true });
  await page.click('nav a[data-screen="distributions"]');
  await colouredPixels(page, "#rf-heatmap");
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0);
  await page.context().close();
});

test("without a snapshot the dashboard says how to keep one; with one, migration asks for two", {
  skip: process.env.TESSERA_FRESH_URL ? false : "TESSERA_FRESH_URL is not set",
}, async () => {
  const page = await newPage();
  await page.goto(process.env.TESSERA_FRESH_URL);
  await page.fill("#api-key", process.env.TESSERA_FRESH_KEY);
  await page.click("#sign-in");
  await page.waitForSelector("main#main .message");
  assert.match(await page.textContent("main#main .message"), /tessera snapshots create/);
  execFileSync(
    process.env.TESSERA_BIN,
    ["snapshots", "create", "--as-of", "2025-06-30", "--window", "12m", "--quiet"],
    { env: { ...process.env, TESSERA_STORE: process.env.TESSERA_FRESH_STORE }, stdio: "ignore" },
  );
  // The open page finds the new snapshot on its next screen.
  for (let i = 0; ; i++) {
    await page.click('nav a[data-screen="distributions"]');
    await page.click('nav a[data-screen="segments"]');
    const found = await page
      .waitForSelector("#segments-table", { timeout: 500 })
      .then(() => true, () => false);
    if (found) break;
    assert.ok(i < 20, "the new snapshot did not appear");
  }
  await page.click('nav a[data-screen="migration"]');
  await page.waitForSelector("main#main .message");
  assert.match(await page.textContent("main#main .message"), /at least two snapshots/);
  await page.context().close();
});

test("signing out forgets the key", async () => {
  const page = await newPage();
  await login(page, viewerKey);
  await page.click("#sign-out");
  await page.waitForSelector("#api-key");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("tessera.apiKey")), null);
  await page.reload();
  await page.waitForSelector("#api-key");
  await page.context().close();
});

test("the pages asked nothing of any other server and threw no errors", () => {
  assert.deepEqual(foreignRequests, []);
  assert.deepEqual(pageErrors, []);
});
