// What every view does with the DOM and its model: make elements (text always as textContent, never HTML)
// and subscribe to traitlet changes and theme switches, with one function that undoes it all.
import type { AnyModel } from "@anywidget/types";
import { watchTheme } from "./theme";

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = "", text = ""): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

export type Listeners = [string, () => void][];

/** Subscribes `listeners` ("change:name" → callback) and, if given, `onTheme`; returns the unsubscribe. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function connect(m: AnyModel<any>, listeners: Listeners, onTheme?: () => void): () => void {
  for (const [name, callback] of listeners) m.on(name, callback);
  const unwatchTheme = onTheme ? watchTheme(onTheme) : () => {};
  return () => {
    for (const [name, callback] of listeners) m.off(name as never, callback);
    unwatchTheme();
  };
}
