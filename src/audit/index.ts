// The audit log: every change to what governs traffic or money (agreements, rollout, declarations,
// keys, prices, refunds, period closes) with who, when (server time) and what. Append-only in the
// store: there is no update or delete path, and the tables refuse both (triggers).
import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import { diffVersions, parseAgreementText } from '../agreements/index.js';
import type { Clock } from '../clock/index.js';
import type { Store } from '../store/index.js';

export interface Auditor {
  record(action: string, subject: string, detail: unknown): Promise<void>;
}

export function auditor(store: Store, clock: Clock, actor: string): Auditor {
  return {
    async record(action, subject, detail) {
      await store.appendAudit({ atMs: clock.now(), actor, action, subject, detail });
    },
  };
}

/** Who runs the CLI: `cli:<os user>`. */
export function cliActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): the actor stays unknown.
  }
  return `cli:${user}`;
}

/** The admin key's id: a prefix of its SHA-256 (the key itself is never known to the server). */
export function adminActor(adminKeySha256: string | undefined): string {
  return `admin:${(adminKeySha256 ?? 'none').slice(0, 12)}`;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function agreementChanges(before: string | null, after: string, file: string): unknown {
  if (before === null) return { kind: 'first load' };
  try {
    const a = parseAgreementText(before, file);
    const b = parseAgreementText(after, file);
    const ids = new Set([...a.versions, ...b.versions].map((v) => v.id));
    return [...ids].map((id) => {
      const x = a.versions.find((v) => v.id === id);
      const y = b.versions.find((v) => v.id === id);
      if (!x) return { version: id, kind: 'added' };
      if (!y) return { version: id, kind: 'removed' };
      return { version: id, kind: 'changed', changes: diffVersions(x, y) };
    });
  } catch {
    return { kind: 'replaced', note: 'the previous text no longer parses; both texts are kept' };
  }
}

/**
 * Records a governing file (the agreement, the price books) when its content differs from the
 * last one recorded for that kind: its text, its hash and, for an agreement, what changed.
 */
export async function recordFile(
  store: Store,
  clock: Clock,
  kind: 'agreement' | 'prices',
  file: string,
  text: string,
): Promise<boolean> {
  const action = `${kind}.changed`;
  const [last] = await store.listAudit({ action, limit: 1 });
  const prev = (last?.detail ?? null) as { sha256?: string; text?: string } | null;
  const hash = sha256(text);
  if (prev?.sha256 === hash) return false;
  const changes = kind === 'agreement' ? agreementChanges(prev?.text ?? null, text, file) : undefined;
  await store.appendAudit({
    atMs: clock.now(),
    actor: `file:${file}`,
    action,
    subject: file,
    detail: { sha256: hash, previousSha256: prev?.sha256 ?? null, changes, text },
  });
  return true;
}
