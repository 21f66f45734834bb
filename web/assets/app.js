// trialog's pages. They show nothing the browser has not verified: every
// answer of the server goes through the verifier compiled from trialog's Go
// code (verifier.wasm), and the page renders what the verifier returns,
// read from the proven leaves. All texts come from messages.json.
//
// The patient's secret lives in the page's fragment (#secret=…), which
// browsers never send to a server, or in the form. It leaves the page only
// in the body of POST /v1/consent/status. It is never put in a URL, a
// header, storage or the browser's console log.
//
// This script starts the page that data-page names; lib.js, verify.js and
// the page-*.js scripts, which page.html runs before it, hold the rest.
'use strict';

(() => {
  const { t, loadMessages, main, verifier, verificationSection, fail, crash, patientPage, trialPage, logPage } = globalThis.trialogPages;

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
