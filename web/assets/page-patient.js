// The patient's page (/patient): the consent a secret proves, what it
// allows, every use of the data, and the patient's rights. The secret comes
// from the fragment (#secret=…&trial=…) or the form, and leaves the page
// only in the body of POST /v1/consent/status.
'use strict';

(() => {
  const pages = globalThis.trialogPages;
  const { t, has, fmtTime, el, main, setVerification, fragment, first, request, consistency, receipts } = pages;
  const { call, logKey, keySection, verificationSection, showVerified, fail, crash, entryDetails, withSigners } = pages;

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

  Object.assign(pages, { patientPage });
})();
