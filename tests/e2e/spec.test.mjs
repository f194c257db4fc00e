// The vendored OpenAPI document must stay identical to the shared reference it copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { sharedSpecPath, vendoredSpecPath } from './helpers.mjs';

const sha256 = (p) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');

test('tests/reference/spec.json is a byte-exact copy of ../shared/reference/spec.json', (t) => {
  if (!fs.existsSync(sharedSpecPath)) {
    t.skip('no shared reference beside this checkout');
    return;
  }
  assert.equal(sha256(vendoredSpecPath), sha256(sharedSpecPath));
});
