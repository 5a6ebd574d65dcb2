// The Entente console: a small single-page app over the admin API. No framework, no external
// network; charts with uPlot (served from this gateway). The admin key stays in sessionStorage
// and goes out only as the Authorization header of same-origin admin API calls.
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const logoutButton = document.getElementById('logout');
const KEY = 'entente-admin-key';
const charts = [];

const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
};

class Unauthorized extends Error {}

async function api(path, payload) {
  const r = await fetch(path, {
    headers: {
      authorization: `Bearer ${sessionStorage.getItem(KEY) ?? ''}`,
      ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(payload !== undefined ? { method: 'POST', body: JSON.stringify(payload) } : {}),
  });
  if (r.status === 401) throw new Unauthorized();
  const body = (r.headers.get('content-type') ?? '').includes('json') ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body?.error?.message ?? `HTTP ${r.status}`);
  return body;
}

/** Decimal micro-units (a string from the API) → "1,234.567890". Exact: no floats. */
function money(micros, digits = 6) {
  if (micros === null || micros === undefined) return '—';
  let s = String(micros);
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  s = s.padStart(7, '0');
  const whole = s.slice(0, -6).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '-' : ''}${whole}.${s.slice(-6).slice(0, digits)}`;
}
const num = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));
const pct = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`);
const card = (label, value, id) =>
  el(
    'div',
    { class: 'card' },
    el('div', { class: 'label' }, label),
    el('div', { class: 'value', 'data-testid': id }, value),
  );

/**
 * One colour per cloud, the same on every page and every load: the clouds the reference
 * agreement names have their own; any other gets one from a hash of its name.
 */
const CLOUD_COLORS = {
  azure: '#2458d6',
  aws: '#e4832e',
  gcp: '#17a398',
  'google-ai': '#0f7b6c',
  openai: '#9b5de5',
  anthropic: '#b5651d',
  oracle: '#c0392b',
  coreweave: '#555',
};
const FALLBACK_COLORS = ['#d6336c', '#5c7cfa', '#2b8a3e', '#e67700', '#1098ad', '#862e9c'];
function cloudColor(cloud) {
  if (CLOUD_COLORS[cloud]) return CLOUD_COLORS[cloud];
  let h = 0;
  for (const ch of String(cloud)) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return FALLBACK_COLORS[h % FALLBACK_COLORS.length];
}
function cloudCell(cloud) {
  if (!cloud) return '—';
  // Through the CSSOM: the console's CSP (style-src 'self') refuses inline style attributes.
  const dot = el('span', { class: 'dot', 'data-cloud': cloud });
  dot.style.backgroundColor = cloudColor(cloud);
  return el('span', {}, dot, cloud);
}

/** A table that sorts on a header click and filters on typed text. */
function table(columns, rows, { id, filter = true, onRow, rowClass } = {}) {
  let sortKey = null;
  let dir = 1;
  let needle = '';
  const tbody = el('tbody');
  const headRow = el('tr');
  const t = el('table', { 'data-testid': id }, el('thead', {}, headRow), tbody);
  const draw = () => {
    let shown = rows.filter(
      (r) =>
        !needle ||
        columns.some((c) =>
          String(c.value(r) ?? '')
            .toLowerCase()
            .includes(needle),
        ),
    );
    if (sortKey) {
      const c = columns.find((x) => x.key === sortKey);
      shown = [...shown].sort((a, b) => {
        const x = c.sort ? c.sort(a) : c.value(a);
        const y = c.sort ? c.sort(b) : c.value(b);
        return (x > y ? 1 : x < y ? -1 : 0) * dir;
      });
    }
    tbody.replaceChildren(
      ...shown.map((r) => {
        const tr = el(
          'tr',
          { class: `${onRow ? 'clickable ' : ''}${rowClass ? rowClass(r) : ''}` },
          ...columns.map((c) =>
            el(
              'td',
              { class: `${c.num ? 'num' : ''}${c.wrap ? ' wrap' : ''}` },
              c.render ? c.render(r) : (c.value(r) ?? '—'),
            ),
          ),
        );
        if (onRow) tr.addEventListener('click', () => onRow(r, tr));
        return tr;
      }),
    );
  };
  for (const c of columns) {
    const th = el('th', { class: c.num ? 'num' : '', 'data-key': c.key }, c.label);
    th.addEventListener('click', () => {
      dir = sortKey === c.key ? -dir : 1;
      sortKey = c.key;
      for (const h of headRow.children) h.classList.remove('sorted-asc', 'sorted-desc');
      th.classList.add(dir === 1 ? 'sorted-asc' : 'sorted-desc');
      draw();
    });
    headRow.append(th);
  }
  draw();
  if (!filter) return el('div', { class: 'panel' }, t);
  const input = el('input', { class: 'filter', placeholder: 'Filter…', 'data-testid': `${id}-filter` });
  input.addEventListener('input', () => {
    needle = input.value.toLowerCase();
    draw();
  });
  return el('div', { class: 'panel' }, input, t);
}

/** 1234567 → "1.23M": short labels for a log axis. */
function compact(v) {
  if (v === null || v === undefined) return '';
  const a = Math.abs(v);
  for (const [n, s] of [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'k'],
  ])
    if (a >= n) return `${+(v / n).toPrecision(3)}${s}`;
  return String(+v.toPrecision(3));
}

function chart(container, title, xs, series, { log = false, percent = false } = {}) {
  const width = Math.max(320, container.clientWidth - 28 || 900);
  const opts = {
    title,
    width,
    height: 240,
    scales: { x: { time: true }, ...(log ? { y: { distr: 3 } } : {}) },
    // Ticks far enough apart that their labels never overlap (test/console-browser.test.ts).
    axes: [
      { space: 90 },
      {
        size: 80,
        space: 36,
        ...(log ? { values: (_, ticks) => ticks.map(compact) } : {}),
        ...(percent ? { values: (_, ticks) => ticks.map((v) => `${Math.round(v * 100)}%`) } : {}),
      },
    ],
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color ?? ['#2458d6', '#e4572e', '#17a398', '#9b5de5', '#f3a712', '#555'][i % 6],
        width: 2,
      })),
    ],
  };
  charts.push(new uPlot(opts, [xs, ...series.map((s) => s.values)], container));
}

/** Keys shown a page at a time (a platform may hold 100,000): their ids fit in one request's headers. */
const KEYS_PER_PAGE = 100;

