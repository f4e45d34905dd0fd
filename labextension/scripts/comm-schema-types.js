/**
 * Generates `src/commSchema.ts`, the TypeScript types of the `jupyter_privacy` comm, from the
 * one JSON Schema the kernel ships (`jupyter_privacy/jupyter/comm_schema.json`).
 *
 *   jlpm schema:types            write src/commSchema.ts
 *   jlpm schema:types --check    exit 1 if it is out of date
 *
 * Deliberately small and deterministic: each `$defs` entry becomes an interface (objects, named
 * `I<Name>` as the lint rule asks) or a type alias, in schema order, with its description as
 * JSDoc; the output is already formatted as prettier formats it. A keyword it does not know
 * stops it, so nothing in the schema is ever silently left out of the types.
 * `test/commSchema.spec.ts` regenerates the file in memory and compares.
 */
'use strict';

const fs = require('fs');
const path = require('path');

const SCHEMA_PATH = path.join(
  __dirname,
  '..',
  '..',
  'jupyter_privacy',
  'jupyter',
  'comm_schema.json'
);
const OUTPUT_PATH = path.join(__dirname, '..', 'src', 'commSchema.ts');
const WIDTH = 100;

/** Keywords that constrain values but not their TypeScript type. */
const VALIDATION_ONLY = new Set([
  'description',
  'title',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern'
]);
const TYPE_KEYWORDS = new Set([
  '$ref',
  'const',
  'enum',
  'anyOf',
  'oneOf',
  'type',
  'items',
  'prefixItems',
  'properties',
  'required',
  'additionalProperties'
]);

function fail(where, message) {
  throw new Error(`comm schema, ${where}: ${message}`);
}

function checkKeywords(schema, where) {
  for (const key of Object.keys(schema)) {
    if (!VALIDATION_ONLY.has(key) && !TYPE_KEYWORDS.has(key)) {
      fail(where, `the generator does not know the keyword "${key}"`);
    }
  }
}

function isObjectDef(schema) {
  return schema.type === 'object' && schema.properties !== undefined;
}

function literal(value) {
  if (typeof value === 'string') {
    return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  }
  return JSON.stringify(value);
}

function union(types) {
  return [...new Set(types)].join(' | ');
}

class Generator {
  constructor(schema) {
    this.schema = schema;
    this.defs = schema.$defs || {};
  }

  /** The TypeScript name of a `$defs` entry. */
  name(def) {
    if (!(def in this.defs)) {
      fail(def, 'no such $defs entry');
    }
    return isObjectDef(this.defs[def]) ? `I${def}` : def;
  }

  type(schema, where) {
    if (schema === true || schema === undefined) {
      return 'unknown';
    }
    checkKeywords(schema, where);
    if (schema.$ref !== undefined) {
      const prefix = '#/$defs/';
      if (!schema.$ref.startsWith(prefix)) {
        fail(where, `only local $defs references are supported: ${schema.$ref}`);
      }
      return this.name(schema.$ref.slice(prefix.length));
    }
    if (schema.const !== undefined) {
      return literal(schema.const);
    }
    if (schema.enum !== undefined) {
      return union(schema.enum.map(literal));
    }
    const members = schema.anyOf || schema.oneOf;
    if (members !== undefined) {
      return union(members.map((m, i) => this.type(m, `${where}[${i}]`)));
    }
    if (schema.type === undefined) {
      fail(where, 'a schema needs $ref, const, enum, anyOf, oneOf or type');
    }
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    return union(types.map(t => this.simple(t, schema, where)));
  }

  simple(type, schema, where) {
    switch (type) {
      case 'string':
      case 'boolean':
      case 'null':
        return type;
      case 'number':
      case 'integer':
        return 'number';
      case 'array': {
        if (schema.prefixItems !== undefined) {
          if (schema.items !== false) {
            fail(where, 'a tuple (prefixItems) must say items: false');
          }
          const items = schema.prefixItems.map((s, i) => this.type(s, `${where}[${i}]`));
          return `[${items.join(', ')}]`;
        }
        const item = this.type(schema.items, `${where}[]`);
        return item.includes(' | ') ? `(${item})[]` : `${item}[]`;
      }
      case 'object':
        if (schema.properties !== undefined) {
          fail(where, 'an object with properties must be a $defs entry of its own');
        }
        return '{ [key: string]: unknown }';
      default:
        return fail(where, `unknown type "${type}"`);
    }
  }

