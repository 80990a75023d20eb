// Styles shared by the views. Colours come from JupyterLab's --jp-* variables (Lab and Notebook 7, so their
// dark themes work), then VS Code's --vscode-* variables, then fallbacks of our own, light or dark by
// prefers-color-scheme (Colab, exported HTML, any plain page). Injected as a <style> inside each view's element.
export const css = String.raw`
.saew-root, .saew-tooltip {
  --saew-fg: var(--jp-ui-font-color1, var(--vscode-editor-foreground, #1f1f1f));
  --saew-muted: var(--jp-ui-font-color2, var(--vscode-descriptionForeground, #616161));
  --saew-faint: var(--jp-ui-font-color3, var(--vscode-disabledForeground, #9e9e9e));
  --saew-bg: var(--jp-layout-color0, var(--vscode-editor-background, #fff));
  --saew-panel: var(--jp-layout-color1, var(--vscode-editorWidget-background, #fff));
  --saew-subtle: var(--jp-layout-color2, var(--vscode-editor-inactiveSelectionBackground, #eeeeee));
  --saew-border: var(--jp-border-color2, var(--vscode-editorWidget-border, #e0e0e0));
  --saew-accent: var(--jp-brand-color1, var(--vscode-focusBorder, #1976d2));
  --saew-error: var(--jp-error-color1, var(--vscode-errorForeground, #d32f2f));
  --saew-warn: var(--jp-warn-color1, var(--vscode-editorWarning-foreground, #f57c00));
  --saew-ui-font: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  --saew-text-font: var(--jp-content-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  --saew-mono: var(--jp-code-font-family, ui-monospace, "DejaVu Sans Mono", monospace);
  font-family: var(--saew-ui-font);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--saew-fg);
}
.saew-root { box-sizing: border-box; width: 100%; min-width: 0; padding: 4px 0; }
@media (prefers-color-scheme: dark) {
  /* the same chain, with dark fallbacks: readable where the page defines neither --jp-* nor --vscode-* */
  .saew-root, .saew-tooltip {
    --saew-fg: var(--jp-ui-font-color1, var(--vscode-editor-foreground, #e6e6e6));
    --saew-muted: var(--jp-ui-font-color2, var(--vscode-descriptionForeground, #b0b0b0));
    --saew-faint: var(--jp-ui-font-color3, var(--vscode-disabledForeground, #808080));
    --saew-bg: var(--jp-layout-color0, var(--vscode-editor-background, #1e1e1e));
    --saew-panel: var(--jp-layout-color1, var(--vscode-editorWidget-background, #252526));
    --saew-subtle: var(--jp-layout-color2, var(--vscode-editor-inactiveSelectionBackground, #333333));
    --saew-border: var(--jp-border-color2, var(--vscode-editorWidget-border, #4a4a4a));
    --saew-accent: var(--jp-brand-color1, var(--vscode-focusBorder, #64b5f6));
    --saew-error: var(--jp-error-color1, var(--vscode-errorForeground, #ef9a9a));
    --saew-warn: var(--jp-warn-color1, var(--vscode-editorWarning-foreground, #ffb74d));
  }
}
.saew-root *, .saew-tooltip * { box-sizing: border-box; }
.saew-root button, .saew-root input { font: inherit; color: inherit; }

.saew-hm-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; margin-bottom: 8px; }
.saew-hm-mode { font-weight: 600; }
.saew-hm-mode .saew-hm-expl { font-weight: 400; color: var(--saew-muted); margin-left: 6px; }
.saew-hm-pick { display: inline-flex; align-items: center; gap: 6px; color: var(--saew-muted); }
.saew-hm-pick input {
  width: 7.5em; padding: 2px 6px; border: 1px solid var(--saew-border); border-radius: 3px;
  background: var(--saew-bg);
}
.saew-btn {
  padding: 2px 8px; border: 1px solid var(--saew-border); border-radius: 3px; cursor: pointer;
  background: var(--saew-subtle);
}
.saew-btn:hover { border-color: var(--saew-accent); }
.saew-hm-controls { display: inline-flex; align-items: center; gap: 8px; margin-left: auto; }
.saew-legend { display: inline-flex; align-items: center; gap: 6px; color: var(--saew-muted); }
.saew-legend-bar { display: inline-block; width: 96px; height: 10px; border-radius: 2px; border: 1px solid var(--saew-border); }

.saew-hm-error { color: var(--saew-error); border-left: 3px solid var(--saew-error); padding: 2px 8px; margin: 4px 0 8px; }
.saew-hm-note { color: var(--saew-muted); font-size: 0.92em; margin: -2px 0 8px; }
.saew-notice { color: var(--saew-warn); border-left: 3px solid var(--saew-warn); padding: 1px 8px; margin: 2px 0 6px; }
.saew-empty { color: var(--saew-muted); font-style: italic; padding: 6px 0; }

.saew-hm-main { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 10px 16px; }
.saew-hm-prompts { flex: 1 1 24rem; min-width: 0; display: flex; flex-direction: column; gap: 10px; }
.saew-hm-meta { color: var(--saew-muted); font-size: 0.92em; margin-bottom: 2px; }
.saew-hm-text {
  font-family: var(--saew-text-font); font-size: var(--jp-content-font-size1, 14px); line-height: 1.85;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 28em; overflow-y: auto;
  padding: 6px 8px; border: 1px solid var(--saew-border); border-radius: 4px; background: var(--saew-bg);
}

/* the inset line keeps neighbouring tokens of one colour apart without moving the text */
.saew-tok { border-radius: 3px; padding: 1px 0; cursor: pointer; box-shadow: inset -1px 0 0 var(--saew-bg); }
.saew-tok:hover { outline: 1px solid var(--saew-fg); }
.saew-tok.saew-pinned { outline: 2px solid var(--saew-accent); outline-offset: 1px; }
.saew-tok.saew-sink { color: var(--saew-faint); background: none !important; }
.saew-tok.saew-special {
  font-family: var(--saew-mono); font-size: 0.82em; padding: 1px 3px; margin: 0 1px;
  border: 1px dashed var(--saew-faint);
}
.saew-ws { opacity: 0.5; }

.saew-hm-pinned {
  flex: 0 1 19rem; min-width: 15rem; border: 1px solid var(--saew-border); border-radius: 4px;
  background: var(--saew-panel); padding: 6px 8px;
}
.saew-hm-pinned-head { display: flex; align-items: center; gap: 8px; margin-bottom: 4px; }
.saew-hm-pinned-head .saew-btn { margin-left: auto; padding: 0 6px; }
.saew-chip {
  font-family: var(--saew-mono); background: var(--saew-subtle); border-radius: 3px; padding: 0 4px;
  white-space: pre;
}
.saew-hint { color: var(--saew-muted); font-size: 0.92em; }

.saew-feats { display: flex; flex-direction: column; gap: 1px; }
.saew-feat {
  display: grid; grid-template-columns: 4.2em 56px 3.4em minmax(0, 1fr); align-items: center; gap: 6px;
  width: 100%; text-align: left; padding: 2px 4px; border: 1px solid transparent; border-radius: 3px;
  background: none;
}
button.saew-feat { cursor: pointer; }
button.saew-feat:hover, button.saew-feat:focus-visible { border-color: var(--saew-accent); outline: none; }
.saew-feat.saew-selected { border-color: var(--saew-accent); background: var(--saew-subtle); }
.saew-feat-id { font-family: var(--saew-mono); }
.saew-feat-bar { height: 8px; background: var(--saew-subtle); border-radius: 2px; overflow: hidden; }
.saew-feat-bar > span { display: block; height: 100%; }
.saew-feat-value { font-variant-numeric: tabular-nums; text-align: right; }
.saew-feat-expl { color: var(--saew-muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.saew-feats-empty { color: var(--saew-muted); font-style: italic; }

.saew-tooltip {
  position: fixed; z-index: 10000; max-width: 24rem; min-width: 14rem; pointer-events: none;
  background: var(--saew-panel); border: 1px solid var(--saew-border); border-radius: 4px;
  box-shadow: 0 2px 10px rgba(0, 0, 0, 0.25); padding: 6px 8px;
}
.saew-tooltip[hidden] { display: none; }
.saew-tip-head { display: flex; align-items: baseline; gap: 8px; margin-bottom: 4px; }
.saew-tip-line { margin-bottom: 4px; }
`;