const pages = {
  async traffic() {
    const window = new URLSearchParams(location.hash.split('?')[1] ?? '').get('window') ?? '1h';
    const t = await api(`/v1/entente/traffic?window=${encodeURIComponent(window)}`);
    const per = { '1h': 'minute', '24h': '15 minutes', '7d': 'hour', '30d': '6 hours' }[window] ?? 'bucket';
    const clouds = Object.keys(t.byCloud).sort();
    const xs = t.buckets.map((b) => b.t / 1000);
    const chartBox = el('div', { class: 'panel chart', 'data-testid': 'traffic-chart' });
    const tokenBox = el('div', { class: 'panel chart' });
    main.replaceChildren(
      el(
        'h1',
        {},
        `Traffic, last ${{ '1h': 'hour', '24h': '24 hours', '7d': '7 days', '30d': '30 days' }[window] ?? window}`,
      ),
      el(
        'div',
        { class: 'range', 'data-testid': 'traffic-range' },
        ...['1h', '24h', '7d', '30d'].map((w) =>
          el(
            'a',
            { href: `#/traffic?window=${w}`, class: w === window ? 'active' : '', 'data-window': w },
            w,
          ),
        ),
      ),
      el(
        'p',
        { class: 'muted' },
        'Every node’s traffic, from the per-minute roll-ups in the store. Latencies are histogram bucket bounds.',
      ),
      el(
        'div',
        { class: 'cards' },
        card('Requests', num(t.totals.requests), 'kpi-requests'),
        card('Errors', num(t.totals.errors), 'kpi-errors'),
        card('Failovers', num(t.totals.failovers), 'kpi-failovers'),
        card(`Served by ${t.primaryCloud}`, pct(t.totals.primaryShare), 'kpi-primary-share'),
        card(
          'Latency p50 / p99',
          `${t.totals.latencyMs.p50 ?? '—'} / ${t.totals.latencyMs.p99 ?? '—'} ms`,
          'kpi-latency',
        ),
        card('Gateway overhead p50', `${t.totals.overheadMs.p50 ?? '—'} ms`, 'kpi-overhead'),
      ),
      chartBox,
      tokenBox,
      el('h2', {}, 'By cloud'),
      table(
        [
          { key: 'cloud', label: 'Cloud', value: (r) => r[0], render: (r) => cloudCell(r[0]) },
          { key: 'requests', label: 'Requests', num: true, value: (r) => r[1].requests },
          { key: 'errors', label: 'Errors', num: true, value: (r) => r[1].errors },
          { key: 'tokens', label: 'Tokens', num: true, value: (r) => r[1].tokens },
        ],
        Object.entries(t.byCloud),
        { id: 'by-cloud' },
      ),
      el('h2', {}, 'By model'),
      table(
        [
          { key: 'model', label: 'Model', value: (r) => r[0] },
          { key: 'requests', label: 'Requests', num: true, value: (r) => r[1].requests },
          { key: 'errors', label: 'Errors', num: true, value: (r) => r[1].errors },
          { key: 'tokens', label: 'Tokens', num: true, value: (r) => r[1].tokens },
        ],
        Object.entries(t.byModel),
        { id: 'by-model' },
      ),
    );
    chart(
      chartBox,
      `Requests per ${per} by cloud`,
      xs,
      clouds.map((c) => ({
        label: c,
        color: cloudColor(c),
        values: t.buckets.map((b) => b.byCloud[c] ?? 0),
      })),
    );
    chart(tokenBox, `Tokens per ${per}`, xs, [
      { label: 'input', values: t.buckets.map((b) => b.tokensInput) },
      { label: 'output', values: t.buckets.map((b) => b.tokensOutput) },
      { label: 'errors', values: t.buckets.map((b) => b.errors) },
    ]);
  },

  async agreement() {
    const a = await api('/v1/entente/agreement');
    const v = a.inForce;
    const terms = v?.terms ?? {};
    const soonMs = Date.now() + 2 * 365 * 86_400_000;
    const diffBox = el('div', { 'data-testid': 'diff' });
    const from = el(
      'select',
      { 'data-testid': 'diff-from' },
      ...a.versions.map((x) => el('option', { value: x.id }, x.id)),
    );
    const to = el(
      'select',
      { 'data-testid': 'diff-to' },
      ...a.versions.map((x) => el('option', { value: x.id }, x.id)),
    );
    to.value = a.versions.at(-1)?.id;
    const showDiff = async () => {
      const d = await api(
        `/v1/entente/agreement/diff?from=${encodeURIComponent(from.value)}&to=${encodeURIComponent(to.value)}`,
      );
      diffBox.replaceChildren(
        el('p', { class: 'muted' }, `${d.changes.length} change(s) from ${d.from} to ${d.to}`),
        table(
          [
            { key: 'kind', label: 'Change', value: (c) => c.kind },
            { key: 'path', label: 'Term', value: (c) => c.path },
            { key: 'from', label: 'Was', value: (c) => c.before ?? '' },
            { key: 'to', label: 'Now', value: (c) => c.after ?? '' },
          ],
          d.changes,
          { id: 'diff-table' },
        ),
      );
    };
    main.replaceChildren(
      el('h1', {}, `${a.title}`),
      el(
        'div',
        { class: 'cards' },
        card('Version in force', v?.id ?? 'none', 'version-in-force'),
        card('Primary cloud', terms.cloud?.primary ?? '—', 'primary-cloud'),
        card(
          'Cloud exclusive',
          terms.cloud ? (terms.cloud.exclusive ? 'yes' : 'no') : '—',
          'cloud-exclusive',
        ),
      ),
      el('h2', {}, 'Versions and amendments'),
      el(
        'ul',
        { class: 'timeline', 'data-testid': 'timeline' },
        ...a.versions.map((x) =>
          el(
            'li',
            { class: x.id === v?.id ? 'in-force' : '' },
            el('strong', {}, x.id),
            ` — ${x.kind}, valid from ${x.validFrom.slice(0, 10)} (recorded ${x.recordedAt.slice(0, 10)})`,
            x.id === v?.id ? ' ' : '',
            x.id === v?.id ? el('span', { class: 'badge good' }, 'in force') : '',
          ),
        ),
      ),
      el('h2', {}, 'Compare two versions'),
      el(
        'div',
        { class: 'row' },
        from,
        el('span', {}, '→'),
        to,
        el('button', { onclick: showDiff, 'data-testid': 'show-diff' }, 'Show diff'),
      ),
      diffBox,
      el('h2', {}, 'Scope'),
      el('p', { 'data-testid': 'scope' }, scopeText(terms.scope, a.parties)),
      el('h2', {}, 'Carve-outs'),
      table(
        [
          { key: 'id', label: 'Carve-out', value: (c) => c.id },
          { key: 'exempts', label: 'Exempt from', value: (c) => (c.exempts ?? []).join(', ') },
          {
            key: 'selects',
            label: 'Applies to',
            value: (c) =>
              [
                c.models ? `models ${c.models.join(', ')}` : '',
                c.ownedBy ? `owned by ${c.ownedBy.join(', ')}` : '',
                c.tenants ? `tenants ${c.tenants.join(', ')}` : '',
              ]
                .filter(Boolean)
                .join('; '),
          },
          { key: 'title', label: 'About', value: (c) => c.title ?? '' },
        ],
        terms.carveOuts ?? [],
        { id: 'carve-outs', filter: false },
      ),
      el('h2', {}, 'Revenue shares'),
      table(
        [
          { key: 'id', label: 'Share', value: (r) => r.id },
          { key: 'who', label: 'Payer → payee', value: (r) => `${r.payer} → ${r.payee}` },
          { key: 'rate', label: 'Rate', num: true, value: (r) => ratio(r.rate) },
          { key: 'base', label: 'Revenue base', value: (r) => baseText(r.revenueBase) },
          { key: 'to', label: 'Until', value: (r) => isoDay(r.term?.to) },
        ],
        terms.revenueShares ?? [],
        { id: 'revenue-shares', filter: false },
      ),
      el('h2', {}, 'Licences'),
      table(
        [
          { key: 'id', label: 'Grant', value: (l) => l.id },
          { key: 'licensee', label: 'Licensee', value: (l) => l.licensee },
          { key: 'subject', label: 'Subject', value: (l) => l.subject },
          { key: 'models', label: 'Models', value: (l) => (l.models ?? []).join(', ') },
          { key: 'from', label: 'From', value: (l) => isoDay(l.term?.from) },
          { key: 'to', label: 'Until', value: (l) => isoDay(l.term?.to) },
          { key: 'exclusivity', label: 'Exclusivity', value: (l) => l.exclusivity },
          {
            key: 'ends',
            label: '',
            value: (l) => (endsSoon(l, soonMs) ? 'ends soon' : ''),
            render: (l) => (endsSoon(l, soonMs) ? el('span', { class: 'badge warn' }, 'ends soon') : ''),
          },
        ],
        terms.licences ?? [],
        { id: 'licences', rowClass: (l) => (endsSoon(l, soonMs) ? 'soon' : '') },
      ),
      el('h2', {}, 'Equity'),
      table(
        [
          { key: 'holder', label: 'Holder', value: (e) => e.holder },
          { key: 'stake', label: 'Stake', num: true, value: (e) => ratio(e.stake) },
          { key: 'note', label: 'Note', value: (e) => e.note ?? '' },
        ],
        terms.equity ?? [],
        { id: 'equity', filter: false },
      ),
      el('h2', {}, 'Joint programmes'),
      table(
        [
          { key: 'id', label: 'Programme', value: (p) => p.id },
          { key: 'kind', label: 'Kind', value: (p) => p.kind },
          { key: 'title', label: 'About', value: (p) => p.title },
        ],
        terms.programmes ?? [],
        { id: 'programmes', filter: false },
      ),
    );
    if (a.versions.length > 1) {
      from.value = a.versions.at(-2).id;
      await showDiff();
    }
  },

  async rollout() {
    const r = await api('/v1/entente/rollout/status');
    main.replaceChildren(
      el('h1', {}, 'Rollout: each model version on each cloud'),
      table(
        [
          { key: 'model', label: 'Model', value: (x) => x.model },
          { key: 'version', label: 'Version', value: (x) => x.modelVersion },
          { key: 'cloud', label: 'Cloud', value: (x) => x.cloud },
          { key: 'deployment', label: 'Deployment', value: (x) => x.deployment },
          { key: 'stage', label: 'Stage', value: (x) => x.stage ?? '—' },
          {
            key: 'may',
            label: 'First-deployment rule',
            value: (x) => (x.mayServe ? 'may serve' : x.mayServe === false ? 'refused' : '—'),
            render: (x) =>
              el(
                'span',
                { class: `badge ${x.mayServe ? 'good' : x.mayServe === false ? 'bad' : ''}` },
                x.mayServe ? 'may serve' : x.mayServe === false ? 'refused' : '—',
              ),
          },
          { key: 'verdict', label: 'Why', wrap: true, value: (x) => x.verdict },
        ],
        r.rows,
        { id: 'rollout' },
      ),
      el('h2', {}, 'Waivers'),
      r.waivers.length === 0
        ? el('p', { class: 'muted', 'data-testid': 'no-waivers' }, 'No waiver is recorded.')
        : table(
            [
              { key: 'seq', label: '#', num: true, value: (w) => w.seq },
              { key: 'model', label: 'Model', value: (w) => `${w.model}@${w.modelVersion}` },
              { key: 'capability', label: 'Capability', value: (w) => w.capability },
              { key: 'partner', label: 'Partner decision', value: (w) => w.partnerDecisionRef || '(none)' },
            ],
            r.waivers,
            { id: 'waivers', filter: false },
          ),
    );
  },

  async revenue() {
    const { shares } = await api('/v1/entente/revenue-share?history=1');
    const period = new Date().toISOString().slice(0, 7);
    const periods = Array.from({ length: 6 }, (_, i) => {
      const d = new Date();
      d.setUTCDate(1);
      d.setUTCMonth(d.getUTCMonth() - i);
      return d.toISOString().slice(0, 7);
    });
    const select = el(
      'select',
      { 'data-testid': 'period' },
      ...periods.map((p) => el('option', { value: p }, p)),
    );
    select.value = period;
    const statementBox = el('div', { 'data-testid': 'statement' });
    const loadStatement = async () => {
      const s = await api(`/v1/entente/ledger/statement?period=${select.value}`);
      statementBox.replaceChildren(
        el('p', { class: 'muted' }, `Period ${s.period} (${s.closed ? 'closed' : 'open'})`),
        table(
          [
            { key: 'account', label: 'Account', value: (l) => l.account },
            {
              key: 'opening',
              label: 'Opening',
              num: true,
              value: (l) => l.opening,
              sort: (l) => Number(l.opening),
            },
            { key: 'entries', label: 'Entries', num: true, value: (l) => l.entries.length },
            {
              key: 'closing',
              label: 'Closing',
              num: true,
              value: (l) => l.closing,
              sort: (l) => Number(l.closing),
            },
          ],
          s.accounts,
          { id: 'statement-table' },
        ),
      );
    };
    const download = async () => {
      const r = await fetch(`/v1/entente/ledger/statement?period=${select.value}&format=csv`, {
        headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}` },
      });
      const blob = await r.blob();
      const a = el('a', { href: URL.createObjectURL(blob), download: `statement-${select.value}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
    };
    select.addEventListener('change', loadStatement);
    // Shares in force get their figures and chart; a share an amendment (or its term) ended is
    // history: what it accrued stays on the books, shown apart.
    const blocks = shares
      .filter((s) => s.inForce !== false)
      .map((s) => {
        const box = el('div', { class: 'panel chart', 'data-testid': `accrual-chart-${s.termId}` });
        return { s, box };
      });
    const ended = shares.filter((s) => s.inForce === false);
    const history =
      ended.length === 0
        ? []
        : [
            el('h2', {}, 'No longer in force'),
            table(
              [
                {
                  key: 'share',
                  label: 'Share',
                  value: (s) => `${s.termId}: ${s.payer} → ${s.payee} at ${s.rate}`,
                },
                { key: 'version', label: 'Last stated by', value: (s) => s.version },
                {
                  key: 'term',
                  label: 'Term',
                  value: (s) => `${s.term.from.slice(0, 10)} → ${(s.term.to ?? '').slice(0, 10) || '…'}`,
                },
                { key: 'accrued', label: 'Accrued', num: true, value: (s) => money(s.accruedMicros) },
              ],
              ended,
              { id: 'share-history', filter: false },
            ),
          ];
    const capText = (s) =>
      s.capReachedAt === null ? (s.capMicros === null ? 'no cap' : 'no run-rate yet') : s.capReachedAt;
    main.replaceChildren(
      el('h1', {}, 'Revenue share'),
      ...blocks.flatMap(({ s, box }) => [
        el('h2', {}, `${s.termId}: ${s.payer} → ${s.payee} at ${s.rate}`),
        el(
          'div',
          { class: 'cards' },
          card(`Accrued (${s.currency})`, money(s.accruedMicros), `accrued-${s.termId}`),
          card('Cap', money(s.capMicros), `cap-${s.termId}`),
          card('Remaining', money(s.remainingMicros), `remaining-${s.termId}`),
          card('Run-rate per day', money(s.runRatePerDayMicros), `runrate-${s.termId}`),
          card('Cap reached', capText(s), `capdate-${s.termId}`),
        ),
        box,
      ]),
      ...history,
      el('h2', {}, 'Statements'),
      el(
        'div',
        { class: 'row' },
        select,
        el('button', { onclick: download, 'data-testid': 'download-csv' }, 'Download CSV'),
      ),
      statementBox,
    );
    for (const { s, box } of blocks) {
      // Display only (floats are fine for pixels): accrued so far, the cap, and where the
      // 30-day run-rate takes the accrual over the next 30 days. Log scale: caps dwarf accruals.
      const major = (micros) => Number(BigInt(micros)) / 1e6;
      const pts = s.history.length > 0 ? s.history : [{ t: Date.now(), accruedMicros: s.accruedMicros }];
      const last = pts.at(-1);
      const horizonMs = Math.max(Date.now(), last.t) + 30 * 86_400_000;
      const xs = [...pts.map((p) => p.t / 1000), horizonMs / 1000];
      const accrued = [...pts.map((p) => major(p.accruedMicros)), null];
      const projected = [
        ...pts.map((_, i) => (i === pts.length - 1 ? major(last.accruedMicros) : null)),
        major(last.accruedMicros) + 30 * major(s.runRatePerDayMicros),
      ];
      const series = [
        { label: 'accrued', values: accrued.map((v) => (v === null ? null : Math.max(v, 1e-6))) },
        {
          label: 'projected (30-day run-rate)',
          values: projected.map((v) => (v === null ? null : Math.max(v, 1e-6))),
        },
      ];
      if (s.capMicros !== null) series.push({ label: 'cap', values: xs.map(() => major(s.capMicros)) });
      chart(box, `Accrued against the cap (${s.currency}, log scale)`, xs, series, { log: true });
    }
    await loadStatement();
  },

  async health() {
    const h = await api('/v1/entente/health');
    const badge = (state) =>
      el(
        'span',
        { class: `badge ${state === 'closed' ? 'good' : state === 'open' ? 'bad' : 'warn'}` },
        state,
      );
    const secs = (ms) => (ms > 0 ? `${Math.ceil(ms / 1000)} s` : '—');
    main.replaceChildren(
      el('h1', {}, 'Deployments'),
      el(
        'p',
        { class: 'muted' },
        'Each deployment’s circuit breaker (closed serves; open is skipped until its cooldown ends; half-open lets one probe through), and the last hour of its attempts (within the newest 5,000 requests), from every node’s usage records.',
      ),
      table(
        [
          { key: 'deployment', label: 'Deployment', value: (d) => d.deployment },
          { key: 'model', label: 'Model', value: (d) => d.model },
          { key: 'cloud', label: 'Cloud', value: (d) => d.cloud, render: (d) => cloudCell(d.cloud) },
          { key: 'state', label: 'Breaker', value: (d) => d.state, render: (d) => badge(d.state) },
          {
            key: 'cooldown',
            label: 'Cooldown left',
            num: true,
            value: (d) => d.cooldownRemainingMs,
            render: (d) => secs(d.cooldownRemainingMs),
          },
          { key: 'failures', label: 'Failures in a row', num: true, value: (d) => d.failures },
          { key: 'served', label: 'Served, 1 h', num: true, value: (d) => d.lastHour.served },
          { key: 'failed', label: 'Failed, 1 h', num: true, value: (d) => d.lastHour.failed },
          {
            key: 'how',
            label: 'How they failed',
            wrap: true,
            value: (d) =>
              Object.entries(d.lastHour.byOutcome)
                .map(([k, n]) => `${k} ${n}`)
                .join(', ') || '—',
          },
          {
            key: 'last',
            label: 'Last failure',
            wrap: true,
            value: (d) => {
              const f = d.lastHour.lastFailure;
              return f
                ? `${f.at.slice(11, 19)} ${f.outcome}${f.status ? ` ${f.status}` : ''}${f.code ? ` ${f.code}` : ''}`
                : '—';
            },
          },
        ],
        h.deployments,
        { id: 'breakers', rowClass: (d) => (d.state === 'closed' ? '' : 'soon') },
      ),
      el('h2', {}, 'Recent transitions'),
      table(
        [
          { key: 'at', label: 'When', value: (t) => t.at.replace('T', ' ').slice(0, 23) },
          { key: 'deployment', label: 'Deployment', value: (t) => t.deployment },
          { key: 'from', label: 'From', value: (t) => t.from },
          { key: 'to', label: 'To', value: (t) => t.to, render: (t) => badge(t.to) },
          { key: 'reason', label: 'Why', wrap: true, value: (t) => t.reason },
        ],
        h.transitions,
        { id: 'transitions' },
      ),
    );
  },

  /** One page of keys at a time (the API's pages); `after` is the last id of the page before. */
  async keys(after = null) {
    const { keys, next } = await api(
      `/v1/entente/keys?limit=${KEYS_PER_PAGE}${after ? `&after=${encodeURIComponent(after)}` : ''}`,
    );
    // The limits and the spend of this page's keys only, not of every key.
    const ids = keys.map((k) => k.id).join(',');
    const [{ limits }, spent] = await Promise.all([
      ids ? api(`/v1/entente/limits?keys=${ids}`) : { limits: [] },
      ids ? api(`/v1/entente/spend?window=30d&keys=${ids}`) : { byKey: [], currency: '' },
    ]);
    const spendOf = new Map(spent.byKey.map((k) => [k.name, k]));
    const base = (id) => id.replace(/\.r\d+$/, '');
    const limitOf = (k) => limits.find((l) => l.id === `key:${base(k.id)}`);
    const describe = (l) =>
      !l
        ? '—'
        : [
            l.requestsPerMinute && `${num(l.requestsPerMinute)} req/min`,
            l.tokensPerMinute && `${num(l.tokensPerMinute)} tok/min`,
            l.concurrentRequests && `${num(l.concurrentRequests)} in flight`,
            l.budget &&
              `${l.budget.amount} ${l.budget.currency}/${typeof l.budget.period === 'string' ? l.budget.period : `${l.budget.period.days} d`}`,
          ]
            .filter(Boolean)
            .join(', ');
    const secretBox = el('div', { id: 'new-key' });
    const field = (name, label, attrs = {}) =>
      el('label', {}, label, el('input', { name, 'data-testid': `new-${name}`, ...attrs }));
    const form = el(
      'form',
      { class: 'create-key', 'data-testid': 'create-key' },
      el('h2', {}, 'Create a key'),
      field('tenant', 'Tenant', { required: 'required', placeholder: 'acme' }),
      field('id', 'Id (optional)', { placeholder: 'team-search' }),
      field('models', 'Models', { value: '*' }),
      field('rpm', 'Requests / min', { type: 'number', min: '1' }),
      field('tpm', 'Tokens / min', { type: 'number', min: '1' }),
      field('budget', 'Budget', { placeholder: '250.00' }),
      el(
        'label',
        {},
        'per',
        el(
          'select',
          { name: 'period', 'data-testid': 'new-period' },
          el('option', { value: 'month' }, 'month'),
          el('option', { value: 'day' }, 'day'),
        ),
      ),
      el('button', { type: 'submit' }, 'Create'),
      el('p', { class: 'error', 'data-testid': 'create-error' }),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      const limitsBody = {};
      if (f.get('rpm')) limitsBody.requestsPerMinute = Number(f.get('rpm'));
      if (f.get('tpm')) limitsBody.tokensPerMinute = Number(f.get('tpm'));
      if (f.get('budget')) limitsBody.budget = { amount: String(f.get('budget')), period: f.get('period') };
      const body = {
        tenant: String(f.get('tenant')),
        models: String(f.get('models') || '*')
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean),
        ...(f.get('id') ? { id: String(f.get('id')) } : {}),
        ...(Object.keys(limitsBody).length ? { limits: limitsBody } : {}),
      };
      try {
        const created = await api('/v1/entente/keys', body);
        await pages.keys();
        // The secret exists only in this answer: shown once, here, and never again.
        document
          .getElementById('new-key')
          .replaceChildren(
            el(
              'div',
              { class: 'secret' },
              el('strong', {}, `Key ${created.id} created. Copy it now: it is shown once and never stored.`),
              el('code', { 'data-testid': 'new-secret' }, created.key),
            ),
          );
      } catch (x) {
        form.querySelector('[data-testid="create-error"]').textContent = x.message;
      }
    });
    const revoke = async (k) => {
      await api(`/v1/entente/keys/revoke/${encodeURIComponent(k.id)}`, {});
      await pages.keys(after);
    };
    main.replaceChildren(
      el('h1', {}, 'API keys'),
      el(
        'p',
        { class: 'muted' },
        'Only a prefix of each key’s SHA-256 is shown; secrets are never stored. A change applies on every node within a second. Spend is what the ledger booked over 30 days; a budget’s remainder counts requests in flight at their worst case.',
      ),
      secretBox,
      form,
      table(
        [
          { key: 'id', label: 'Key', value: (k) => k.id },
          { key: 'tenant', label: 'Tenant', value: (k) => k.tenant },
          {
            key: 'status',
            label: 'Status',
            value: (k) => k.status,
            render: (k) => el('span', { class: `badge ${k.status === 'active' ? 'good' : 'bad'}` }, k.status),
          },
          { key: 'models', label: 'Models', value: (k) => k.models.join(', ') },
          { key: 'limits', label: 'Limits', value: (k) => describe(limitOf(k)) },
          {
            key: 'left',
            label: 'Budget left',
            value: (k) => limitOf(k)?.budget?.remaining ?? '',
            render: (k) => {
              const b = limitOf(k)?.budget;
              return b ? `${b.remaining} of ${b.amount} (${b.periodId})` : '—';
            },
          },
          { key: 'requests', label: 'Requests, 30 d', value: (k) => spendOf.get(k.id)?.requests ?? 0 },
          {
            key: 'spend',
            label: `Spend, 30 d (${spent.currency})`,
            value: (k) => spendOf.get(k.id)?.spent ?? '0.000000',
          },
          { key: 'created', label: 'Created', value: (k) => k.createdAt.slice(0, 19).replace('T', ' ') },
          {
            key: 'expires',
            label: 'Expires',
            value: (k) => (k.expiresAt ?? '').slice(0, 19).replace('T', ' '),
          },
          { key: 'sha', label: 'SHA-256', value: (k) => `${k.sha256Prefix}…` },
          {
            key: 'actions',
            label: '',
            value: () => '',
            render: (k) =>
              k.status === 'active'
                ? el(
                    'button',
                    { type: 'button', 'data-testid': `revoke-${k.id}`, onclick: () => revoke(k) },
                    'Revoke',
                  )
                : '',
          },
        ],
        keys,
        { id: 'keys' },
      ),
      el(
        'p',
        { class: 'pager' },
        after
          ? el(
              'button',
              { type: 'button', 'data-testid': 'keys-first', onclick: () => pages.keys() },
              'First page',
            )
          : '',
        next
          ? el(
              'button',
              { type: 'button', 'data-testid': 'keys-next', onclick: () => pages.keys(next) },
              `Next ${KEYS_PER_PAGE} keys`,
            )
          : '',
      ),
    );
  },

  async capacity() {
    const c = await api('/v1/entente/capacity');
    const f = (p) => p.forecast;
    // Per pool: the busiest minute of each hour of the last day against the capacity, then the
    // forecast of the next week with its band.
    const boxes = c.pools.map((p) => ({
      p,
      box: el('div', { class: 'panel chart', 'data-testid': `capacity-chart-${p.id}` }),
    }));
    const chartBlocks = boxes.flatMap(({ p, box }) => [el('h2', {}, `${p.id}: utilization`), box]);
    main.replaceChildren(
      el('h1', {}, 'Capacity'),
      el(
        'p',
        { class: 'muted' },
        `Provisioned pools are filled to ${c.targetUtilization === null ? '90%' : pct(c.targetUtilization)} first, then requests spill over to pay-as-you-go in cost order. Utilization is the busiest minute of the last hour; figures are every node’s, from the per-minute roll-ups. The forecast fits four weeks of each pool’s tokens (trend and hour of week); its backtest error is shown beside it.`,
      ),
      c.pools.length === 0
        ? el('p', {}, 'No pools in the config (capacity.pools).')
        : table(
            [
              { key: 'id', label: 'Pool', value: (p) => p.id },
              { key: 'size', label: 'Size', value: (p) => `${p.size} ${p.unit}` },
              {
                key: 'capacity',
                label: 'Tokens/min',
                value: (p) => p.capacityTpm,
                render: (p) => num(p.capacityTpm),
              },
              {
                key: 'where',
                label: 'Accelerator @ datacenter',
                wrap: true,
                value: (p) => [p.accelerator, p.datacenter].filter(Boolean).join(' @ '),
              },
              {
                key: 'util',
                label: 'Utilization (peak min, 1 h)',
                value: (p) => p.lastHour.utilization,
                render: (p) => pct(p.lastHour.utilization),
              },
              {
                key: 'spill',
                label: 'Spilled, 24 h',
                value: (p) => p.last24h.spillShare,
                render: (p) => pct(p.last24h.spillShare),
              },
              {
                key: 'price',
                label: 'Effective / M tokens',
                value: (p) => Number(p.month.effectivePerMillion ?? 0),
                render: (p) => p.month.effectivePerMillion ?? '—',
              },
              {
                key: 'p95',
                label: 'p95 next week',
                wrap: true,
                value: (p) => f(p)?.p95NextWeekTpm ?? 0,
                render: (p) =>
                  f(p) ? `${num(f(p).p95NextWeekTpm)} (${pct(f(p).utilizationNextWeek)})` : '—',
              },
              {
                key: 'sat',
                label: 'Saturates',
                value: (p) => f(p)?.saturatesAt ?? '',
                render: (p) => (f(p) ? (f(p).saturatesAt ?? 'not in 12 weeks').slice(0, 10) : '—'),
              },
              {
                key: 'need',
                label: 'Units needed',
                value: (p) => f(p)?.unitsNeeded ?? 0,
                render: (p) =>
                  f(p)
                    ? `${f(p).unitsNeeded} (${f(p).recommendedChange >= 0 ? '+' : ''}${f(p).recommendedChange})`
                    : '—',
              },
              {
                key: 'err',
                label: 'Backtest error',
                value: (p) => f(p)?.backtestMape ?? -1,
                render: (p) => (f(p)?.backtestMape == null ? '—' : pct(f(p).backtestMape)),
              },
              {
                key: 'term',
                label: 'Term',
                value: (p) => `${p.term.from.slice(0, 10)} → ${(p.term.to ?? '').slice(0, 10)}`,
                render: (p) =>
                  el(
                    'span',
                    { class: p.inForce ? '' : 'muted' },
                    `${p.term.from.slice(0, 10)} → ${(p.term.to ?? '…').slice(0, 10)}`,
                  ),
              },
            ],
            c.pools,
            { id: 'pools' },
          ),
      ...chartBlocks,
      el('h2', {}, 'Joint programmes'),
      (c.programmes ?? []).length === 0
        ? el('p', { class: 'muted' }, 'The agreement in force names no joint programmes.')
        : table(
            [
              { key: 'id', label: 'Programme', value: (g) => g.title },
              { key: 'kind', label: 'Kind', value: (g) => g.kind },
              {
                key: 'pools',
                label: 'Pools (size, accelerator @ datacenter)',
                value: (g) =>
                  g.pools
                    .map(
                      (p) =>
                        `${p.id}${p.size === null ? '' : ` (${p.size} ${p.unit}, ${[p.accelerator, p.datacenter].filter(Boolean).join(' @ ')})`}`,
                    )
                    .join('; ') || '—',
              },
            ],
            c.programmes,
            { id: 'programmes' },
          ),
    );
    for (const { p, box } of boxes) {
      const past = p.last24h.hourlyPeakTpm ?? [];
      const next = p.forecast?.nextWeek ?? [];
      const xs = [...past.map((x) => x.t), ...next.map((x) => x.t)];
      if (xs.length === 0) {
        box.replaceChildren(el('p', { class: 'muted' }, 'No traffic in the last day.'));
        continue;
      }
      const u = (tpm) => (p.capacityTpm ? tpm / p.capacityTpm : 0);
      const pad = (n, values) => [...Array(n).fill(null), ...values];
      chart(
        box,
        `${p.id}: utilization (busiest minute per hour), then the forecast with its band`,
        xs.map((t) => t / 1000),
        [
          { label: 'last 24 h', values: [...past.map((x) => u(x.tpm)), ...Array(next.length).fill(null)] },
          {
            label: 'forecast',
            values: pad(
              past.length,
              next.map((x) => u(x.tpm)),
            ),
          },
          {
            label: 'band low',
            values: pad(
              past.length,
              next.map((x) => u(x.low)),
            ),
          },
          {
            label: 'band high',
            values: pad(
              past.length,
              next.map((x) => u(x.high)),
            ),
          },
          { label: 'capacity', values: xs.map(() => 1) },
        ],
        { percent: true },
      );
    }
  },

  async spend() {
    const window = new URLSearchParams(location.hash.split('?')[1] ?? '').get('window') ?? '24h';
    const s = await api(`/v1/entente/spend?window=${encodeURIComponent(window)}`);
    const picker = el(
      'div',
      { class: 'range', 'data-testid': 'range' },
      ...['1h', '24h', '7d', '30d'].map((w) =>
        el('a', { href: `#/spend?window=${w}`, class: w === s.window ? 'active' : '', 'data-window': w }, w),
      ),
    );
    // Each part lists the largest groups (the API's top 100); with more, it says how many there are.
    const part = (title, rows, id, count) =>
      el(
        'section',
        {},
        el('h2', {}, title),
        count > rows.length
          ? el(
              'p',
              { class: 'muted', 'data-testid': `${id}-more` },
              `The ${num(rows.length)} largest of ${num(count)}.`,
            )
          : '',
        table(
          [
            { key: 'name', label: title.replace('By ', ''), value: (r) => r.name },
            { key: 'requests', label: 'Requests', value: (r) => r.requests, render: (r) => num(r.requests) },
            {
              key: 'spent',
              label: `Spend (${s.currency})`,
              value: (r) => Number(r.spent),
              render: (r) => r.spent,
            },
          ],
          rows,
          { id, filter: false },
        ),
      );
    main.replaceChildren(
      el('h1', {}, 'Spend'),
      el(
        'p',
        { class: 'muted' },
        `What the ledger booked for requests from ${s.since.replace('T', ' ').slice(0, 19)} to ${s.until.replace('T', ' ').slice(0, 19)} UTC, on every node.`,
      ),
      picker,
      el(
        'div',
        { class: 'cards' },
        card('Spend', `${s.total} ${s.currency}`, 'spend-total'),
        card('Requests', num(s.requests), 'spend-requests'),
      ),
      part('By tenant', s.byTenant, 'spend-tenant', s.counts.tenants),
      part('By key', s.byKey, 'spend-key', s.counts.keys),
      part('By model', s.byModel, 'spend-model', s.counts.models),
      part('By cloud', s.byCloud, 'spend-cloud', s.counts.clouds),
    );
  },

  async nodes() {
    const { self, nodes } = await api('/v1/entente/nodes');
    main.replaceChildren(
      el('h1', {}, 'Nodes'),
      el(
        'p',
        { class: 'muted' },
        `Every gateway node on this store, as its heartbeats say. This page is served by ${self}.`,
      ),
      table(
        [
          { key: 'id', label: 'Node', value: (n) => n.nodeId },
          {
            key: 'live',
            label: 'Heartbeat',
            value: (n) => (n.live ? 'live' : 'stale'),
            render: (n) =>
              el('span', { class: `badge ${n.live ? 'good' : 'bad'}` }, n.live ? 'live' : n.state),
          },
          { key: 'at', label: 'Last heartbeat', value: (n) => n.heartbeatAt.replace('T', ' ').slice(0, 19) },
          { key: 'state', label: 'State', value: (n) => n.state },
          { key: 'version', label: 'Version', value: (n) => n.version },
          {
            key: 'config',
            label: 'Config',
            value: (n) => (n.configMatches ? n.configHash : `${n.configHash} (differs)`),
            render: (n) =>
              n.configMatches ? n.configHash : el('span', { class: 'badge warn' }, `${n.configHash} differs`),
          },
          { key: 'inflight', label: 'In flight', num: true, value: (n) => n.inFlight },
          { key: 'url', label: 'URL', value: (n) => n.url },
        ],
        nodes,
        { id: 'nodes' },
      ),
    );
  },

  async audit() {
    const { entries } = await api('/v1/entente/audit?limit=500');
    main.replaceChildren(
      el('h1', {}, 'Audit log'),
      el(
        'p',
        { class: 'muted' },
        'Every change to agreements, rollout, declarations, keys, prices, refunds and period closes: who, when (server time), what. Append-only.',
      ),
      table(
        [
          { key: 'seq', label: '#', num: true, value: (e) => e.seq },
          {
            key: 'at',
            label: 'When',
            value: (e) => new Date(e.atMs).toISOString().replace('T', ' ').slice(0, 19),
          },
          { key: 'actor', label: 'Who', value: (e) => e.actor },
          { key: 'action', label: 'Action', value: (e) => e.action },
          { key: 'subject', label: 'Subject', wrap: true, value: (e) => e.subject },
          { key: 'detail', label: 'What', wrap: true, value: (e) => JSON.stringify(e.detail).slice(0, 300) },
        ],
        entries,
        { id: 'audit' },
      ),
    );
  },

  async requests() {
    const PAGE = 50;
    const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
    const q = params.get('q') ?? '';
    const offset = Math.max(0, Number(params.get('offset') ?? 0) || 0);
    const go = (next) => {
      const p = new URLSearchParams();
      if (next.q) p.set('q', next.q);
      if (next.offset) p.set('offset', String(next.offset));
      location.hash = `#/requests${p.size ? `?${p}` : ''}`;
    };
    const search = el('input', {
      class: 'filter',
      placeholder: 'Search request id, model, cloud, tenant, deployment, error…',
      'data-testid': 'request-search',
      value: q,
    });
    let timer;
    search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => go({ q: search.value, offset: 0 }), 300);
    });
    const r = await api(`/v1/entente/requests?limit=${PAGE}&offset=${offset}&q=${encodeURIComponent(q)}`);
    const detail = el('div', { 'data-testid': 'request-detail' });
    const pager = el(
      'div',
      { class: 'row pager', 'data-testid': 'request-pager' },
      el(
        'button',
        {
          disabled: offset === 0 ? '' : undefined,
          onclick: () => go({ q, offset: Math.max(0, offset - PAGE) }),
        },
        '← Newer',
      ),
      el(
        'span',
        { class: 'muted', 'data-testid': 'request-range' },
        r.requests.length === 0
          ? 'no requests'
          : `${offset + 1}–${offset + r.requests.length}${r.hasMore ? '' : ` of ${offset + r.requests.length}`}`,
      ),
      el(
        'button',
        { disabled: r.hasMore ? undefined : '', onclick: () => go({ q, offset: offset + PAGE }) },
        'Older →',
      ),
    );
    const list = table(
      [
        { key: 'time', label: 'Started', value: (x) => x.startedAt.replace('T', ' ').slice(0, 19) },
        { key: 'id', label: 'Request', value: (x) => x.requestId },
        { key: 'tenant', label: 'Tenant', value: (x) => x.tenant },
        { key: 'model', label: 'Model', value: (x) => x.model },
        { key: 'cloud', label: 'Cloud', value: (x) => x.cloud, render: (x) => cloudCell(x.cloud) },
        { key: 'status', label: 'Status', num: true, value: (x) => x.status },
        { key: 'attempts', label: 'Attempts', num: true, value: (x) => x.attempts },
        {
          key: 'tokens',
          label: 'Tokens in/out',
          num: true,
          value: (x) => x.tokensInput + x.tokensOutput,
          render: (x) => `${x.tokensInput} / ${x.tokensOutput}`,
        },
        { key: 'latency', label: 'Latency ms', num: true, value: (x) => x.latencyMs },
        { key: 'why', label: 'Route decision', wrap: true, value: (x) => x.why },
      ],
      r.requests,
      {
        id: 'requests',
        filter: false,
        onRow: async (x) => {
          // The decision as it was when the request started: that agreement version and rollout log.
          const route = await api(
            `/v1/entente/route?model=${encodeURIComponent(x.model)}&tenant=${encodeURIComponent(x.tenant)}&at=${encodeURIComponent(x.startedAt)}`,
          );
          main.dataset.hold = '1';
          detail.replaceChildren(
            el('h2', {}, `Request ${x.requestId}`),
            el('p', {}, x.why),
            el(
              'p',
              { class: 'muted' },
              `${x.status}${x.errorCode ? ` ${x.errorCode}` : ''} · ${x.model}${x.modelVersion ? `@${x.modelVersion}` : ''} · capacity ${x.capacity ?? '—'}${x.tier ? ` (tier ${x.tier})` : ''} · ${x.latencyMs} ms, ${x.overheadMs} ms in the gateway`,
            ),
            el('h2', {}, 'Attempts'),
            table(
              [
                { key: 'n', label: '#', num: true, value: (a) => x.attemptLog.indexOf(a) + 1 },
                { key: 'deployment', label: 'Deployment', value: (a) => a.deployment },
                { key: 'outcome', label: 'Outcome', value: (a) => a.outcome },
                { key: 'status', label: 'Upstream status', num: true, value: (a) => a.status ?? '—' },
                { key: 'code', label: 'Code', value: (a) => a.code ?? '—' },
                { key: 'host', label: 'Host', value: (a) => a.host ?? '' },
                { key: 'ms', label: 'Duration ms', num: true, value: (a) => a.durationMs },
                // What a failed attempt's cloud had begun billing (not billed to the tenant).
                {
                  key: 'tokens',
                  label: 'Tokens used (in / out / reasoning)',
                  value: (a) =>
                    a.usage
                      ? `${a.usage.tokensInputUncached + a.usage.tokensInputCached} / ${a.usage.tokensOutput} / ${a.usage.tokensReasoning}${a.usage.exact ? '' : ' (estimate)'}`
                      : '',
                },
              ],
              x.attemptLog,
              { id: 'request-attempts', filter: false },
            ),
            el('h2', {}, `How ${x.model} routed at ${route.at.replace('T', ' ').slice(0, 19)}`),
            el(
              'p',
              { class: 'muted' },
              `Agreement version ${route.agreementVersion ?? '(none)'}, rollout log #${route.rolloutSeq}.`,
            ),
            table(
              [
                { key: 'deployment', label: 'Eligible, in order', value: (d) => d.deployment },
                { key: 'cloud', label: 'Cloud', value: (d) => d.cloud, render: (d) => cloudCell(d.cloud) },
                { key: 'version', label: 'Version', value: (d) => d.modelVersion },
                { key: 'reason', label: 'Why', wrap: true, value: (d) => d.reason },
              ],
              route.eligible,
              { id: 'request-route', filter: false },
            ),
            ...(route.excluded.length
              ? [
                  table(
                    [
                      { key: 'deployment', label: 'Not eligible', value: (d) => d.deployment },
                      { key: 'code', label: 'Rule', value: (d) => d.code },
                      { key: 'reason', label: 'Why', wrap: true, value: (d) => d.reason },
                    ],
                    route.excluded,
                    { id: 'request-excluded', filter: false },
                  ),
                ]
              : []),
          );
          detail.scrollIntoView({ block: 'start' });
        },
      },
    );
    main.replaceChildren(el('h1', {}, 'Recent requests'), search, pager, list, detail);
    if (document.activeElement === document.body && q) search.focus();
  },
};

