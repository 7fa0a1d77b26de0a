// UI strings in English and German. Segment names come from the server (`?lang=`), so the
// rule file stays the one place that names segments.

export type Lang = "en" | "de";

const en = {
  appName: "Tessera",
  dashboard: "Dashboard",
  loginTitle: "Sign in to the dashboard",
  loginIntro: "Enter an API key made with `tessera keys api create`.",
  apiKey: "API key",
  signIn: "Sign in",
  signingIn: "Checking the key…",
  signOut: "Sign out",
  keyHint: "The key is kept in this browser tab only and is forgotten when the tab closes.",
  keyRejected: "This key was not accepted. Check it, or ask an admin for a new one.",
  keyExpired: "The server no longer accepts your key. Please sign in again.",
  keyEmpty: "Please enter a key.",
  language: "Language",
  snapshot: "Snapshot",
  latest: "latest",
  navOverview: "Segments",
  navDistributions: "Distributions",
  navMigration: "Migration",
  navProfiles: "Profiles",
  loading: "Loading…",
  retry: "Retry",
  unreachable: "The server cannot be reached. Is `tessera serve` still running?",
  errorPrefix: "The server answered with an error",
  noSnapshots:
    "The store has no snapshot yet. Create one with `tessera snapshots create`, then reload this page.",
  customers: "Customers",
  share: "Share",
  avgClv: "Avg. CLV",
  avgPAlive: "Avg. P(alive)",
  avgPredictedClv: "Avg. predicted CLV",
  pAlive: "P(alive)",
  expectedPurchases: "Expected purchases",
  predictedClv: "Predicted CLV",
  monthsShort: "mo.",
  avgRecency: "Avg. recency",
  avgOrders: "Avg. orders",
  sumClv: "Total CLV",
  medianClv: "Median CLV",
  segment: "Segment",
  segments: "Segments",
  asOf: "As of",
  window: "Window",
  currency: "Currency",
  days: "days",
  daysUnit: "{n} days",
  overviewTitle: "Segment overview",
  overviewIntro: "Click a segment to see its customers.",
  chartMetric: "Show",
  downloadCsv: "Download CSV",
  downloading: "Downloading…",
  downloadFailed: "The download failed: {message}",
  rfTitle: "Recency × frequency",
  rfIntro: "Customers per recency score (rows) and frequency score (columns). Click a cell to list them.",
  recencyScore: "Recency score (R)",
  frequencyScore: "Frequency score (F)",
  clvHistogram: "CLV distribution",
  recencyHistogram: "Recency distribution",
  histogramNote: "Equal-width bins up to the 99th percentile; the last bin holds everything above.",
  migrationTitle: "Segment migration",
  migrationIntro: "How customers moved between the segments of two snapshots.",
  migrationFrom: "From",
  migrationTo: "To",
  migrationNeedsTwo:
    "Migration needs at least two snapshots. Keep another one with `tessera snapshots create` (for a later as-of date), then come back.",
  migrationNew: "New in the window",
  migrationLeft: "Left the window",
  migrationRowsCaption: "Rows: segment in snapshot {from}. Columns: segment in snapshot {to}.",
  total: "Total",
  stayed: "Stayed in their segment",
  moved: "Moved to another segment",
  joined: "New in the window",
  left: "No longer in the window",
  show: "Show",
  profilesTitle: "Customer profiles",
  profilesOfSegment: "Customers in {segment}",
  profilesOfCell: "Customers with R = {r} and F = {f}",
  profilesCount: "{shown} of {total} customers",
  loadMore: "Load more",
  needsAnalyst: "Customer-level data needs an analyst key. Your key may only read aggregates.",
  lookupTitle: "Look up a customer",
  lookupLabel: "Customer pseudonym (UUID)",
  lookupButton: "Look up",
  lookupInvalid: "A pseudonym looks like 0b6f1c2e-3a4b-5c6d-7e8f-9a0b1c2d3e4f.",
  lookupNotFound: "No customer with this pseudonym in this snapshot.",
  lookupIntro:
    "Choose a segment on the overview or a cell of the R×F heat map to list customers, or look up one pseudonym.",
  pseudonym: "Pseudonym",
  r: "R",
  f: "F",
  m: "M",
  orders: "Orders",
  clv: "CLV",
  aov: "Avg. order value",
  recency: "Recency",
  firstOrder: "First order",
  lastOrder: "Last order",
  backToOverview: "Back to the overview",
  profileTitle: "Customer profile",
  scores: "Scores (R / F / M)",
  empty: "No customers.",
  notFound: "Nothing here.",
};

export type MessageKey = keyof typeof en;

