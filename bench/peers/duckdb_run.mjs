// Runs one SQL file against a DuckDB database file and prints the rows of its last
// statement as JSON lines (bench/compare's DuckDB peer).   node duckdb_run.mjs DB SQLFILE
import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const [db, sqlFile] = process.argv.slice(2);
if (!db || !sqlFile) {
  console.error('usage: node duckdb_run.mjs DB SQLFILE');
  process.exit(2);
}
const instance = await DuckDBInstance.create(db);
const connection = await instance.connect();
const statements = await connection.extractStatements(readFileSync(sqlFile, 'utf8'));
let reader;
for (let i = 0; i < statements.count; ++i) {
  const prepared = await statements.prepare(i);
  reader = await prepared.runAndReadAll();
}
for (const row of reader.getRowObjectsJson()) console.log(JSON.stringify(row));
connection.closeSync();
