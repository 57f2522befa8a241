// Tiny DOM helpers. Everything the app shows is built with these, so server
// text always ends up in Text nodes or attribute values, never parsed as HTML.

/**
 * Create an element.
 *   h('button', {class: 'primary', type: 'button', onclick: fn}, 'Run')
 * props: class, text (textContent), dataset {..}, on<event> handlers, any
 * other key becomes an attribute (true → empty attribute, null/false → skipped).
 * Children: Nodes or strings (strings become Text nodes), arrays are flattened.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** document.querySelector shorthand that fails loudly on a missing element. */
export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element: ${selector}`);
  return el;
}

/** Element by data-testid (the test ids double as stable hooks for the app). */
export const byTestId = (id, root = document) => $(`[data-testid="${id}"]`, root);

/** Remove all children. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/** True when a scroll container is (nearly) at the bottom: keep following new output. */
export function nearBottom(el, slack = 32) {
  return el.scrollHeight - el.scrollTop - el.clientHeight <= slack;
}

export function scrollToBottom(el) {
  el.scrollTop = el.scrollHeight;
}
