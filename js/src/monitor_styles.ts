// Styles of the monitor's live timeline (on top of styles.ts); colours from --jp-* variables via styles.ts.
export const monitorCss = String.raw`
.saew-monitor { display: flex; flex-direction: column; gap: 6px; border: 1px solid var(--saew-border); border-radius: 4px;
  padding: 6px 8px; background: var(--saew-panel); }
.saew-mon-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
.saew-mon-title { font-weight: 600; }
.saew-mon-status { color: var(--saew-muted); }
.saew-monitor[data-status="running"] .saew-mon-status::before {
  content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 6px; border-radius: 50%;
  background: var(--saew-accent); animation: saew-mon-pulse 1s infinite alternate;
}
@keyframes saew-mon-pulse { from { opacity: 0.25; } to { opacity: 1; } }
.saew-monitor[data-status="stopped"] .saew-mon-status { color: var(--saew-error); font-weight: 600; }
.saew-mon-action { color: var(--saew-muted); font-size: 0.92em; margin-left: auto; }
.saew-mon-note { color: var(--saew-muted); font-size: 0.92em; }
.saew-mon-note.saew-notice { color: var(--saew-warn); }
.saew-mon-reason { color: var(--saew-error); border-left: 3px solid var(--saew-error); padding: 1px 8px; }
.saew-mon-reason[hidden] { display: none; }
.saew-mon-sparks { display: flex; flex-direction: column; gap: 3px; }
.saew-mon-spark { display: grid; grid-template-columns: minmax(5em, 11em) minmax(0, 1fr); align-items: center; gap: 8px; }
.saew-mon-name { font-family: var(--saew-mono); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.saew-mon-label { font-family: var(--saew-ui-font); color: var(--saew-muted); }
.saew-mon-plot { width: 100%; height: 40px; background: var(--saew-bg); border: 1px solid var(--saew-border); border-radius: 3px; }
.saew-mon-line { fill: none; stroke: var(--saew-accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.saew-mon-threshold { stroke: var(--saew-warn); stroke-width: 1; stroke-dasharray: 4 3; vector-effect: non-scaling-stroke; }
.saew-mon-boundary { stroke: var(--saew-faint); stroke-width: 1; vector-effect: non-scaling-stroke; }
.saew-mon-steered { fill: var(--saew-accent); opacity: 0.12; }
.saew-mon-event { fill: var(--saew-error); stroke: var(--saew-bg); stroke-width: 1; vector-effect: non-scaling-stroke; }
.saew-mon-text {
  font-family: var(--saew-text-font); font-size: var(--jp-content-font-size1, 14px); line-height: 1.8;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 16em; overflow-y: auto;
  padding: 4px 6px; border: 1px solid var(--saew-border); border-radius: 3px; background: var(--saew-bg);
}
.saew-mon-tok { border-radius: 3px; padding: 1px 0; box-shadow: inset -1px 0 0 var(--saew-bg); }
.saew-mon-tok.saew-mon-prompt { opacity: 0.55; font-size: 0.9em; }
.saew-mon-tok.saew-mon-above { outline: 2px solid var(--saew-error); outline-offset: -1px; }
.saew-mon-tok.saew-mon-on { text-decoration: underline wavy var(--saew-accent); text-underline-offset: 3px; }
.saew-mon-alerts-head { font-weight: 600; font-size: 0.92em; }
.saew-mon-alerts { margin: 0; padding-left: 1.4em; max-height: 9em; overflow-y: auto; }
.saew-mon-alert-action { font-weight: 600; text-transform: uppercase; font-size: 0.85em; margin-right: 2px; }
.saew-mon-stop .saew-mon-alert-action { color: var(--saew-error); }
.saew-mon-steer .saew-mon-alert-action { color: var(--saew-accent); }
.saew-mon-flag .saew-mon-alert-action { color: var(--saew-warn); }
.saew-mon-alert-detail { color: var(--saew-muted); }
`;
