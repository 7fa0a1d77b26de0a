// The HTTP API of docs/api.md, as the dashboard uses it. The key lives in sessionStorage (this
// tab only, gone when it closes) and goes out as `Authorization: Bearer`, never in a URL.

const KEY_STORAGE = "tessera.apiKey";
// Relative, so the dashboard also works behind a reverse proxy under a path prefix.
const BASE = "api/v1/";

export interface SnapshotWindow {
  length: string;
  start: string;
  end: string;
}

export interface Segment {
  key: string;
  group: string;
  uuid_count: number;
  avg_order_count: number | null;
  avg_clv: number | null;
  avg_recency_days: number | null;
  share_percent: number;
  sum_clv: string | null;
  sum_order_count: number;
  median_clv: string | null;
  // Present when the snapshot carries predictions (`tessera snapshots create --predict`).
  avg_p_alive?: number | null;
  avg_predicted_clv?: number | null;
}

export interface SegmentReport {
  snapshot_id: number;
  as_of: string;
  window: SnapshotWindow;
  currency: string;
  customer_count: number;
  segments: Segment[];
  predictions?: { models: string; horizon_months: number };
}

export interface ScheduledRunStep {
  name: string;
  outcome: "ok" | "failed" | "skipped";
  detail: string;
}

export interface ScheduledRun {
  scheduled_for: string;
  started: string;
  finished: string | null;
  outcome: "ok" | "failed" | "running";
  steps: ScheduledRunStep[];
}

// GET /api/v1/schedule (serve --schedule); schedule is null without one.
export interface ScheduleInfo {
  schedule: string | null;
  zone?: string;
  next_run?: string;
  running?: ScheduledRun | null;
  runs: ScheduledRun[];
}

// GET /api/v1/sources (analyst, admin): each source with where it reads from and its last runs,
// newest first.
export interface SourceRunInfo {
  id: number;
  started: string;
  finished: string | null;
  trigger: string;
  outcome: "running" | "ok" | "refused" | "failed";
  orders_seen: number;
  orders_stored: number;
  rejects: number;
  pages: number;
  files_loaded: number;
  files_refused: number;
  files_waiting: number;
  error: string | null;
}

export interface SourceInfo {
  name: string;
  kind: "shopify" | "woocommerce" | "folder";
  location: string;
  created: string;
  runs: SourceRunInfo[];
}

export interface SourcesInfo {
  sources: SourceInfo[];
}

export interface SnapshotInfo {
  id: number;
  created_at: string;
  as_of: string;
  window: SnapshotWindow;
  currency: string;
  customer_count: number;
  customers_in_store?: number;
  last_load_id?: number;
}

export interface Move {
  from_key: string | null;
  from_group: string | null;
  to_key: string | null;
  to_group: string | null;
  customers: number;
}

export interface Migration {
  from: SnapshotInfo;
  to: SnapshotInfo;
  moves: Move[];
}

export interface Histogram {
  edges: number[];
  counts: number[];
}

export interface RfCell {
  r: number;
  f: number;
  customers: number;
  avg_clv: number | null;
}

export interface Distributions {
  snapshot_id: number;
  currency: string;
  clv: Histogram;
  order_count: Histogram;
  recency_days: Histogram;
  rf_grid: RfCell[];
}

export interface ScoreRange {
  min: number;
  max: number;
}

// The customers with one score, and the values they had (days, orders, or money as a decimal
// string); min and max are null when no customer has the score.
export interface ScoreBand {
  score: number;
  customers: number;
  min: number | string | null;
  max: number | string | null;
}

export interface SegmentRuleDefinition {
  position: number;
  key: string;
  group: string;
  name_en: string;
  name_de: string;
  recency: ScoreRange;
  frequency: ScoreRange;
  monetary: ScoreRange;
  unless: string[];
  score_combinations: number;
  takes: { recency: ScoreRange; frequency: ScoreRange; monetary: ScoreRange } | null;
  uuid_count: number;
  rule_en: string;
  rule_de: string;
}

// GET /api/v1/segments/definitions.
export interface SegmentDefinitions {
  snapshot_id: number;
  as_of: string;
  window: SnapshotWindow;
  currency: string;
  customer_count: number;
  rules_recorded: boolean;
  scores: Record<"recency" | "frequency" | "monetary", { unit: string; better: string; bands: ScoreBand[] }>;
  segments: SegmentRuleDefinition[];
}

export interface Profile {
  uuid: string;
  segment: string;
  group: string;
  r: number;
  f: number;
  m: number;
  order_count: number;
  clv: string;
  avg_order_value: string;
  recency_days: number;
  first_order: string;
  last_order: string;
  // Present (possibly null) when the snapshot carries predictions; undefined otherwise.
  p_alive?: number | null;
  expected_purchases?: number | null;
  predicted_clv?: number | null;
}

// The contract's field names; a server that writes the longer names (segment_key, r_score, ...)
// is read as well, so the dashboard does not break on either spelling.
export function normalizeProfile(raw: Record<string, unknown>): Profile {
  const long = typeof raw.segment_key === "string";
  const pick = <T>(a: string, b: string): T => (raw[a] ?? raw[b]) as T;
  return {
    uuid: raw.uuid as string,
    segment: (long ? raw.segment_key : raw.segment) as string,
    group: (long ? raw.segment : raw.group) as string,
    r: pick<number>("r", "r_score"),
    f: pick<number>("f", "f_score"),
    m: pick<number>("m", "m_score"),
    order_count: raw.order_count as number,
    clv: raw.clv as string,
    avg_order_value: raw.avg_order_value as string,
    recency_days: raw.recency_days as number,
    first_order: raw.first_order as string,
    last_order: raw.last_order as string,
    p_alive: raw.p_alive as number | null | undefined,
    expected_purchases: raw.expected_purchases as number | null | undefined,
    predicted_clv: raw.predicted_clv as number | null | undefined,
  };
}