const scopeText = (scope, parties) => {
  const owners = scope ? (scope.ownedBy ?? []) : (parties ?? []).map((p) => p.id);
  const parts = [
    owners.length ? `models owned by ${owners.join(', ')}` : '',
    scope?.models?.length ? `models ${scope.models.join(', ')}` : '',
  ].filter(Boolean);
  return `This version governs ${parts.join(' and ') || 'no model'}; every other model routes by plain policy.`;
};
const baseText = (b) =>
  b && typeof b === 'object'
    ? [
        `${b.seller}'s revenue`,
        b.ownedBy ? `from models owned by ${b.ownedBy.join(', ')}` : '',
        b.models ? `on ${b.models.join(', ')}` : '',
        b.clouds ? `served on ${b.clouds.join(', ')}` : 'on any cloud',
        b.surfaces ? `via ${b.surfaces.join(', ')}` : '',
        b.tenants ? `of tenants ${b.tenants.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join(' ')
    : String(b ?? '');

const isoDay = (ms) => (ms === undefined || ms === null ? 'open' : new Date(ms).toISOString().slice(0, 10));
const endsSoon = (l, soonMs) =>
  l.term?.to !== undefined && l.term?.to !== null && l.term.to > Date.now() && l.term.to < soonMs;
const ratio = (r) =>
  r && typeof r === 'object' ? `${((Number(r.num) / Number(r.den)) * 100).toFixed(1)}%` : String(r ?? '');

function login(message) {
  nav.hidden = true;
  logoutButton.hidden = true;
  const input = el('input', { type: 'password', id: 'admin-key', autocomplete: 'off', placeholder: 'sk-…' });
  const err = el('p', { class: 'error', 'data-testid': 'login-error' }, message ?? '');
  const form = el(
    'form',
    { class: 'login', id: 'login' },
    el('h1', {}, 'Entente console'),
    el('label', { for: 'admin-key' }, 'Admin key'),
    input,
    el('button', { type: 'submit' }, 'Sign in'),
    err,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    try {
      await api('/v1/entente/rollout');
      if (!location.hash || location.hash === '#/login') location.hash = '#/traffic';
      else route();
    } catch (x) {
      sessionStorage.removeItem(KEY);
      err.textContent = x instanceof Unauthorized ? 'That key is not the admin key.' : String(x.message);
    }
  });
  main.replaceChildren(form);
  input.focus();
}

// Every page refreshes itself every 10 s while it is shown and the tab is visible, keeping the
// scroll position; not while the operator is typing in it, or has opened a detail (main.dataset.hold).
const REFRESH_MS = 10_000;
let refreshTimer = null;

function busy() {
  const a = document.activeElement;
  return main.dataset.hold === '1' || (a && main.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName));
}

async function route(refresh = false) {
  clearTimeout(refreshTimer);
  if (!sessionStorage.getItem(KEY)) return login();
  const page = (location.hash.replace(/^#\//, '') || 'traffic').split('?')[0];
  nav.hidden = false;
  logoutButton.hidden = false;
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.dataset.page === page);
  if (refresh !== true) delete main.dataset.hold;
  const scrollY = window.scrollY;
  while (charts.length) charts.pop().destroy();
  if (refresh !== true) main.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  try {
    await (pages[page] ?? pages.traffic)();
    main.setAttribute('data-loaded', page);
    main.dataset.refreshedAt = String(Date.now());
    if (refresh === true) window.scrollTo(0, scrollY);
    refreshTimer = setTimeout(function again() {
      if (document.visibilityState !== 'visible' || busy()) {
        refreshTimer = setTimeout(again, REFRESH_MS);
        return;
      }
      route(true);
    }, REFRESH_MS);
  } catch (x) {
    if (x instanceof Unauthorized) {
      sessionStorage.removeItem(KEY);
      return login('Signed out: the admin key was refused.');
    }
    main.replaceChildren(el('p', { class: 'error' }, `Could not load this page: ${x.message}`));
  }
}

// For tests of the layout: the charts on the page (uPlot instances).
window.__ententeCharts = charts;

logoutButton.addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  location.hash = '#/login';
  login();
});
window.addEventListener('hashchange', () => route());
route();
