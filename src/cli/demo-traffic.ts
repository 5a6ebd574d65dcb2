// `entente demo traffic`: a realistic mix of requests against a running gateway, so that the
// console, the metrics and the ledger have something to show. Chat and streams on every model,
// tool calls, embeddings, the Responses API, a licensee's traffic, a few bad requests, and (with
// --faults) a spell of Azure failures that sends traffic to the other clouds.

export interface DemoOptions {
  readonly url: string;
  readonly key: string;
  readonly licenseeKey: string | null;
  readonly count: number;
  readonly concurrency: number;
  /** The Azure simulator's control URL, to inject a fault for part of the run. */
  readonly azureSimUrl: string | null;
}

interface Shot {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly key?: 'licensee' | 'bad';
}

const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu'.split(' ');
const sentence = (i: number) =>
  Array.from({ length: 3 + (i % 9) }, (_, j) => words[(i + j * 7) % words.length]).join(' ');
const tool = {
  type: 'function',
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
};

function shot(i: number): Shot {
  const content = sentence(i);
  const r = i % 20;
  if (r === 0) return { path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: content } };
  if (r === 1) return { path: '/v1/responses', body: { model: 'gpt-4o', input: content } };
  if (r === 2)
    return {
      path: '/v1/chat/completions',
      body: { model: 'gpt-4o', messages: [{ role: 'user', content }], tools: [tool] },
    };
  if (r === 3)
    return {
      path: '/v1/chat/completions',
      body: { model: 'no-such-model', messages: [{ role: 'user', content }] },
    };
  if (r === 4)
    return {
      path: '/v1/chat/completions',
      body: { model: 'gpt-4o', messages: [{ role: 'user', content }] },
      key: 'licensee',
    };
  if (r === 5)
    return {
      path: '/v1/chat/completions',
      body: { model: 'o4-mini', messages: [{ role: 'user', content }], reasoning_effort: 'low' },
    };
  const model = ['gpt-4o', 'gpt-4o-mini', 'gpt-oss-120b', 'gpt-4o', 'gpt-4o-mini'][i % 5]!;
  return {
    path: '/v1/chat/completions',
    body: {
      model,
      messages: [{ role: 'user', content }],
      ...(i % 3 === 0 ? { stream: true, stream_options: { include_usage: true } } : {}),
    },
  };
}

export async function demoTraffic(
  o: DemoOptions,
  out: (line: string) => void,
): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  let next = 0;
  const faultFrom = Math.floor(o.count * 0.4);
  const faultTo = Math.floor(o.count * 0.55);
  let faulted = false;
  const setFault = async (on: boolean) => {
    if (!o.azureSimUrl || faulted === on) return;
    faulted = on;
    await fetch(`${o.azureSimUrl}/_sim/fault`, {
      method: 'POST',
      body: on ? JSON.stringify({ kind: 'server_error' }) : 'null',
    }).catch(() => undefined);
  };
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= o.count) return;
      if (i === faultFrom) await setFault(true);
      if (i === faultTo) await setFault(false);
      const s = shot(i);
      const key = s.key === 'licensee' ? (o.licenseeKey ?? o.key) : o.key;
      let label: string;
      try {
        const r = await fetch(`${o.url}${s.path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify(s.body),
        });
        await r.arrayBuffer();
        label =
          `${r.status} ${r.headers.get('x-entente-cloud') ?? r.headers.get('x-entente-error-code') ?? ''}`.trim();
      } catch (err) {
        label = `error ${(err as Error).message}`;
      }
      tally[label] = (tally[label] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  await setFault(false);
  for (const [k, v] of Object.entries(tally).sort()) out(`${String(v).padStart(6)}  ${k}`);
  return tally;
}
