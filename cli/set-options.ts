/**
 * `--set key=value` overrides for nested options, e.g. `--set ocd.gamma=0.6 --set tome.ratio=[0.75,0.5]`.
 * Values are parsed as JSON when they parse (numbers, booleans, arrays, null), else kept as strings.
 */
export function parseSetOverrides(assignments: readonly string[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects key=value (e.g. --set ocd.gamma=0.6), got '${assignment}'.`);
    const path = assignment.slice(0, eq).split('.');
    if (path.some((k) => k === '' || k === '__proto__' || k === 'constructor' || k === 'prototype')) {
      throw new Error(`--set key '${assignment.slice(0, eq)}' is not a valid dotted option name.`);
    }
    let node = root;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      if (next === undefined) node[key] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        throw new Error(`--set ${assignment}: '${key}' was already set to a value, not an object.`);
      }
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1]] = parseValue(assignment.slice(eq + 1));
  }
  return root;
}

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Deep-merges plain objects (later wins); arrays and scalars are replaced, not merged. */
export function deepMerge<T extends Record<string, unknown>>(base: T, ...overrides: Record<string, unknown>[]): T {
  const out: Record<string, unknown> = { ...base };
  for (const o of overrides) {
    for (const [k, v] of Object.entries(o)) {
      const prev = out[k];
      out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
    }
  }
  return out as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