const de: Record<MessageKey, string> = {
  appName: "Tessera",
  dashboard: "Dashboard",
  loginTitle: "Anmeldung zum Dashboard",
  loginIntro: "Geben Sie einen API-Schlüssel ein, erstellt mit `tessera keys api create`.",
  apiKey: "API-Schlüssel",
  signIn: "Anmelden",
  signingIn: "Schlüssel wird geprüft …",
  signOut: "Abmelden",
  keyHint:
    "Der Schlüssel bleibt nur in diesem Browser-Tab gespeichert und wird beim Schließen vergessen.",
  keyRejected:
    "Dieser Schlüssel wurde nicht angenommen. Bitte prüfen oder bei einem Admin einen neuen anfordern.",
  keyExpired: "Der Server nimmt Ihren Schlüssel nicht mehr an. Bitte melden Sie sich erneut an.",
  keyEmpty: "Bitte geben Sie einen Schlüssel ein.",
  language: "Sprache",
  snapshot: "Snapshot",
  latest: "neuester",
  navOverview: "Segmente",
  navDistributions: "Verteilungen",
  navMigration: "Wanderung",
  navProfiles: "Profile",
  loading: "Wird geladen …",
  retry: "Erneut versuchen",
  unreachable: "Der Server ist nicht erreichbar. Läuft `tessera serve` noch?",
  errorPrefix: "Der Server meldet einen Fehler",
  noSnapshots:
    "Der Speicher hat noch keinen Snapshot. Erstellen Sie einen mit `tessera snapshots create` und laden Sie die Seite neu.",
  customers: "Kunden",
  share: "Anteil",
  avgClv: "Ø CLV",
  avgPAlive: "Ø P(aktiv)",
  avgPredictedClv: "Ø prognostizierter CLV",
  pAlive: "P(aktiv)",
  expectedPurchases: "Erwartete Käufe",
  predictedClv: "Prognostizierter CLV",
  monthsShort: "Mon.",
  avgRecency: "Ø Recency",
  avgOrders: "Ø Bestellungen",
  sumClv: "CLV gesamt",
  medianClv: "Median-CLV",
  segment: "Segment",
  segments: "Segmente",
  asOf: "Stichtag",
  window: "Zeitfenster",
  currency: "Währung",
  days: "Tage",
  daysUnit: "{n} Tage",
  overviewTitle: "Segmentübersicht",
  overviewIntro: "Klicken Sie auf ein Segment, um seine Kunden zu sehen.",
  chartMetric: "Anzeigen",
  downloadCsv: "CSV herunterladen",
  downloading: "Wird heruntergeladen …",
  downloadFailed: "Der Download ist fehlgeschlagen: {message}",
  rfTitle: "Recency × Frequenz",
  rfIntro:
    "Kunden je Recency-Score (Zeilen) und Frequenz-Score (Spalten). Klicken Sie auf eine Zelle, um sie aufzulisten.",
  recencyScore: "Recency-Score (R)",
  frequencyScore: "Frequenz-Score (F)",
  clvHistogram: "Verteilung des CLV",
  recencyHistogram: "Verteilung der Recency",
  histogramNote:
    "Gleich breite Klassen bis zum 99. Perzentil; die letzte Klasse enthält alle Werte darüber.",
  migrationTitle: "Segmentwanderung",
  migrationIntro: "Wie Kunden zwischen den Segmenten zweier Snapshots gewandert sind.",
  migrationFrom: "Von",
  migrationTo: "Nach",
  migrationNeedsTwo:
    "Für die Wanderung braucht es mindestens zwei Snapshots. Legen Sie mit `tessera snapshots create` einen weiteren an (für einen späteren Stichtag) und kommen Sie dann zurück.",
  migrationNew: "Neu im Zeitfenster",
  migrationLeft: "Nicht mehr im Zeitfenster",
  migrationRowsCaption: "Zeilen: Segment in Snapshot {from}. Spalten: Segment in Snapshot {to}.",
  total: "Summe",
  stayed: "Im Segment geblieben",
  moved: "In ein anderes Segment gewandert",
  joined: "Neu im Zeitfenster",
  left: "Nicht mehr im Zeitfenster",
  show: "Anzeigen",
  profilesTitle: "Kundenprofile",
  profilesOfSegment: "Kunden im Segment {segment}",
  profilesOfCell: "Kunden mit R = {r} und F = {f}",
  profilesCount: "{shown} von {total} Kunden",
  loadMore: "Mehr laden",
  needsAnalyst:
    "Daten einzelner Kunden erfordern einen Analyst-Schlüssel. Ihr Schlüssel darf nur Aggregate lesen.",
  lookupTitle: "Kunden nachschlagen",
  lookupLabel: "Kunden-Pseudonym (UUID)",
  lookupButton: "Nachschlagen",
  lookupInvalid: "Ein Pseudonym sieht so aus: 0b6f1c2e-3a4b-5c6d-7e8f-9a0b1c2d3e4f.",
  lookupNotFound: "Kein Kunde mit diesem Pseudonym in diesem Snapshot.",
  lookupIntro:
    "Wählen Sie ein Segment in der Übersicht oder eine Zelle der R×F-Heatmap, um Kunden aufzulisten, oder schlagen Sie ein Pseudonym nach.",
  pseudonym: "Pseudonym",
  r: "R",
  f: "F",
  m: "M",
  orders: "Bestellungen",
  clv: "CLV",
  aov: "Ø Bestellwert",
  recency: "Recency",
  firstOrder: "Erste Bestellung",
  lastOrder: "Letzte Bestellung",
  backToOverview: "Zurück zur Übersicht",
  profileTitle: "Kundenprofil",
  scores: "Scores (R / F / M)",
  empty: "Keine Kunden.",
  notFound: "Hier gibt es nichts.",
};

const LANG_STORAGE = "tessera.lang";
const messages: Record<Lang, Record<MessageKey, string>> = { en, de };

function initialLang(): Lang {
  const stored = localStorage.getItem(LANG_STORAGE);
  if (stored === "en" || stored === "de") return stored;
  return navigator.language.toLowerCase().startsWith("de") ? "de" : "en";
}

let current: Lang = initialLang();

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
  localStorage.setItem(LANG_STORAGE, l);
  document.documentElement.lang = l;
}

export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  return messages[current][key].replace(/\{(\w+)\}/g, (_, name: string) =>
    name in params ? String(params[name]) : `{${name}}`,
  );
}
