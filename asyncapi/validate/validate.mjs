// Usage: node validate.mjs DOCUMENT.json [...]
// Prints every diagnostic; exits 1 when any document has an error-level one (severity 0).
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const parser = new Parser();
let failed = false;
for (const path of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(path, 'utf8'));
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) {
    console.log(`${path}: severity ${d.severity} ${d.code}: ${d.message} at /${d.path.join('/')}`);
  }
  if (errors.length > 0 || !document) {
    failed = true;
    console.log(`${path}: ${errors.length} error(s)`);
  } else {
    console.log(`${path}: valid AsyncAPI ${document.version()} (${diagnostics.length} non-error diagnostics)`);
  }
}
process.exit(failed ? 1 : 0);
