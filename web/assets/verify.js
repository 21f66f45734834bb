// The verifier compiled from trialog's Go code (verifier.wasm), and what
// every page shows of its work: the log key it trusted, the witnesses,
// the verification status, and the entries with their proven signers.
'use strict';

(() => {
  const pages = globalThis.trialogPages;
  const { t, has, fmtTime, el, main, setVerification, short, fragment, first, getJSON, receipts } = pages;

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

  // crash shows an error no check expected as a failed load.
  function crash(e) {
    fail('load', e && e.message ? e.message : String(e));
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

  Object.assign(pages, { verifier, call, logKey, keySection, witnessSection, verificationSection, showVerified, fail, crash, entryDetails, withSigners });
})();
