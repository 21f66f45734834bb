// A trial's page (/trials/{trial_id}): whether its outcomes were switched,
// recomputed by the verifier from the proven entries, and its timeline.
'use strict';

(() => {
  const pages = globalThis.trialogPages;
  const { t, has, fmtTime, el, main, short, fragment, request, consistency, receipts } = pages;
  const { call, logKey, keySection, witnessSection, verificationSection, showVerified, fail, entryDetails, withSigners } = pages;

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

  Object.assign(pages, { trialPage });
})();
