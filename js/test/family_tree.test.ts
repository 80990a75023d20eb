import { afterEach, describe, expect, it } from "vitest";
import view, { layoutRows, type FamilyState, type TreeNode } from "../src/views/family_tree";
const { render } = view;
import { FakeModel } from "./helpers";

function node(member: number, feature: number, parent: number, relation: string, extra: Partial<TreeNode> = {}): TreeNode {
  return { member, feature, parent, relation, cosine: parent < 0 ? null : 0.8, to_query: 0.9, label: `f${feature}`,
    explanation: "", density: 0.01, more: 0, examples: [], ...extra };
}

// 7 (512) -> 70, 71 (2k); 70 -> 700, 701 (16k); 71 -> 710
const NODES = [node(0, 7, -1, "self"), node(1, 70, 0, "child"), node(1, 71, 0, "child"),
  node(2, 700, 1, "grandchild"), node(2, 701, 1, "grandchild"), node(2, 710, 2, "grandchild")];

function state(nodes = NODES): FamilyState {
  return {
    tree: { saes: [{ name: "default-512", width: 512 }, { name: "default-2k", width: 2048 }, { name: "default-16k", width: 16384 }],
      query: { member: 0, feature: 7 }, min_cosine: 0.4, nodes },
    selected: { member: 0, feature: 7 }, error: "",
  };
}

function mount(s = state()) {
  const model = new FakeModel<FamilyState>(s);
  const sent: any[] = [];
  (model as any).send = (msg: unknown) => sent.push(msg);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model: model.asModel(), el });
  return { model, el, cleanup, sent };
}

afterEach(() => document.body.replaceChildren());

describe("family tree", () => {
  it("gives each leaf a row and puts a parent at its children's mean", () => {
    expect(layoutRows(NODES)).toEqual([1.25, 0.5, 2, 0, 1, 2]);
  });

  it("draws one box per node and one edge per parent link, a click selects, ⟲ asks for a new root", () => {
    const { el, model, sent } = mount();
    const boxes = el.querySelectorAll<HTMLElement>(".saew-fam-node");
    expect(boxes.length).toBe(6);
    expect(el.querySelectorAll("path.saew-fam-edge").length).toBe(5);
    expect(boxes[0].classList.contains("saew-query")).toBe(true);
    expect(boxes[0].classList.contains("saew-open")).toBe(true);
    boxes[4].click();
    expect(model.saved.at(-1)).toEqual({ selected: { member: 2, feature: 701 } });
    expect(el.querySelectorAll(".saew-fam-node.saew-open").length).toBe(1);
    // a selection redraws the tree: take the fresh boxes
    el.querySelectorAll<HTMLElement>(".saew-fam-node")[1].querySelector<HTMLElement>(".saew-fam-root")!.click();
    expect(sent).toEqual([{ type: "root", member: 1, feature: 70 }]);
  });

  it("renders labels and examples as text, never HTML", () => {
    const evil = "<img src=x onerror=alert(1)>";
    const nodes = [node(0, 7, -1, "self", { label: evil }),
      node(1, 70, 0, "child", { examples: [{ tokens: ["a", " <b>", "c"], center: 1, value: 3 }], parent_fires: 0.5, self_fires: 1 })];
    const { el } = mount(state(nodes));
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector(".saew-fam-label")!.textContent).toBe(evil);
    el.querySelectorAll<HTMLElement>(".saew-fam-node")[1].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    const tip = document.querySelector<HTMLElement>(".saew-tooltip")!;
    expect(tip.hidden).toBe(false);
    expect(tip.querySelector(".saew-fam-ex b")!.textContent).toBe("·<b>");
    expect(tip.textContent).toContain("its parent #7 fires on 50% of these examples");
  });
});
