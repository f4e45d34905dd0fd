/** The types of scripts/comm-schema-types.js, for the tests that call it. */
export function generate(schema: object): string;
export function readSchema(file?: string): object;
export const SCHEMA_PATH: string;
export const OUTPUT_PATH: string;
