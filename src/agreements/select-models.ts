// Model selectors: catalog model names where `*` matches any run of characters.

const cache = new Map<string, RegExp>();

export function globMatches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  let re = cache.get(pattern);
  if (!re) {
    re = new RegExp(
      `^${pattern
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    cache.set(pattern, re);
  }
  return re.test(name);
}

export function selects(selectors: readonly string[], name: string): boolean {
  return selectors.some((s) => globMatches(s, name));
}
