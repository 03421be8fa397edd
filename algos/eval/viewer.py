"""The trajectory viewer of ``report.html``: plain JavaScript, no library, inline in the page.

It reads the episodes and images from JSON script elements and builds every element with
``textContent``, never ``innerHTML``: the episodes hold model output, which is hostile.
Image sources are taken only when they are data URLs or the run's own ``images/*.png`` paths.
"""

VIEWER_JS = r"""
(function(){
'use strict';
const EPS = JSON.parse(document.getElementById('episodes-data').textContent);
const IMGS = JSON.parse(document.getElementById('images-data').textContent);
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids){
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
function fmt(x){ return (typeof x === 'number') ? (Math.round(x * 1000) / 1000).toString() : String(x); }
const envSel = $('f-env'), outSel = $('f-outcome'), tagSel = $('f-tag'), text = $('f-text');
for (const env of [...new Set(EPS.map(e => e.env))]) envSel.append(el('option', {value: env, text: env}));
const tagOpts = new Set();
for (const e of EPS) for (const [f, vs] of Object.entries(e.tags)) for (const v of vs) tagOpts.add(f + '=' + v);
for (const t of [...tagOpts].sort()) tagSel.append(el('option', {value: t, text: t}));
function keep(e){
  if (envSel.value && e.env !== envSel.value) return false;
  const o = outSel.value;
  if (o === 'success' && !e.success) return false;
  if (o === 'failure' && e.success) return false;
  if (o === 'fatal' && !e.fatal) return false;
  if (o === 'errors' && !e.turns.some(t => t.step_error)) return false;
  if (tagSel.value) { const i = tagSel.value.indexOf('='); const f = tagSel.value.slice(0, i), v = tagSel.value.slice(i + 1);
    if (!(e.tags[f] || []).includes(v)) return false; }
  const q = text.value.trim().toLowerCase();
  if (q && !(e.task_id + ' ' + (e.answer || '') + ' ' + e.messages.map(m => m.content).join(' ')).toLowerCase().includes(q)) return false;
  return true;
}
let selected = null;
function renderList(){
  const rows = EPS.filter(keep);
  $('f-count').textContent = rows.length + ' of ' + EPS.length;
  const body = el('tbody');
  for (const e of rows) {
    const tr = el('tr', {'data-key': e.key, class: e.key === selected ? 'sel' : ''},
      el('td', {text: e.env + ' · ' + e.seed + (e.sample ? ' #' + e.sample : '')}),
      el('td', {}, el('span', {class: 'badge ' + (e.success ? 'ok' : (e.fatal ? 'bad' : 'warn')),
                                text: e.success ? 'success' : (e.fatal ? 'fatal' : 'failed')})),
      el('td', {text: fmt(e.reward)}), el('td', {text: String(e.turns.length)}));
    tr.addEventListener('click', () => show(e.key));
    body.append(tr);
  }
  const t = el('table', {}, el('thead', {}, el('tr', {}, el('th', {text: 'episode'}), el('th', {text: 'outcome'}),
    el('th', {text: 'reward'}), el('th', {text: 'turns'}))), body);
  $('ep-list').replaceChildren(t);
}
function image(name){
  const src = IMGS[name];
  if (!src || !(src.startsWith('data:image/') || /^images\/[A-Za-z0-9_.\/-]+\.png$/.test(src))) return null;
  const img = el('img', {src: src, alt: name.split('/').pop(), loading: 'eager'});
  img.addEventListener('click', () => img.classList.toggle('zoom'));
  return el('figure', {}, img, el('figcaption', {text: name.split('/').pop()}));
}
function kv(pairs){
  const box = el('div', {class: 'kv'});
  for (const [k, v] of pairs) box.append(el('div', {text: k}), el('div', {text: typeof v === 'string' ? v : JSON.stringify(v)}));
  return box;
}
function show(key){
  const e = EPS.find(x => x.key === key);
  if (!e) return;
  selected = key;
  for (const tr of document.querySelectorAll('#ep-list tr[data-key]')) tr.classList.toggle('sel', tr.dataset.key === key);
  if (location.hash !== '#ep=' + encodeURIComponent(key)) history.replaceState(null, '', '#ep=' + encodeURIComponent(key));
  const d = $('ep-detail');
  const head = el('div', {}, el('h3', {text: e.task_id + '  (' + e.key + ')'}),
    kv([['outcome', (e.success ? 'success' : 'failure') + (e.fatal ? ', fatal at turn ' + e.fatal_turn : '')],
        ['ended by', e.termination || ''], ['answer', e.answer == null ? '(none)' : e.answer],
        ['gold', e.gold == null ? '' : e.gold], ['reward', fmt(e.reward)], ['components', e.components],
        ...Object.entries(e.tags).map(([k, v]) => ['tag ' + k, v.join(', ')]),
        ...(Object.keys(e.usage).length ? [['tokens', e.usage]] : [])]));
  const chat = el('div', {class: 'chat'});
  let turn = 0;
  for (const m of e.messages) {
    const t = m.role === 'assistant' ? e.turns[turn++] : null;
    const label = m.role + (t ? ' · turn ' + t.turn + (t.tool ? ' · ' + t.tool : (t.kind ? ' · ' + t.kind : '')) : '');
    const box = el('div', {class: 'msg ' + m.role + (t && t.step_error ? ' err' : '')}, el('div', {class: 'role', text: label}));
    if (t && t.step_error) box.append(el('span', {class: 'badge bad', text: t.step_error}));
    if (m.role === 'system') box.append(el('details', {}, el('summary', {text: 'system prompt'}), el('pre', {text: m.content})));
    else box.append(el('pre', {text: m.content}));
    const figs = m.images.map(image).filter(Boolean);
    if (figs.length) box.append(el('div', {class: 'imgs'}, ...figs));
    chat.append(box);
  }
  const evaluation = el('details', {}, el('summary', {text: "judge's details"}), el('pre', {text: JSON.stringify(e.evaluation, null, 2)}));
  d.replaceChildren(head, evaluation, chat);
}
for (const c of [envSel, outSel, tagSel]) c.addEventListener('change', renderList);
text.addEventListener('input', renderList);
renderList();
const m = /^#ep=(.+)$/.exec(location.hash);
if (m) show(decodeURIComponent(m[1])); else if (EPS.length) show(EPS[0].key);
})();
"""
