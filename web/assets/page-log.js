// The log's page (/log): the checkpoint the log serves, verified, with its
// witnesses and key.
'use strict';

(() => {
  const pages = globalThis.trialogPages;
  const { t, el, main, fragment, call, logKey, keySection, witnessSection, verificationSection, showVerified } = pages;

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

  Object.assign(pages, { logPage });
})();
