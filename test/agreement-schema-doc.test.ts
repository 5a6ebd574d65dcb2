// docs/agreement.schema.json (the JSON Schema editors use) is generated from the zod schema that
// validates agreement files; this keeps the published copy in step.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { agreementSchema } from '../src/agreements/index.js';

test('the published JSON Schema matches the validator (regenerate: npx entente agreement schema > docs/agreement.schema.json)', () => {
  const published: { required: string[] } = JSON.parse(
    readFileSync(fileURLToPath(new URL('../../docs/agreement.schema.json', import.meta.url)), 'utf8'),
  );
  assert.deepEqual(published, z.toJSONSchema(agreementSchema, { io: 'input', unrepresentable: 'any' }));
  assert.deepEqual((published.required as string[]).sort(), ['id', 'parties', 'title', 'versions']);
});
