// Rendering of a question: list entries (home) and the statement panel (session).

import { h, clear } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { formatArgs, formatLiteral } from './format.js';

export function difficultyBadge(difficulty) {
  const d = String(difficulty ?? '').toLowerCase();
  const known = ['easy', 'medium', 'hard'].includes(d) ? d : 'other';
  return h('span', { class: `badge difficulty difficulty-${known}` }, difficulty ?? '—');
}

export function tagList(tags) {
  return h('span', { class: 'tags' }, (tags || []).map((t) => h('span', { class: 'tag' }, t)));
}

/** Fill the statement panel from a full question object. */
export function renderStatement(container, q) {
  const parts = [
    h('h2', { class: 'q-title' }, q.title || 'Untitled question'),
    h('div', { class: 'q-meta' }, difficultyBadge(q.difficulty), q.language ? h('span', { class: 'badge lang' }, q.language) : null, tagList(q.tags)),
    h('div', { class: 'markdown q-statement' }, renderMarkdown(q.statement || '')),
  ];
  if (q.signature) {
    parts.push(h('h3', { class: 'section-title' }, 'Signature'), h('pre', { class: 'signature' }, h('code', {}, q.signature)));
  }
  if (q.visible && q.visible.length) {
    parts.push(
      h('h3', { class: 'section-title' }, 'Examples'),
      h(
        'ul',
        { class: 'examples' },
        q.visible.map((c) =>
          h(
            'li',
            {},
            h('span', { class: 'example-name' }, c.name),
            h('code', {}, `(${formatArgs(c.args, q.language)}) → ${formatLiteral(c.expected, q.language)}`),
          ),
        ),
      ),
    );
  }
  if (q.lesson && (q.lesson.title || q.lesson.body)) {
    parts.push(
      h(
        'details',
        { class: 'lesson' },
        h('summary', {}, `Lesson: ${q.lesson.title || 'background'}`),
        h('div', { class: 'markdown' }, renderMarkdown(q.lesson.body || '')),
      ),
    );
  }
  clear(container).append(...parts);
  container.scrollTop = 0;
}
