// DuckDB's side of the audience benchmark (bench/audience/compare): the data the audience
// benchmark indexed, loaded from its CSV files into a persisted database, and its queries in
// SQL, counted one by one as the harness asks for them.
//
//   node duckdb_audience.mjs load DB DIR    load DIR/{categories,customers,purchases}.csv into
//                                           DB; prints one JSON line (seconds, rows, sizes)
//   node duckdb_audience.mjs serve DB DIR   opens DB afresh, reads DIR/queries.jsonl, prints a
//                                           JSON line when ready; then answers each line "N" of
//                                           standard input with {"i":N,"count":...,"ms":...}
//                                           (query N run once to warm up, then once timed) and
//                                           the line "stats" with its memory figures
//
// The tables (duckdb_audience_load.sql beside this file has the statements):
//  - customers: one row per customer of the universe (the index's), NULL features for those
//    without a purchase in the window, as the index has no segment or numbers for them;
//    segment, region and channel as ENUMs;
//  - purchases: one row per customer, leaf category and day with the day's spend, and the
//    leaf's aisle and department as columns (the hierarchy denormalized, as a DuckDB user
//    models a fixed-depth tree), sorted by department, aisle, leaf and day so that the zone
//    maps of a category's rows skip the rest of the table;
//  - categories: leaf, aisle, department and path.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

const [mode, db, dir] = process.argv.slice(2);
if (!['load', 'serve'].includes(mode) || !db || !dir) {
  console.error('usage: node duckdb_audience.mjs load|serve DB DIR');
  process.exit(2);
}

function memoryMb(field) {  // this process's, from /proc: VmRSS or VmHWM (peak)
  const m = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

const instance = await DuckDBInstance.create(db);
const connection = await instance.connect();
const scalar = async (sql) => (await connection.runAndReadAll(sql)).getRows()[0][0];

if (mode === 'load') {
  const sql = readFileSync(new URL('./duckdb_audience_load.sql', import.meta.url), 'utf8')
    .replaceAll('{{DIR}}', dir.replaceAll("'", "''"));
  const t0 = performance.now();
  const statements = await connection.extractStatements(sql);
  for (let i = 0; i < statements.count; ++i) await (await statements.prepare(i)).run();
  await connection.run('CHECKPOINT');
  const loadS = (performance.now() - t0) / 1000;
  const out = {
    load_s: loadS,
    version: await scalar('SELECT version()'),
    threads: Number(await scalar("SELECT current_setting('threads')")),
    memory_limit: await scalar("SELECT current_setting('memory_limit')"),
    customers: Number(await scalar('SELECT count(*) FROM customers')),
    purchase_rows: Number(await scalar('SELECT count(*) FROM purchases')),
    database_size: await scalar('SELECT database_size FROM pragma_database_size()'),
    peak_rss_mb: memoryMb('VmHWM'),
  };
  connection.closeSync();
  instance.closeSync();
  console.log(JSON.stringify(out));
} else {
  const queries = readFileSync(`${dir}/queries.jsonl`, 'utf8').trimEnd().split('\n')
    .map((l) => JSON.parse(l));
  console.log(JSON.stringify({ ready: true, queries: queries.length, rss_mb: memoryMb('VmRSS') }));
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'stats') {
      const duckdbMb = Number(await scalar('SELECT sum(memory_usage_bytes) FROM duckdb_memory()')) / 2 ** 20;
      console.log(JSON.stringify({ rss_mb: memoryMb('VmRSS'), peak_rss_mb: memoryMb('VmHWM'),
        buffer_manager_mb: duckdbMb }));
      continue;
    }
    const i = Number(line);
    const q = queries[i];
    if (!q) throw new Error(`no query ${line}`);
    const warm = Number(await scalar(q.sql));
    const t0 = performance.now();
    const count = Number(await scalar(q.sql));
    const ms = performance.now() - t0;
    if (count !== warm) throw new Error(`query ${i}: ${warm} then ${count}`);
    console.log(JSON.stringify({ i, count, ms }));
  }
  connection.closeSync();
  instance.closeSync();
}
