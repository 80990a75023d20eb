// Styles of the steering panel (on top of styles.ts); colours from --jp-* variables via styles.ts.
export const steerCss = String.raw`
.saew-steer { display: flex; flex-direction: column; gap: 8px; }
.saew-st-prompt-row { display: flex; gap: 10px; align-items: flex-start; }
.saew-st-prompt {
  flex: 1 1 auto; min-width: 0; resize: vertical; padding: 4px 6px; font-family: var(--saew-text-font);
  font-size: var(--jp-content-font-size1, 14px); color: var(--saew-fg); background: var(--saew-bg);
  border: 1px solid var(--saew-border); border-radius: 3px;
}
.saew-st-field { display: inline-flex; align-items: center; gap: 5px; color: var(--saew-muted); white-space: nowrap; }
.saew-st-field input[type=number] {
  width: 5.5em; padding: 1px 4px; border: 1px solid var(--saew-border); border-radius: 3px; background: var(--saew-bg);
}
.saew-st-field select {
  padding: 1px 4px; border: 1px solid var(--saew-border); border-radius: 3px; background: var(--saew-bg); color: var(--saew-fg);
}
.saew-st-rows { display: flex; flex-direction: column; gap: 4px; }
.saew-st-row {
  display: grid; grid-template-columns: minmax(8em, 16em) minmax(8em, 1fr) 9.5em auto; align-items: center; gap: 8px;
}
.saew-st-name { display: inline-flex; gap: 6px; min-width: 0; overflow: hidden; white-space: nowrap; }
.saew-st-label { color: var(--saew-muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.saew-st-slider { width: 100%; accent-color: var(--saew-accent); }
.saew-st-value { font-variant-numeric: tabular-nums; color: var(--saew-fg); }
.saew-st-addrow, .saew-st-controls, .saew-st-results { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; }
.saew-st-addrow input {
  padding: 1px 4px; border: 1px solid var(--saew-border); border-radius: 3px; background: var(--saew-bg);
}
.saew-st-add-input { width: 7em; }
.saew-st-search { width: 16em; }
.saew-st-results[hidden] { display: none; }
.saew-st-found { display: inline-flex; gap: 6px; max-width: 22em; overflow: hidden; }
.saew-st-run { font-weight: 600; }
.saew-st-stop:disabled { opacity: 0.5; cursor: default; }
.saew-st-status { color: var(--saew-muted); font-size: 0.92em; min-height: 1.2em; }
.saew-st-running .saew-st-status::before {
  content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 6px; border-radius: 50%;
  background: var(--saew-accent); animation: saew-pulse 1s infinite alternate;
}
@keyframes saew-pulse { from { opacity: 0.25; } to { opacity: 1; } }
.saew-st-out { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 10px; }
.saew-st-out.saew-st-sweep-out { grid-template-columns: 1fr; gap: 6px; }
.saew-st-sweep-out .saew-st-text { min-height: 2em; max-height: 8em; }
.saew-st-col { border: 1px solid var(--saew-border); border-radius: 4px; background: var(--saew-panel); min-width: 0; }
.saew-st-col.saew-st-steered { border-color: var(--saew-accent); }
.saew-st-head {
  padding: 3px 8px; font-weight: 600; border-bottom: 1px solid var(--saew-border); background: var(--saew-subtle);
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}
.saew-st-text {
  padding: 6px 8px; white-space: pre-wrap; overflow-wrap: anywhere; min-height: 3.5em; max-height: 24em; overflow-y: auto;
  font-family: var(--saew-text-font); font-size: var(--jp-content-font-size1, 14px); line-height: 1.5;
}
.saew-st-col:not(.saew-st-done) .saew-st-text::after { content: "▍"; color: var(--saew-faint); }
.saew-st-note { padding: 2px 8px 4px; color: var(--saew-warn); font-size: 0.9em; border-top: 1px dashed var(--saew-border); }
.saew-st-note[hidden] { display: none; }
.saew-st-chat[hidden], .saew-st-search[hidden], .saew-notice[hidden], .saew-hm-error[hidden] { display: none; }
`;
