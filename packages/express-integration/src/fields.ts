// The `fields` option of sensitiveBody(): which values of a body become SecretBuffers.
// A field is a dot path into a JSON body ('password', 'card.number'); in a urlencoded body,
// which has no nesting, it is the parameter's whole name ('card.number' names the parameter
// `card.number`).
import { describe, invalid } from '@strongroom/core-native/validate';

/** A node of the JSON paths: its children by key; `field` is the listed path ending here. */
export interface FieldTrie {
  readonly children: Map<string, FieldTrie>;
  field: string | undefined;
}

export interface Fields {
  /** The listed fields, as given. */
  readonly names: readonly string[];
  /** Their JSON paths. */
  readonly json: FieldTrie;
  /** Their urlencoded parameter names. */
  readonly form: ReadonlySet<string>;
}

export function parseFields(value: unknown, what: string): Fields {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(`${what} must be a non-empty array of field names such as ['password', 'card.number'], got ${describe(value)}`);
  }
  const json: FieldTrie = { children: new Map(), field: undefined };
  const names: string[] = [];
  for (const [i, name] of value.entries()) {
    if (typeof name !== 'string' || name === '') throw invalid(`${what}[${i}] must be a non-empty string, got ${describe(name)}`);
    const segments = name.split('.');
    if (segments.includes('')) {
      throw invalid(`${what}[${i}] '${name}' has an empty segment: write dot paths such as 'card.number'`);
    }
    if (names.includes(name)) throw invalid(`${what} lists '${name}' twice`);
    let node = json;
    for (const segment of segments) {
      if (node.field !== undefined) throw invalid(`${what} lists '${node.field}' and '${name}' inside it: a secret is a string, it has no fields`);
      let child = node.children.get(segment);
      if (child === undefined) {
        child = { children: new Map(), field: undefined };
        node.children.set(segment, child);
      }
      node = child;
    }
    if (node.children.size > 0) throw invalid(`${what} lists '${name}' and fields inside it: a secret is a string, it has no fields`);
    node.field = name;
    names.push(name);
  }
  return { names, json, form: new Set(names) };
}
