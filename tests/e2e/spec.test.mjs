// The vendored OpenAPI documents must stay identical to the shared references they copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sharedSpecPath, vendoredSpecPath } from './helpers.mjs';

const sha256 = (p) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');

test('tests/reference/spec.json is a byte-exact copy of ../shared/reference/spec.json', (t) => {
  if (!fs.existsSync(sharedSpecPath)) {
    t.skip('no shared reference beside this checkout');
    return;
  }
  assert.equal(sha256(vendoredSpecPath), sha256(sharedSpecPath));
});

test('tests/reference/pulumi-tokens-subset.json is a byte-exact copy of the shared one', (t) => {
  const shared = path.join(path.dirname(sharedSpecPath), 'pulumi-tokens-subset.json');
  if (!fs.existsSync(shared)) {
    t.skip('no shared reference beside this checkout');
    return;
  }
  assert.equal(sha256(path.join(path.dirname(vendoredSpecPath), 'pulumi-tokens-subset.json')), sha256(shared));
});
