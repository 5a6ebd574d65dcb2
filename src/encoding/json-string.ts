// A string as JSON, for lines the request path writes by hand (a spool line, an access log line).

/**
 * JSON.stringify(v) for a string: between quotes as it is when no character needs escaping
 * (printable ASCII without quote or backslash: ids and names, nearly always), else
 * JSON.stringify's own. One pass over the characters in JIT-compiled code costs a fraction of a
 * call into V8's serialiser for a short string.
 */
export function jsonString(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(v);
  }
  return `"${v}"`;
}
