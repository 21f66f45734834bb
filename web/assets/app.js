// trialog's pages. They show nothing the browser has not verified: every
// answer of the server goes through the verifier compiled from trialog's Go
// code (verifier.wasm), and the page renders what the verifier returns,
// read from the proven leaves. All texts come from messages.json.
//
// The patient's secret lives in the page's fragment (#secret=…), which
// browsers never send to a server, or in the form. It leaves the page only
// in the body of POST /v1/consent/status. It is never put in a URL, a
// header, storage or the browser's console log.
'use strict';

(() => {
  const LANGS = ['en'];
  let msgs = {};
  let lang = 'en';

  // ---------- texts ----------

  function t(key, vars) {
    let s = Object.prototype.hasOwnProperty.call(msgs, key) ? msgs[key] : key;
    return s.replace(/\{(\w+)\}/g, (m, k) => (vars && k in vars ? String(vars[k]) : m));
  }

  function has(key) {
    return Object.prototype.hasOwnProperty.call(msgs, key);
  }

  async function loadMessages() {
    const res = await fetch('/assets/messages.json');
    const all = await res.json();
    const wanted = (navigator.languages || [navigator.language || 'en']).map((l) => l.slice(0, 2));
    lang = wanted.find((l) => LANGS.includes(l) && all[l]) || 'en';
    msgs = Object.assign({}, all.en, all[lang]);
    document.documentElement.lang = lang;
  }

  function fmtTime(s) {
    if (!s) return '';
    const d = new Date(s);
    if (isNaN(d)) return s;
    try {
      return new Intl.DateTimeFormat(lang, { dateStyle: 'long', timeStyle: 'short', timeZoneName: 'short' }).format(d);
    } catch (e) {
      return d.toUTCString();
    }
  }

  // ---------- DOM ----------

  // el builds an element; children are nodes or strings (as text, never HTML).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const main = () => document.getElementById('main');

  function setVerification(state) {
    main().dataset.verification = state;
  }

  function short(hex) {
    return hex ? hex.slice(0, 12) + '…' : '';
  }

  // ---------- the fragment ----------

  // fragment parses #a=b&c=d without turning '+' into a space: log keys
  // and standard base64 contain '+'.
  function fragment() {
    const out = {};
    const h = location.hash.replace(/^#/, '');
    if (!h) return out;
    for (const part of h.split('&')) {
      const i = part.indexOf('=');
      const k = i < 0 ? part : part.slice(0, i);
      let v = i < 0 ? '' : part.slice(i + 1);
      try {
        v = decodeURIComponent(v);
      } catch (e) {
        /* keep it raw */
      }
      (out[k] = out[k] || []).push(v);
    }
    return out;
  }

  const first = (f, k) => (f[k] && f[k].length ? f[k][0] : '');

  // ---------- the server ----------

  class LoadError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function request(path, init) {
    let res;
    try {
      res = await fetch(path, Object.assign({ cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' }, init));
    } catch (e) {
      throw new LoadError(t('common.error.network', { detail: e.message }), 0);
    }
    const text = await res.text();
    if (!res.ok) {
      let detail = text;
      try {
        detail = JSON.parse(text).error.message;
      } catch (e) {
        /* not the API's error object */
      }
      throw new LoadError(t('common.error.http', { status: res.status, detail: detail }), res.status);
    }
    return text;
  }

  async function getJSON(path) {
    return JSON.parse(await request(path));
  }

  // consistency fetches the proof that the log of checkpoint b extends that
  // of checkpoint a, when their sizes differ; the verifier checks it. The
  // sizes are read unverified, only to ask.
  async function consistency(a, b) {
    const size = (cp) => parseInt(String(cp || '').split('\n')[1], 10);
    const from = size(a);
    const to = size(b);
    if (!(from >= 1 && to > from)) return undefined;
    return getJSON('/v1/proofs/consistency?from=' + from + '&to=' + to);
  }

  async function receipts(ids) {
    const out = {};
    await Promise.all(
      [...new Set(ids)].map(async (id) => {
        out[id] = await request('/v1/entries/' + encodeURIComponent(id) + '/receipt');
      })
    );
    return out;
  }

  // ---------- the verifier ----------

  let verifierPromise = null;

  function verifier() {
    if (!verifierPromise) {
      verifierPromise = (async () => {
        if (typeof Go !== 'function') throw new Error('wasm_exec.js did not load');
        const go = new Go();
        const res = await fetch('/assets/verifier.wasm');
        if (!res.ok) throw new Error(await res.text());
        // Streaming compilation, which the browser may also cache compiled.
        const { instance } = await WebAssembly.instantiateStreaming(res, go.importObject);
        go.run(instance);
        for (let i = 0; i < 200 && !(globalThis.trialogVerifier && globalThis.trialogVerifier.ready); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        if (!globalThis.trialogVerifier) throw new Error('the verifier did not start');
        return globalThis.trialogVerifier;
      })();
    }
    return verifierPromise;
  }

  async function call(fn, input) {
    const v = await verifier();
    return JSON.parse(v[fn](JSON.stringify(input)));
  }

  // ---------- the log key ----------

  // logKey returns the key the page trusts: the one pinned in the fragment,
  // else the one the server announces (shown for out-of-band comparison).
  async function logKey(frag) {
    const info = await getJSON('/v1/log');
    const pinned = first(frag, 'key').trim();
    // Hook: a log that publishes its witness policy lists the witnesses'
    // keys in /v1/log; they count only as much as the log's own word,
    // unlike keys pinned in the link, and one the verifier cannot read is
    // skipped rather than failing the page.
    const served = [];
    for (const w of Array.isArray(info.witnesses) ? info.witnesses : []) {
      const k = typeof w === 'string' ? w : w && (w.key || w.vkey);
      if (typeof k === 'string' && k) served.push(k);
    }
    const key = pinned || info.public_key;
    return { key: key, pinned: !!pinned, served: info.public_key, info: info, keys: { log_key: key, witness_keys: (frag.witness || []).slice(), served_witness_keys: served } };
  }

  async function keySection(k) {
    const v = await verifier();
    const link = new URL(location.href);
    const params = [];
    for (const [name, vals] of Object.entries(fragment())) {
      if (name === 'key' || name === 'secret') continue;
      for (const val of vals) params.push(name + '=' + encodeURIComponent(val));
    }
    params.unshift('key=' + encodeURIComponent(k.key));
    link.hash = params.join('&');
    return el(
      'section',
      { class: 'key', 'aria-labelledby': 'key-h' },
      el('h2', { id: 'key-h', text: t('key.heading') }),
      el('p', { class: 'keytext', id: 'log-key', text: k.key }),
      el('p', {}, t('key.fingerprint') + ': ', el('span', { class: 'fp', id: 'log-key-fp' }, v.fingerprint(k.key).split(' ').map((g) => el('span', { text: g })))),
      el('p', { class: k.pinned ? 'note' : 'note warn', text: t(k.pinned ? 'key.pinned' : 'key.served') }),
      k.pinned && k.served !== k.key ? el('p', { class: 'note warn', text: t('key.mismatch', { served: k.served }) }) : null,
      document.body.dataset.page === 'patient' ? null : el('p', {}, el('a', { href: link.toString(), text: t('key.pin') }))
    );
  }

  function witnessSection(cp) {
    const list = (cp && cp.cosignatures) || [];
    return el(
      'section',
      { class: 'witnesses', 'aria-labelledby': 'wit-h' },
      el('h2', { id: 'wit-h', text: t('witness.heading') }),
      list.length
        ? el('ul', {}, list.map((c) => el('li', { text: t(c.verified ? (c.pinned ? 'witness.verified' : 'witness.verified_served') : 'witness.unverified', { name: c.name }) })))
        : el('p', { text: t('witness.none') }),
      el('p', { class: 'note', text: t('witness.hint') })
    );
  }

  // ---------- verification status ----------

  function verificationSection() {
    return el(
      'section',
      { class: 'verification', id: 'verification', 'aria-labelledby': 'ver-h' },
      el('h2', { id: 'ver-h', text: t('verify.heading') }),
      el('div', { id: 'ver-status', role: 'status', 'aria-live': 'polite' }, el('p', { text: t('verify.pending') }))
    );
  }

  function showVerified(result, extra) {
    const box = document.getElementById('ver-status');
    box.replaceChildren();
    if (result.ok) {
      setVerification('ok');
      box.append(
        el('p', { class: 'ok' }, el('span', { class: 'mark', 'aria-hidden': 'true', text: '✓ ' }), t('verify.ok.title')),
        el('details', {}, el('summary', { text: t('verify.what') }), el('p', { text: t('verify.ok') }), extra ? el('p', { class: 'note', text: extra }) : null)
      );
    } else {
      showFailed(result.failures);
    }
  }

  // showFailed says what failed; heading is verify.failed, or
  // verify.nothing when the server found nothing to verify (a 404).
  function showFailed(failures, heading) {
    setVerification('failed');
    const box = document.getElementById('ver-status') || main().appendChild(verificationSection()).querySelector('#ver-status');
    box.replaceChildren(
      heading === 'verify.nothing'
        ? el('p', { class: 'big', text: t(heading) })
        : el('p', { class: 'bad' }, el('span', { class: 'mark', 'aria-hidden': 'true', text: '✗ ' }), t('verify.failed')),
      el(
        'ul',
        { class: 'failures' },
        failures.map((f) => el('li', {}, el('strong', { text: t('verify.check.' + f.check) + ': ' }), f.message))
      )
    );
  }

  function fail(check, message, heading) {
    showFailed([{ check: check, message: message }], heading);
  }

  // ---------- entries ----------

  function documentsOf(st, path, out) {
    if (st && typeof st === 'object') {
      if (typeof st.sha256 === 'string' && path) out.push([path, st.sha256]);
      for (const [k, v] of Object.entries(st)) {
        if (k !== 'sha256') documentsOf(v, path ? path + '.' + k : k, out);
      }
    }
    return out;
  }

  function entryDetails(e) {
    const st = e.statement || {};
    const docs = documentsOf(st, '', []);
    const signers = e.signers || [];
    return el(
      'dl',
      { class: 'facts' },
      el('dt', { text: t('common.logged') }),
      el('dd', {}, el('time', { datetime: e.received_at, text: fmtTime(e.received_at) })),
      st.issued_at ? [el('dt', { text: t('common.claimed') }), el('dd', {}, el('time', { datetime: st.issued_at, text: fmtTime(st.issued_at) }))] : null,
      docs.length
        ? [
            el('dt', { text: t('common.documents') }),
            el(
              'dd',
              {},
              el('ul', { class: 'plain' }, docs.map(([p, h]) => el('li', {}, p.replace(/\.sha256$|^sha256$/, '') + ' ', el('code', { class: 'hash', text: h }))))
            ),
          ]
        : null,
      el('dt', { text: t('common.signed_by') }),
      el(
        'dd',
        {},
        signers.length
          ? signers.map((s) =>
              el(
                'div',
                {},
                s.principal
                  ? [el('strong', { class: 'signer', text: s.principal.name }), ' · ' + (has('role.' + s.principal.role) ? t('role.' + s.principal.role) : s.principal.role) + ' · ']
                  : null,
                el('code', { text: short(s.key_id) }),
                s.key_entry
                  ? [' (', el('a', { href: '/v1/entries/' + s.key_entry + '/receipt', text: t('common.key_entry') }), ')']
                  : ' (' + t('common.signed_by_service') + ')'
              )
            )
          : t('common.none')
      ),
      el('dt', { text: t('common.entry') }),
      el('dd', {}, el('code', { text: short(e.id) }), ' · ', el('a', { href: '/v1/entries/' + e.id + '/receipt', text: t('common.receipt') }))
    );
  }

  // withSigners names each entry's signer from its proven principal.key
  // entry, and adds any failure to res.
  async function withSigners(k, res, entries) {
    const signers = [].concat(...entries.map((e) => e.signers || []));
    const keyEntries = signers.filter((s) => s.key_entry).map((s) => s.key_entry);
    const keys = await call('verifyKeys', { log_key: k.key, signers: signers, receipts: await receipts(keyEntries) });
    for (const e of entries) for (const s of e.signers || []) s.principal = keys.principals[s.key_entry];
    if (!keys.ok) {
      res.ok = false;
      res.failures = res.failures.concat(keys.failures);
    }
    return res;
  }

  // ---------- the log page ----------

  async function logPage() {
    const m = main();
    m.replaceChildren(el('h1', { text: t('log.title') }), el('p', { text: t('log.intro') }), verificationSection());
    const frag = fragment();
    const k = await logKey(frag);
    const res = await call('verifyLog', Object.assign({ checkpoint: k.info.checkpoint }, k.keys));
    const cp = res.checkpoint;
    if (cp) {
      m.append(
        el(
          'section',
          { 'aria-labelledby': 'cp-h' },
          el('h2', { id: 'cp-h', text: t('log.checkpoint') }),
          el(
            'dl',
            { class: 'facts' },
            el('dt', { text: t('log.origin') }),
            el('dd', { text: cp.origin }),
            el('dt', { text: t('log.size') }),
            el('dd', { id: 'tree-size', text: String(cp.size) }),
            el('dt', { text: t('log.root') }),
            el('dd', {}, el('code', { class: 'hash', text: cp.root_hash }))
          ),
          el('details', {}, el('summary', { text: t('log.raw') }), el('pre', { text: k.info.checkpoint }))
        ),
        witnessSection(cp)
      );
    }
    m.append(await keySection(k));
    showVerified(res, cp ? t('verify.checks', { size: cp.size, count: 0 }) : '');
  }

  // ---------- the trial page ----------

  function typeTitle(e) {
    const st = e.statement || {};
    const key = 'trial.type.' + e.type;
    if (!has(key)) return t('trial.type.unknown', { type: e.type || '?' });
    const vars = Object.assign({}, st);
    if (st.event) vars.event = has('trial.event.' + st.event) ? t('trial.event.' + st.event) : st.event;
    return t(key, vars);
  }

  async function trialPage() {
    const m = main();
    const id = decodeURIComponent(location.pathname.replace(/^\/trials\//, ''));
    const h1 = el('h1', { text: t('trial.title', { trial: id }) });
    m.replaceChildren(h1, verificationSection());
    const frag = fragment();
    const k = await logKey(frag);
    let outcomes, timeline;
    try {
      // The report first: the timeline is then proven against the same
      // checkpoint or a newer one, and the verifier recomputes the report
      // from the entries the report's checkpoint includes.
      outcomes = await request('/v1/trials/' + encodeURIComponent(id) + '/outcomes');
      timeline = await request('/v1/trials/' + encodeURIComponent(id));
    } catch (e) {
      if (e.status === 404) m.append(el('p', { class: 'big', id: 'not-found', text: t('trial.not_found', { trial: id }) }));
      m.append(await keySection(k));
      return fail('load', e.message, e.status === 404 ? 'verify.nothing' : undefined);
    }
    const tl = JSON.parse(timeline);
    const recs = await receipts((tl.entries || []).map((e) => e.id));
    const oc = JSON.parse(outcomes);
    const proof = await consistency(oc.checkpoint, tl.checkpoint);
    let res = await call('verifyTrial', Object.assign({ timeline: tl, outcomes: oc, receipts: recs, consistency: proof }, k.keys));
    if (res.ok) res = await withSigners(k, res, res.entries);
    if (res.trial_id) h1.textContent = t('trial.title', { trial: res.trial_id });
    const others = (res.identifiers || []).filter((x) => x !== res.trial_id);
    if (others.length) h1.after(el('p', { text: t('trial.identifiers', { ids: others.join(', ') }) }));
    // Nothing of a trial that failed a check is shown, not even the
    // entries that passed theirs.
    if (res.ok && res.report) m.append(reportSections(res.report, res.entries));
    if (res.ok && res.entries.length) m.append(timelineSection(res.entries));
    if (res.checkpoint) m.append(witnessSection(res.checkpoint));
    m.append(await keySection(k));
    showVerified(res, res.checkpoint ? t('verify.checks', { size: res.checkpoint.size, count: res.entries.length }) : '');
  }

  function statusText(st) {
    const key = 'trial.status.' + st;
    if (has(key)) return [t(key), t(key + '.text')];
    return [t('trial.status.unknown', { status: st }), t('trial.status.unknown.text')];
  }

  function reportSections(rep, entries) {
    const frag = document.createDocumentFragment();
    const outcomes = rep.outcomes || [];
    const differ = outcomes.filter((o) => o.status !== 'unchanged');
    const sum = rep.summary && typeof rep.summary === 'object' ? rep.summary : null;
    let verdict;
    let switched = differ.length > 0;
    if (!rep.compared) verdict = t('trial.switch.no_results');
    else if (sum && typeof sum.prespecified === 'number') {
      // COMPare's counting: a change the results declare is reported
      // correctly; the verdict is about the undeclared ones.
      switched = sum.switched + sum.not_reported + sum.added > 0;
      verdict = switched ? t('trial.switch.summary', sum) : t('trial.switch.none');
    } else if (!differ.length) verdict = t('trial.switch.none');
    else verdict = t('trial.switch.some', { count: differ.length, total: outcomes.length });
    frag.append(
      el(
        'section',
        { class: 'verdict', 'aria-labelledby': 'sw-h' },
        el('h2', { id: 'sw-h', text: t('trial.switch.heading') }),
        el('p', { class: 'big', id: 'switch-verdict', 'data-switched': rep.compared ? String(switched) : 'unknown', text: verdict }),
        el('p', { class: 'note', text: t('trial.switch.recomputed') }),
        rep.baseline ? el('p', { class: 'note', text: t('trial.baseline', { entry: short(rep.baseline), reason: rep.baseline_reason || '' }) }) : null,
        rep.compared ? el('p', { class: 'note', text: t('trial.compared', { entry: short(rep.compared) }) }) : null
      )
    );
    if (sum && rep.compared) frag.append(summarySection(sum));
    frag.append(
      el(
        'section',
        { 'aria-labelledby': 'oc-h' },
        el('h2', { id: 'oc-h', text: t('trial.outcomes.heading') }),
        outcomes.length
          ? el(
              'ul',
              { class: 'cards', id: 'outcomes' },
              outcomes.map((o) => {
                const [title, text] = statusText(o.status);
                return el(
                  'li',
                  { class: 'card status-' + (o.status === 'unchanged' ? 'ok' : 'changed'), 'data-status': o.status },
                  el('h3', {}, el('span', { class: 'badge', text: title }), ' ', o.measure || o.id),
                  el('p', { class: 'note', text: [o.id, has('trial.outcome.kind.' + o.kind) ? t('trial.outcome.kind.' + o.kind) : o.kind].filter(Boolean).join(' · ') }),
                  el('p', { text: text }),
                  o.declared ? el('p', { class: 'note', text: t('trial.outcome.declared', { where: o.declared }) }) : null,
                  outcomeLine('trial.outcome.planned', o.baseline),
                  outcomeLine('trial.outcome.reported', o.reported),
                  o.changes && o.changes.length
                    ? el('p', { class: 'note', text: t('trial.outcome.changes', { changes: o.changes.map((c) => (has('trial.change.' + c) ? t('trial.change.' + c) : c)).join(', ') }) })
                    : null,
                  o.evidence && o.evidence.length ? el('p', { class: 'note', text: t('trial.outcome.evidence', { ids: o.evidence.map(short).join(', ') }) }) : null
                );
              })
            )
          : el('p', { text: t('trial.outcomes.none') })
      )
    );
    const flags = rep.flags || [];
    frag.append(
      el(
        'section',
        { 'aria-labelledby': 'fl-h' },
        el('h2', { id: 'fl-h', text: t('trial.flags.heading') }),
        flags.length
          ? el(
              'ul',
              { class: 'cards', id: 'flags' },
              flags.map((f) =>
                el(
                  'li',
                  { class: 'card flag', 'data-code': f.code },
                  el('h3', { text: has('trial.flag.' + f.code) ? t('trial.flag.' + f.code) : t('trial.flag.unknown', { code: f.code }) }),
                  el('p', { text: f.message }),
                  f.evidence && f.evidence.length ? el('p', { class: 'note', text: t('trial.outcome.evidence', { ids: f.evidence.map(short).join(', ') }) }) : null
                )
              )
            )
          : el('p', { text: t('trial.flags.none') })
      )
    );
    return frag;
  }

  // outcomeLine is one version of an outcome: measure, time frame, kind.
  function outcomeLine(key, oc) {
    if (!oc) return null;
    const kind = has('trial.outcome.kind.' + oc.kind) ? t('trial.outcome.kind.' + oc.kind) : oc.kind;
    return el('p', { class: 'note', text: t(key, { measure: oc.measure, time_frame: oc.time_frame, kind: kind }) });
  }

  // summarySection is the report's counts, as COMPare publishes them: rows
  // of counts, columns for all, primary and secondary outcomes; counts the
  // page has no words for are shown by their field name.
  function summarySection(sum) {
    const cols = [['all', sum], ['primary', sum.primary], ['secondary', sum.secondary]].filter(([, c]) => c && typeof c === 'object');
    const rows = Object.keys(sum).filter((k) => typeof sum[k] === 'number');
    const declared = sum.declared && typeof sum.declared === 'object' ? Object.entries(sum.declared).filter(([, v]) => typeof v === 'number' && v > 0) : [];
    return el(
      'section',
      { 'aria-labelledby': 'sum-h' },
      el('h2', { id: 'sum-h', text: t('trial.summary.heading') }),
      // Scrolls by itself on narrow screens, reachable by keyboard.
      el(
        'div',
        { class: 'scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'sum-h' },
        el(
        'table',
        { id: 'summary' },
        el('thead', {}, el('tr', {}, el('td', {}), cols.map(([c]) => el('th', { scope: 'col', text: t('trial.summary.col.' + c) })))),
        el(
          'tbody',
          {},
          rows.map((k) =>
            el('tr', {}, el('th', { scope: 'row', text: has('trial.summary.' + k) ? t('trial.summary.' + k) : k }), cols.map(([, c]) => el('td', { text: typeof c[k] === 'number' ? String(c[k]) : '' })))
          )
        )
        )
      ),
      declared.length
        ? el('p', { class: 'note', text: t('trial.summary.declared', { list: declared.map(([k, v]) => (has('trial.summary.' + k) ? t('trial.summary.' + k) : k) + ': ' + v).join('; ') }) })
        : null
    );
  }

  function timelineSection(entries) {
    return el(
      'section',
      { 'aria-labelledby': 'tl-h' },
      el('h2', { id: 'tl-h', text: t('trial.timeline.heading') }),
      el('p', { class: 'note', text: t('trial.timeline.intro') }),
      el(
        'ol',
        { class: 'timeline', id: 'timeline' },
        entries.map((e) => {
          const st = e.statement || {};
          return el(
            'li',
            { 'data-type': e.type, id: 'e-' + e.id },
            el('h3', { text: typeTitle(e) }),
            st.at ? el('p', { text: t('trial.milestone_at', { at: fmtTime(st.at) }) }) : null,
            st.reason ? el('p', { text: t('trial.reason', { reason: st.reason }) }) : null,
            st.previous ? el('p', { class: 'note', text: t('trial.previous', { id: short(st.previous) }) }) : null,
            st.doi ? el('p', { text: t('trial.doi', { doi: st.doi }) }) : null,
            entryDetails(e)
          );
        })
      )
    );
  }

  // ---------- the patient page ----------

  // normaliseSecret turns the secret as printed (base64url) or as the API
  // gave it (standard base64) into standard base64 with padding, or '' when
  // it is not 32 bytes.
  function normaliseSecret(s) {
    let b = (s || '').replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    if (!/^[A-Za-z0-9+/]{43}$/.test(b)) return '';
    b += '=';
    try {
      return atob(b).length === 32 ? b : '';
    } catch (e) {
      return '';
    }
  }

  function purposeText(p) {
    return has('purpose.' + p) ? t('purpose.' + p) : t('purpose.unknown', { purpose: p });
  }

  async function patientPage() {
    const frag = fragment();
    const secret = normaliseSecret(first(frag, 'secret'));
    const trial = first(frag, 'trial');
    if (!secret || !trial) return secretForm(first(frag, 'trial'));
    return showConsent(secret, trial, frag);
  }

  function secretForm(trial) {
    const m = main();
    setVerification('pending');
    const secretIn = el('input', {
      id: 'secret',
      type: 'text',
      autocomplete: 'off',
      autocapitalize: 'off',
      spellcheck: 'false',
      inputmode: 'text',
      'aria-describedby': 'secret-hint secret-err',
      required: true,
    });
    const trialIn = el('input', { id: 'trial', type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', 'aria-describedby': 'trial-hint trial-err', required: true, value: trial || '' });
    const secretErr = el('p', { id: 'secret-err', class: 'error' });
    const trialErr = el('p', { id: 'trial-err', class: 'error' });
    // No name attributes and form-action 'none': the form can never be
    // submitted to a server, not even if this script failed.
    const form = el(
      'form',
      { id: 'secret-form', novalidate: true },
      el('div', { class: 'field' }, el('label', { for: 'secret', text: t('patient.form.secret') }), el('p', { id: 'secret-hint', class: 'hint', text: t('patient.form.secret_hint') }), secretIn, secretErr),
      el('div', { class: 'field' }, el('label', { for: 'trial', text: t('patient.form.trial') }), el('p', { id: 'trial-hint', class: 'hint', text: t('patient.form.trial_hint') }), trialIn, trialErr),
      el('button', { type: 'submit', text: t('patient.form.submit') })
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const s = normaliseSecret(secretIn.value);
      const tr = trialIn.value.trim();
      secretErr.textContent = s ? '' : t('patient.form.error.secret');
      trialErr.textContent = tr ? '' : t('patient.form.error.trial');
      secretIn.setAttribute('aria-invalid', String(!s));
      trialIn.setAttribute('aria-invalid', String(!tr));
      if (!s) return secretIn.focus();
      if (!tr) return trialIn.focus();
      secretIn.value = '';
      showConsent(s, tr, fragment()).catch(crash);
    });
    m.replaceChildren(el('h1', { text: t('patient.title') }), el('p', { text: t('patient.form.intro') }), form);
  }

  async function showConsent(secret, trial, frag) {
    const m = main();
    setVerification('pending');
    const h1 = el('h1', { tabindex: '-1', text: t('patient.title_trial', { trial: trial }) });
    m.replaceChildren(h1, verificationSection());
    const k = await logKey(frag);
    let status;
    try {
      // POLICY: the one request that carries the secret, in its body.
      status = await request('/v1/consent/status', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ subject_secret: secret, trial_id: trial }),
      });
    } catch (e) {
      if (e.status === 404) m.append(el('p', { class: 'big', id: 'not-found', text: t('patient.not_found', { trial: trial }) }));
      m.append(await keySection(k));
      return fail('load', e.message, e.status === 404 ? 'verify.nothing' : undefined);
    }
    secret = null;
    const s = JSON.parse(status);
    const ids = (s.evidence || []).map((e) => e.id).concat((s.access || []).map((e) => e.id));
    const recs = await receipts(ids);
    // The trial's timeline, public, proves whether re-consent is needed.
    const timeline = JSON.parse(await request('/v1/trials/' + encodeURIComponent(s.trial_id || trial)));
    const proof = await consistency(s.checkpoint, timeline.checkpoint);
    let res = await call('verifyConsent', Object.assign({ status: s, receipts: recs, timeline: timeline, consistency: proof, now: new Date().toISOString() }, k.keys));
    if (res.ok) res = await withSigners(k, res, res.evidence.concat(res.access));
    if (res.ok) {
      h1.textContent = t('patient.title_trial', { trial: res.trial_id || trial });
      m.append(consentSections(res));
    }
    m.append(el('p', { class: 'note', text: t('patient.privacy') }), rightsSection(), await keySection(k));
    showVerified(res, res.checkpoint ? t('verify.checks', { size: res.checkpoint.size, count: ids.length }) : '');
    h1.focus();
  }

  function consentSections(res) {
    const frag = document.createDocumentFragment();
    const grant = (res.evidence || []).find((e) => e.type === 'consent.grant');
    const period = grant && grant.statement && grant.statement.period;
    let periodText = null;
    if (period && period.start && period.end) periodText = t('patient.period', { start: fmtTime(period.start), end: fmtTime(period.end) });
    else if (period && period.start) periodText = t('patient.period_from', { start: fmtTime(period.start) });
    else if (period && period.end) periodText = t('patient.period_until', { end: fmtTime(period.end) });
    frag.append(
      el(
        'section',
        { class: 'verdict', 'aria-labelledby': 'st-h' },
        el('h2', { id: 'st-h', text: t('patient.status.heading') }),
        el('p', { class: 'big', id: 'consent-status', 'data-status': res.status, text: t('patient.status.' + res.status) }),
        res.form_version ? el('p', { id: 'form-version', text: t('patient.form_version', { version: res.form_version }) }) : null,
        res.status === 'granted'
          ? el('p', { id: 'reconsent', class: res.reconsent_required ? 'warn' : '', 'data-reconsent': String(!!res.reconsent_required), text: t(res.reconsent_required ? 'patient.reconsent.yes' : 'patient.reconsent.no', { current: res.current_form_version }) })
          : null,
        periodText ? el('p', { text: periodText }) : null
      )
    );
    const scope = res.scope || [];
    frag.append(
      el(
        'section',
        { 'aria-labelledby': 'pu-h' },
        el('h2', { id: 'pu-h', text: t('patient.purposes.heading') }),
        scope.length
          ? el(
              'ul',
              { class: 'cards', id: 'purposes' },
              scope.map((p) =>
                el(
                  'li',
                  { class: 'card decision-' + p.decision, 'data-purpose': p.purpose, 'data-decision': p.decision },
                  el('span', { class: 'badge', text: (p.decision === 'permit' ? '✓ ' : '✗ ') + t('patient.decision.' + p.decision) }),
                  ' ',
                  el('span', { text: purposeText(p.purpose) })
                )
              )
            )
          : el('p', { text: t('patient.purposes.none') })
      )
    );
    const uses = (res.access || []).slice().reverse();
    frag.append(
      el(
        'section',
        { 'aria-labelledby': 'us-h' },
        el('h2', { id: 'us-h', text: t('patient.uses.heading') }),
        uses.length
          ? el(
              'ol',
              { class: 'timeline', id: 'uses', reversed: true },
              uses.map((e) => {
                const st = e.statement || {};
                return el(
                  'li',
                  { 'data-decision': st.decision },
                  el('h3', {}, el('time', { datetime: e.received_at, text: fmtTime(e.received_at) })),
                  el('p', { text: t(st.decision === 'permit' ? 'patient.uses.permit' : 'patient.uses.deny', { who: t('patient.uses.who', { id: st.accessor }), purpose: purposeText(st.purpose) }) }),
                  el('details', {}, el('summary', { text: t('common.entry') }), entryDetails(e))
                );
              })
            )
          : el('p', { id: 'uses-none', text: t('patient.uses.none') })
      )
    );
    frag.append(
      el(
        'section',
        { 'aria-labelledby': 'hi-h' },
        el('h2', { id: 'hi-h', text: t('patient.history.heading') }),
        el(
          'ol',
          { class: 'timeline', id: 'history' },
          (res.evidence || []).map((e) => {
            const st = e.statement || {};
            let text;
            if (e.type === 'consent.grant') text = t('patient.history.grant', { version: (st.form || {}).version });
            else if (st.purposes && st.purposes.length) text = t('patient.history.withdraw_some', { purposes: st.purposes.map(purposeText).join('; ') });
            else text = t('patient.history.withdraw_all');
            return el('li', {}, el('h3', {}, el('time', { datetime: e.received_at, text: fmtTime(e.received_at) })), el('p', { text: text }), el('details', {}, el('summary', { text: t('common.entry') }), entryDetails(e)));
          })
        )
      )
    );
    return frag;
  }

  function rightsSection() {
    return el(
      'section',
      { class: 'rights', 'aria-labelledby': 'ri-h' },
      el('h2', { id: 'ri-h', text: t('patient.rights.heading') }),
      el('h3', { text: t('patient.rights.withdraw.title') }),
      el('p', { text: t('patient.rights.withdraw.text') }),
      el('h3', { text: t('patient.rights.erase.title') }),
      el('p', { text: t('patient.rights.erase.text') }),
      el('p', { text: t('patient.rights.contact') })
    );
  }

  // ---------- start ----------

  function crash(e) {
    fail('load', e && e.message ? e.message : String(e));
  }

  async function start() {
    await loadMessages();
    document.querySelector('nav').setAttribute('aria-label', t('nav.label'));
    const page = document.body.dataset.page;
    try {
      await verifier();
    } catch (e) {
      main().replaceChildren(verificationSection());
      return fail('load', t('common.error.verifier', { detail: e.message }));
    }
    if (page === 'patient') await patientPage();
    else if (page === 'trial') await trialPage();
    else await logPage();
  }

  window.addEventListener('hashchange', () => location.reload());
  start().catch(crash);
})();
