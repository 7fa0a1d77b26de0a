// How the browser tests start their browser: Debian's chromium (CHROMIUM, default
// /usr/bin/chromium) headless, through playwright-core. playwright gives it a fresh, throwaway
// --user-data-dir of its own on every launch.

import { chromium } from "playwright-core";

// Without these, chromium reaches out to Google's services from a closed network, which the
// tests would count as requests to other servers.
export const CHROMIUM_ARGS = [
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
];

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
}
