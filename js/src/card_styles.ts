// Styles of the feature card, on top of the shared ones (styles.ts defines the --saew-* colours from
// JupyterLab's --jp-* variables, so dark themes work here too).
export const cardCss = String.raw`
.saew-card { display: flex; flex-direction: column; gap: 10px; }
.saew-card.saew-loading .saew-card-body { opacity: 0.55; }
.saew-card-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
.saew-card-title { font-size: 1.25em; font-weight: 600; margin: 0; }
.saew-card-status { color: var(--saew-muted); }
.saew-card-head .saew-hm-pick { margin-left: auto; }
.saew-card-expl { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 6px; }
.saew-card-expl-kind { color: var(--saew-muted); margin-right: 2px; }
.saew-card-expls { display: flex; flex-direction: column; gap: 2px; }
.saew-expl-best .saew-card-words { font-weight: 600; }
.saew-expl-alt { font-size: 0.92em; }
.saew-expl-alt .saew-card-words { color: var(--saew-muted); }
.saew-expl-unclear { color: var(--saew-warn); }
.saew-expl-guess { color: var(--saew-muted); font-weight: 400; }
.saew-expl-quality {
  font-size: 0.85em; color: var(--saew-muted); border: 1px solid var(--saew-border); border-radius: 8px; padding: 0 6px;
  font-variant-numeric: tabular-nums;
}
.saew-card-stats { display: flex; flex-wrap: wrap; gap: 4px 18px; color: var(--saew-muted); }
.saew-card-stats b { color: var(--saew-fg); font-weight: 600; font-variant-numeric: tabular-nums; }
.saew-card-body { display: flex; flex-direction: column; gap: 12px; }

.saew-card-panels { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: stretch; }
.saew-panel {
  flex: 1 1 15rem; min-width: 0; border: 1px solid var(--saew-border); border-radius: 4px;
  background: var(--saew-panel); padding: 6px 8px;
}
.saew-panel h4, .saew-card-section h4 {
  margin: 0 0 6px; font-size: 0.85em; font-weight: 600; text-transform: uppercase; letter-spacing: 0.04em;
  color: var(--saew-muted);
}
.saew-hist { display: block; width: 100%; height: auto; max-height: 9rem; }
.saew-hist-axis { stroke: var(--saew-faint); stroke-width: 1; }
.saew-hist-label { fill: var(--saew-muted); font-size: 10px; font-family: var(--saew-ui-font); }

.saew-logits { display: grid; grid-template-columns: 1fr 1fr; gap: 0 12px; }
.saew-logits-col { min-width: 0; display: flex; flex-direction: column; gap: 1px; }
.saew-logits-head { font-size: 0.85em; color: var(--saew-muted); margin-bottom: 2px; }
.saew-logit { display: flex; justify-content: space-between; gap: 6px; min-width: 0; }
.saew-logit .saew-chip { overflow: hidden; text-overflow: ellipsis; min-width: 0; }
.saew-logit-value { font-variant-numeric: tabular-nums; color: var(--saew-muted); font-size: 0.92em; }
.saew-logit.saew-pos .saew-chip { box-shadow: inset 3px 0 0 var(--saew-accent); }
.saew-logit.saew-neg .saew-chip { box-shadow: inset 3px 0 0 var(--saew-error); }

.saew-nbs { display: flex; flex-direction: column; gap: 1px; }
.saew-nb {
  display: grid; grid-template-columns: 4.6em 2.8em minmax(0, 1fr); align-items: center; gap: 6px;
  width: 100%; text-align: left; padding: 1px 4px; border: 1px solid transparent; border-radius: 3px;
  background: none; cursor: pointer;
}
.saew-nb:hover, .saew-nb:focus-visible { border-color: var(--saew-accent); outline: none; }
.saew-nb-id { font-family: var(--saew-mono); }
.saew-nb-cos { font-variant-numeric: tabular-nums; color: var(--saew-muted); text-align: right; }
.saew-nb-expl { color: var(--saew-muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.saew-nb-density { color: var(--saew-faint); font-variant-numeric: tabular-nums; }
.saew-nb.saew-dense .saew-nb-id { color: var(--saew-muted); }

.saew-card-section-head { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; margin-bottom: 4px; }
.saew-card-section-head h4 { margin: 0; }
.saew-ex-list {
  display: flex; flex-direction: column; gap: 2px; font-family: var(--saew-text-font);
  font-size: var(--jp-content-font-size1, 14px);
}
.saew-ex {
  display: grid; grid-template-columns: 3.6em minmax(0, 1fr) auto minmax(0, 0.75fr); align-items: center;
  line-height: 1.6; border-bottom: 1px solid var(--saew-subtle);
}
.saew-ex-value {
  font-family: var(--saew-ui-font); font-size: 0.85em; color: var(--saew-muted); font-variant-numeric: tabular-nums;
  text-align: right; padding-right: 8px;
}
/* right-aligned in a flex box, a too-long line overflows (and is clipped) on the left: the nearest context
   stays; the context after the token wraps inside its column, so nothing is cut off at the card's right edge */
.saew-ex-before { display: flex; justify-content: flex-end; overflow: hidden; min-width: 0; align-self: start; }
.saew-ex-after { display: flex; justify-content: flex-start; min-width: 0; align-self: start; }
.saew-ex-line { white-space: pre; flex: none; }
.saew-ex-after .saew-ex-line { white-space: pre-wrap; overflow-wrap: anywhere; flex: 1 1 auto; min-width: 0; }
.saew-ex-center, .saew-ex-value { align-self: start; }
.saew-ex-center .saew-ex-tok { outline: 2px solid var(--saew-fg); outline-offset: -1px; font-weight: 600; white-space: pre; }
.saew-ex-tok { border-radius: 2px; padding: 1px 0; box-shadow: inset -1px 0 0 var(--saew-bg); }
.saew-ex-tok.saew-special { font-family: var(--saew-mono); font-size: 0.8em; border: 1px dashed var(--saew-faint); padding: 0 2px; }
.saew-ex-tok.saew-ws { opacity: 0.6; }
.saew-q-group { margin: 6px 0 2px; color: var(--saew-muted); font-size: 0.9em; }
`;
