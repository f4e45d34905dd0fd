/**
 * The comm's one schema (jupyter_privacy/jupyter/comm_schema.json), from this side: the
 * messages the kernel really sent (fixtures written by tests/jupyter/comm_messages.py, checked
 * by the Python tests too) validate and the model takes them, the one-change variants are
 * rejected, the sidebar's requests validate, and src/commSchema.ts is what the schema generates.
 */
import * as fs from 'fs';
import * as path from 'path';

import Ajv2020 from 'ajv/dist/2020';

import { generate, OUTPUT_PATH, readSchema } from '../scripts/comm-schema-types';
import type { CommMessage, FrontendMessage, KernelMessage } from '../src/commSchema';
import { PrivacyModel } from '../src/model';
import { hello, lineageRequest, snapshotRequest, wire } from '../src/requests';

const FIXTURES = path.join(__dirname, '..', '..', 'tests', 'jupyter', 'fixtures', 'comm');
const NOTEBOOK = 'study/analysis.ipynb';

const schema = readSchema();
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
ajv.addSchema(schema, 'comm');

function errors(message: unknown, definition?: string): string {
  const validate = ajv.getSchema(definition ? `comm#/$defs/${definition}` : 'comm')!;
  return validate(message) ? '' : ajv.errorsText(validate.errors);
}

function names(folder: string): string[] {
  return fs
    .readdirSync(folder)
    .filter(f => f.endsWith('.json'))
    .map(f => f.slice(0, -'.json'.length))
    .sort();
}

function read<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as T;
}

const valid = names(FIXTURES);
const invalid = names(path.join(FIXTURES, 'invalid'));
const isRequest = (m: CommMessage): m is FrontendMessage =>
  m.type.startsWith('request_') || m.type === 'hello';
const kernel = valid.filter(n => !isRequest(read<CommMessage>(n)));

describe('the comm schema', () => {
  it('has fixtures of every message kind, valid and invalid', () => {
    const types = new Set(valid.map(n => read<CommMessage>(n).type));
    expect([...types].sort()).toEqual(
      ['event', 'hello', 'lineage', 'request_lineage', 'request_snapshot', 'snapshot'].sort()
    );
    expect(kernel.length).toBeGreaterThanOrEqual(15);
    expect(invalid.length).toBeGreaterThanOrEqual(15);
  });

  it.each(valid)('accepts the real message %s', name => {
    const message = read<CommMessage>(name);
    expect(errors(message)).toBe('');
    expect(errors(message, isRequest(message) ? 'FrontendMessage' : 'KernelMessage')).toBe('');
  });

  it.each(invalid)('rejects %s', name => {
    expect(errors(read<unknown>(`invalid/${name}`))).not.toBe('');
  });

  it('is met by the requests the sidebar builds, the same as the kernel tests send', () => {
    const requests: FrontendMessage[] = [
      snapshotRequest(),
      snapshotRequest(500, NOTEBOOK),
      snapshotRequest(5000, null), // the kernel's limit is 1,000
      snapshotRequest(0),
      snapshotRequest(2.5),
      lineageRequest(),
      hello(NOTEBOOK)
    ];
    for (const request of requests) {
      expect(errors(wire(request), 'FrontendMessage')).toBe('');
    }
    expect(snapshotRequest(5000).limit).toBe(1000);
    expect(snapshotRequest()).toEqual(read('request_snapshot_default'));
    expect(snapshotRequest(500, NOTEBOOK)).toEqual(read('request_snapshot'));
    expect(lineageRequest()).toEqual(read('request_lineage'));
    expect(hello(NOTEBOOK)).toEqual(read('hello'));
  });
});

describe('the generated types', () => {
  it('are up to date with the schema (jlpm schema:types)', () => {
    expect(fs.readFileSync(OUTPUT_PATH, 'utf8')).toBe(generate(schema));
  });

  it('change when the schema changes', () => {
    const changed = JSON.parse(JSON.stringify(schema));
    changed.$defs.ReleaseCell.properties.rank_error = { type: 'string' };
    expect(generate(changed)).toContain('  rank_error: string;');
    expect(generate(changed)).not.toBe(generate(schema));
  });

  it('are never made from a keyword the generator does not know', () => {
    const changed = JSON.parse(JSON.stringify(schema));
    changed.$defs.ReleaseCell.properties.value = { if: { type: 'number' } };
    expect(() => generate(changed)).toThrow('does not know the keyword "if"');
  });
});

describe('the model', () => {
  it('takes every real kernel message', () => {
    const model = new PrivacyModel();
    expect(model.apply(read<KernelMessage>('snapshot'))).toBe(true);
    for (const name of kernel) {
      expect([name, model.apply(read<KernelMessage>(name))]).toEqual([name, true]);
    }
    expect(model.apply(read<KernelMessage>('snapshot_replay'))).toBe(true);
    expect(model.state.mode).toBe('replay');
    expect(model.state.releases.every(r => r.published)).toBe(true);
  });
});
