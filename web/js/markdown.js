// Minimal, safe Markdown for question statements and lessons.
//
// Supported: ``` fences, `inline code`, **bold**, paragraphs, "-"/"*"/"1."
// lists and "#" headings. Nothing else (no links, no images, no raw HTML):
// statements come from the server and must never be able to inject markup.
//
// Safety model: the source is parsed into a tiny tree whose leaves are plain
// strings. The browser renderer turns leaves into Text nodes (which cannot be
// interpreted as HTML), and the string renderer escapes every leaf before it
// is concatenated. Either way HTML in the source is shown literally.

/** Escape text for inclusion in HTML (element content or quoted attribute). */
export function escapeHtml(text) {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const FENCE = /^\s*```\s*([\w+#.-]*)\s*$/;
const BULLET = /^\s*[-*]\s+(.*)$/;
const ORDERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
const HEADING = /^\s*(#{1,6})\s+(.*?)\s*#*\s*$/;

/**
 * Split one line (or paragraph) of text into inline tokens:
 * {type:'text'|'code'|'strong', text}. Unmatched markers stay literal.
 */
export function parseInline(src) {
  const out = [];
  let buf = '';
  const flush = () => {
    if (buf) out.push({ type: 'text', text: buf });
    buf = '';
  };
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (ch === '`') {
      // Support `code` and ``code with ` inside`` (run-length matched).
      let n = 1;
      while (src[i + n] === '`') n++;
      const ticks = '`'.repeat(n);
      const end = src.indexOf(ticks, i + n);
      if (end !== -1) {
        flush();
        let code = src.slice(i + n, end);
        if (n > 1) code = code.trim();
        out.push({ type: 'code', text: code });
        i = end + n;
        continue;
      }
      buf += ticks;
      i += n;
      continue;
    }
    if (ch === '*' && src[i + 1] === '*') {
      const end = src.indexOf('**', i + 2);
      if (end > i + 2) {
        flush();
        out.push({ type: 'strong', text: src.slice(i + 2, end) });
        i = end + 2;
        continue;
      }
    }
    buf += ch;
    i++;
  }
  flush();
  return out;
}

/**
 * Parse Markdown into blocks:
 *   {type:'pre', lang, text} | {type:'p', inline} | {type:'h', level, inline}
 *   | {type:'ul'|'ol', items: inline[]}
 */
export function parseMarkdown(src) {
  const lines = String(src ?? '').replace(/\r\n?/g, '\n').split('\n');
  const blocks = [];
  let para = null; // lines of the paragraph being collected
  let list = null; // current list block

  const endPara = () => {
    if (para) blocks.push({ type: 'p', inline: parseInline(para.join('\n')) });
    para = null;
  };
  const endList = () => {
    if (list) blocks.push(list);
    list = null;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      endPara();
      endList();
      const body = [];
      i++;
      while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) body.push(lines[i++]);
      // An unclosed fence runs to the end of the text.
      blocks.push({ type: 'pre', lang: fence[1] || '', text: body.join('\n') });
      continue;
    }
    if (/^\s*$/.test(line)) {
      endPara();
      endList();
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      endPara();
      endList();
      blocks.push({ type: 'h', level: heading[1].length, inline: parseInline(heading[2]) });
      continue;
    }
    const bullet = BULLET.exec(line);
    const ordered = bullet ? null : ORDERED.exec(line);
    if (bullet || ordered) {
      endPara();
      const type = bullet ? 'ul' : 'ol';
      if (!list || list.type !== type) {
        endList();
        list = { type, items: [] };
      }
      list.items.push((bullet || ordered)[1]);
      continue;
    }
    if (list && /^\s{2,}\S/.test(line)) {
      // Indented continuation of the previous list item.
      list.items[list.items.length - 1] += '\n' + line.trim();
      continue;
    }
    endList();
    (para ||= []).push(line);
  }
  endPara();
  endList();
  for (const b of blocks) {
    if (b.type === 'ul' || b.type === 'ol') b.items = b.items.map(parseInline);
  }
  return blocks;
}

// Page headings are h1/h2; statement headings start at h3 so the outline stays sane.
const headingTag = (level) => 'h' + Math.min(6, level + 2);

function inlineToHtml(tokens) {
  return tokens
    .map((t) => {
      const text = escapeHtml(t.text);
      if (t.type === 'code') return `<code>${text}</code>`;
      if (t.type === 'strong') return `<strong>${text}</strong>`;
      return text;
    })
    .join('');
}

/** Render to an HTML string (every leaf escaped). Used by tests and tooling. */
export function markdownToHtml(src) {
  return parseMarkdown(src)
    .map((b) => {
      switch (b.type) {
        case 'pre': {
          const cls = b.lang ? ` class="language-${escapeHtml(b.lang)}"` : '';
          return `<pre><code${cls}>${escapeHtml(b.text)}</code></pre>`;
        }
        case 'h':
          return `<${headingTag(b.level)}>${inlineToHtml(b.inline)}</${headingTag(b.level)}>`;
        case 'ul':
        case 'ol':
          return `<${b.type}>${b.items.map((it) => `<li>${inlineToHtml(it)}</li>`).join('')}</${b.type}>`;
        default:
          return `<p>${inlineToHtml(b.inline)}</p>`;
      }
    })
    .join('\n');
}

function appendInline(doc, parent, tokens) {
  for (const t of tokens) {
    if (t.type === 'text') {
      parent.append(doc.createTextNode(t.text));
    } else {
      const el = doc.createElement(t.type === 'code' ? 'code' : 'strong');
      el.textContent = t.text;
      parent.append(el);
    }
  }
}

/** Render to a DocumentFragment built only from elements and Text nodes. */
export function renderMarkdown(src, doc = globalThis.document) {
  const frag = doc.createDocumentFragment();
  for (const b of parseMarkdown(src)) {
    let el;
    switch (b.type) {
      case 'pre': {
        el = doc.createElement('pre');
        const code = doc.createElement('code');
        if (b.lang) code.className = 'language-' + b.lang.replace(/[^\w+#.-]/g, '');
        code.textContent = b.text;
        el.append(code);
        break;
      }
      case 'h':
        el = doc.createElement(headingTag(b.level));
        appendInline(doc, el, b.inline);
        break;
      case 'ul':
      case 'ol':
        el = doc.createElement(b.type);
        for (const item of b.items) {
          const li = doc.createElement('li');
          appendInline(doc, li, item);
          el.append(li);
        }
        break;
      default:
        el = doc.createElement('p');
        appendInline(doc, el, b.inline);
    }
    frag.append(el);
  }
  return frag;
}
