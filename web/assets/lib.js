// The pages' shared helpers: texts from the catalogue, building the DOM,
// reading the fragment, and requests to the API.
//
// The pages' scripts are classic scripts that page.html runs in order:
// lib.js, verify.js, the page-*.js scripts, then app.js. Each keeps its
// code in its own scope and shares what the later ones use on one object,
// globalThis.trialogPages, which this script creates.
'use strict';

(() => {
  const pages = (globalThis.trialogPages = {});
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

  Object.assign(pages, { t, has, loadMessages, fmtTime, el, main, setVerification, short, fragment, first, request, getJSON, consistency, receipts });
})();
