// Building the page's DOM. Text goes in as textContent; the only markup ever parsed is the
// sanitised HTML the server renders (setServerHtml).

/** An element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Put HTML that the server sanitised (a message's `html`, POST /v1/render) into a node. */
export function setServerHtml(node, html) {
  node.innerHTML = html; // server-sanitised only: render.py's allow-list (see README)
  decorateCode(node);
}

/** A copy button on each code block. */
export function decorateCode(root) {
  for (const pre of root.querySelectorAll("pre")) {
    if (pre.querySelector("button.copy-code")) continue;
    const button = el("button", { type: "button", class: "copy-code", "aria-label": "Copy code", text: "Copy" });
    button.addEventListener("click", async () => {
      const code = pre.querySelector("code") || pre;
      try {
        await navigator.clipboard.writeText(code.textContent);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Copy failed";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
    pre.prepend(button);
  }
}

/** Show or hide an element. */
export function show(node, visible) {
  node.hidden = !visible;
}

/** A short figure: 12,345 */
export function number(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

/** USD with enough digits to be exact to a tenth of a cent. */
export function usd(x) {
  if (x === null || x === undefined) return "–";
  return "$" + (x >= 1 ? x.toFixed(2) : x.toFixed(4));
}

/** A share as a percent. */
export function percent(x) {
  return x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`;
}
