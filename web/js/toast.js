// The page's one toast: a short message that hides itself (or on a click).

import { $ } from './dom.js';

let timer = null;

export function toast(message) {
  const el = $('#toast');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => (el.hidden = true), 7000);
}

$('#toast').addEventListener('click', () => ($('#toast').hidden = true));
