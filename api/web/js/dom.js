// Building DOM nodes from data. Text always goes in as text nodes, never as HTML:
// the page holds a bearer token, so nothing from the API may become markup.

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  node.removeAttribute("aria-busy");
}

export function busy(node, text = "Loading…") {
  node.setAttribute("aria-busy", "true");
  node.replaceChildren(h("p", { className: "muted loading" }, text));
}

// A message inside a section: what happened and what the user can do about it.
export function message(kind, text, action) {
  return h("div", { className: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, h("p", {}, text), action);
}