export interface ProfilePage {
  snapshot_id: number;
  total: number;
  limit: number;
  // The order asked for with ?sort= ("-clv"), null in customer order.
  sort?: string | null;
  next_cursor: string | null;
  next: string | null;
  items: Profile[];
}

// Audiences (docs/audiences.md); they are always built on the newest snapshot.
export interface AudienceSchema {
  snapshot_id: number;
  as_of: string;
  window: string;
  currency: string;
  customers: number;
  has_predictions: boolean;
  segments: { key: string; name: string }[];
  numbers: { name: string; unit: "money" | "count" | "days" | "score" | "probability" }[];
  attributes: Record<string, string[]>;
  windows: string[];
}

export interface CategoryMatch {
  path: string;
  name: string;
  depth: number;
  customers: number;
}

export interface CategorySearch {
  total: number;
  categories: CategoryMatch[];
}

export interface AudienceCount {
  expression: string;
  snapshot_id: number;
  as_of: string;
  window: string;
  size: number;
  customers: number;
  share_percent: number;
  // The library writes the segment's name as "segment"; the contract says "name".
  segments: { key: string; segment?: string; name?: string; customers: number; share_percent?: number }[];
  without_purchases: number;
  millis?: number;
}

export interface OverlapReport {
  customers: number;
  audiences: { expression: string; size: number }[];
  pairs: { a: number; b: number; customers: number }[];
  in_all: number;
  in_any: number;
}

export interface SavedAudience {
  name: string;
  expression: string;
  size: number | null;
  error?: string;
  created_at: string;
  updated_at: string;
}

export interface AudienceEvent {
  seq: number;
  at: string;
  event: string;
  expression: string;
  size: number;
  snapshot_id: number;
}

export interface AudienceDetail extends SavedAudience {
  history: AudienceEvent[];
}

// A failed request: `status` 0 means the server could not be reached.
// `details` holds the error object's other fields (an expression's "column", "expected" and
// "suggestion"; an export's "size" and "minimum").
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

// A request the caller gave up on (a newer keystroke, another screen): not an error to show.
export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
}

type Params = Record<string, string | number | null | undefined>;

export function apiUrl(path: string, params: Params = {}): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const q = query.toString();
  return BASE + path + (q ? "?" + q : "");
}

// Called with every 401, so the app can return to the login screen.
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;  // sent as JSON
  signal?: AbortSignal;
}

async function request(path: string, params: Params, key: string | null, options: RequestOptions = {}): Promise<Response> {
  // JSON names this a JSON client, so that errors come as JSON even for a CSV download (the
  // server answers a spreadsheet's CSV request's error as one CSV cell).
  const headers: Record<string, string> = { Accept: "application/json, text/csv;q=0.9" };
  if (key) headers["Authorization"] = "Bearer " + key;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(apiUrl(path, params), {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      cache: "no-cache",
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError(0, "network", "The server cannot be reached.");
  }
  if (res.ok) return res;
  let code = "http_" + res.status;
  let message = res.statusText;
  let details: Record<string, unknown> = {};
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      details = body.error;
    }
  } catch (err) {
    if (isAbort(err)) throw err;
    // Not JSON (a proxy's error page, say): keep the status line.
  }
  if (res.status === 401 && key === storedKey()) onUnauthorized();
  throw new ApiError(res.status, code, message, details);
}

export async function getJson<T>(
  path: string,
  params: Params = {},
  key = storedKey(),
  signal?: AbortSignal,
): Promise<T> {
  const res = await request(path, params, key, { signal });
  return (await res.json()) as T;
}

// POST, PUT or DELETE with a JSON body; the answer's JSON, or null for an empty one (204).
export async function sendJson<T>(
  method: "POST" | "PUT" | "DELETE",
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T | null> {
  const res = await request(path, {}, storedKey(), { method, body, signal });
  const text = await res.text();
  return text ? (JSON.parse(text) as T) : null;
}

export interface Download {
  blob: Blob;
  filename: string | null;
  headers: Headers;
}

async function download(res: Response): Promise<Download> {
  const disposition = res.headers.get("Content-Disposition") ?? "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  return { blob: await res.blob(), filename: match ? decodeURIComponent(match[1]) : null, headers: res.headers };
}

// A CSV (or any) body as a Blob: a plain link cannot carry the Authorization header.
export async function getBlob(path: string, params: Params = {}): Promise<Download> {
  return download(await request(path, params, storedKey()));
}

// The same for an answer to a POST with a JSON body (an activation list).
export async function postBlob(path: string, body: unknown, params: Params = {}): Promise<Download> {
  return download(await request(path, params, storedKey(), { method: "POST", body }));
}

export type KeyRole = "viewer" | "analyst" | "admin";

// The role of the signed-in key, so each screen shows up front what the key may do. The API has
// no "who am I": `loads` is for admins and `profiles` for analysts, and both answer 403 to a
// lower role before reading any data (limit=1: one row at most). Another refusal (a missing
// snapshot) still says the role may; a server out of reach says nothing, and the page then
// offers the least (the server refuses what a role may not do in any case).
export async function keyRole(): Promise<KeyRole> {
  const allowed = (path: string, params: Params) =>
    request(path, params, storedKey()).then(
      (res) => (res.body?.cancel(), true),
      (err) => err instanceof ApiError && err.status !== 403 && err.status !== 0,
    );
  const [admin, analyst] = await Promise.all([allowed("loads", {}), allowed("profiles", { limit: 1 })]);
  return admin ? "admin" : analyst ? "analyst" : "viewer";
}