  /** A description as JSDoc at `indent`, on one line when it fits. */
  doc(text, indent) {
    if (!text) {
      return [];
    }
    const pad = ' '.repeat(indent);
    const one = `${pad}/** ${text} */`;
    if (one.length <= WIDTH) {
      return [one];
    }
    const lines = [`${pad}/**`];
    let line = '';
    for (const word of text.split(/\s+/)) {
      if (line && `${pad} * ${line} ${word}`.length > WIDTH) {
        lines.push(`${pad} * ${line}`);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    lines.push(`${pad} * ${line}`, `${pad} */`);
    return lines;
  }

  interface(def, schema) {
    const required = new Set(schema.required || []);
    for (const key of required) {
      if (!(key in schema.properties)) {
        fail(def, `required "${key}" is not a property`);
      }
    }
    const lines = [...this.doc(schema.description, 0), `export interface I${def} {`];
    for (const [key, property] of Object.entries(schema.properties)) {
      const where = `${def}.${key}`;
      const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : literal(key);
      const optional = required.has(key) ? '' : '?';
      lines.push(...this.doc(property.description, 2));
      lines.push(`  ${name}${optional}: ${this.type(property, where)};`);
    }
    if (schema.additionalProperties !== false) {
      if (schema.additionalProperties !== undefined && schema.additionalProperties !== true) {
        fail(def, 'additionalProperties must be false or absent');
      }
      lines.push('  [key: string]: unknown;');
    }
    lines.push('}');
    return lines;
  }

  /** The members of a union at the top of `schema` (one for anything else). */
  members(schema, where) {
    checkKeywords(schema, where);
    if (schema.enum !== undefined) {
      return [...new Set(schema.enum.map(literal))];
    }
    const members = schema.anyOf || schema.oneOf;
    if (members !== undefined && schema.$ref === undefined) {
      return [...new Set(members.map((m, i) => this.type(m, `${where}[${i}]`)))];
    }
    return [this.type(schema, where)];
  }

  alias(name, schema, where) {
    const lines = this.doc(schema.description, 0);
    const members = this.members(schema, where);
    const one = `export type ${name} = ${members.join(' | ')};`;
    if (one.length <= WIDTH || members.length === 1) {
      return [...lines, one];
    }
    return [
      ...lines,
      `export type ${name} =`,
      ...members.map((m, i) => `  | ${m}${i === members.length - 1 ? ';' : ''}`)
    ];
  }

  generate() {
    const blocks = [
      [
        '/**',
        ' * The messages of the `jupyter_privacy` comm, both directions.',
        ' *',
        ' * GENERATED from jupyter_privacy/jupyter/comm_schema.json (the normative schema) by',
        ' * scripts/comm-schema-types.js: do not edit; run `jlpm schema:types` after changing the',
        ' * schema. test/commSchema.spec.ts fails when this file is out of date.',
        ' */'
      ]
    ];
    for (const [def, schema] of Object.entries(this.defs)) {
      blocks.push(isObjectDef(schema) ? this.interface(def, schema) : this.alias(def, schema, def));
    }
    const root = { ...this.schema };
    delete root.$schema;
    delete root.$defs;
    delete root.title;
    blocks.push(this.alias('CommMessage', root, '(root)'));
    return blocks.map(b => b.join('\n')).join('\n\n') + '\n';
  }
}

/** The TypeScript source of `src/commSchema.ts` for `schema` (the parsed JSON). */
function generate(schema) {
  return new Generator(schema).generate();
}

function readSchema(file = SCHEMA_PATH) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

module.exports = { generate, readSchema, SCHEMA_PATH, OUTPUT_PATH };

if (require.main === module) {
  const source = generate(readSchema());
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(OUTPUT_PATH) ? fs.readFileSync(OUTPUT_PATH, 'utf8') : '';
    if (current !== source) {
      console.error(
        `${path.relative(process.cwd(), OUTPUT_PATH)} is out of date: run jlpm schema:types`
      );
      process.exit(1);
    }
  } else {
    fs.writeFileSync(OUTPUT_PATH, source);
    console.log(`wrote ${path.relative(process.cwd(), OUTPUT_PATH)}`);
  }
}
