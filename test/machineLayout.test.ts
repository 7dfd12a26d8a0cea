import { describe, expect, it } from 'vitest';
import { supervisorMachine, workerMachine } from '../machines/index.js';
import { describeMachine } from '../src/machineGraph.js';
import { layoutMachine, type MachineLayout } from '../src/service/machineLayout.js';

// The dashboard's statecharts, laid out by ELK: what makes a diagram readable, checked on both machines.

type Box = { x: number; y: number; width: number; height: number };
const inside = (inner: Box, outer: Box) =>
  inner.x >= outer.x - 0.5 && inner.y >= outer.y - 0.5 && inner.x + inner.width <= outer.x + outer.width + 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5;
const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
/** How far a point is from a box's border (0: on it). */
const offBorder = ([x, y]: readonly [number, number], box: Box) => {
  const dx = Math.max(box.x - x, 0, x - (box.x + box.width));
  const dy = Math.max(box.y - y, 0, y - (box.y + box.height));
  const outside = Math.hypot(dx, dy);
  const insideBy = Math.min(x - box.x, box.x + box.width - x, y - box.y, box.y + box.height - y);
  return outside > 0 ? outside : Math.max(0, insideBy);
};

describe.each([
  ['worker', workerMachine],
  ['supervisor', supervisorMachine],
] as const)('layoutMachine(%s)', (_name, machine) => {
  const graph = describeMachine(machine);
  let layout: MachineLayout;

  it('gives every state a box, inside its parent and clear of its siblings', async () => {
    layout = await layoutMachine(graph);
    const boxes = new Map(layout.states.map((state) => [state.path, state]));
    expect([...boxes.keys()].sort()).toEqual(graph.states.map((state) => state.path).sort());
    for (const state of graph.states) {
      const box = boxes.get(state.path) as Box;
      expect(box.width).toBeGreaterThan(0);
      if (state.parent !== '') expect(inside(box, boxes.get(state.parent) as Box), `${state.path} inside ${state.parent}`).toBe(true);
      for (const sibling of graph.states) {
        if (sibling.parent === state.parent && sibling.path < state.path) expect(overlap(box, boxes.get(sibling.path) as Box), `${state.path} × ${sibling.path}`).toBe(false);
      }
    }
    expect(layout.width).toBeGreaterThan(0);
    for (const box of layout.states) expect(inside(box, { x: 0, y: 0, width: layout.width, height: layout.height })).toBe(true);
  });

  it('routes one arrow per pair of states, from the source’s border to the target’s, its first event and the count of the rest as its label', async () => {
    layout ??= await layoutMachine(graph);
    const boxes = new Map(layout.states.map((state) => [state.path, state]));
    const pairs = new Set(graph.transitions.filter((t) => t.source !== t.target).map((t) => `${t.source}→${t.target}`));
    expect(new Set(layout.edges.map((edge) => `${edge.source}→${edge.target}`))).toEqual(pairs);
    for (const edge of layout.edges) {
      expect(edge.points.length).toBeGreaterThanOrEqual(2);
      expect(offBorder(edge.points[0] as [number, number], boxes.get(edge.source) as Box)).toBeLessThan(1);
      expect(offBorder(edge.points.at(-1) as [number, number], boxes.get(edge.target) as Box)).toBeLessThan(1);
      const events = graph.transitions.filter((t) => t.source === edge.source && t.target === edge.target).map((t) => t.event);
      expect(new Set(edge.events)).toEqual(new Set(events));
      expect(edge.label?.text).toBe(edge.events.length > 1 ? `${edge.events[0]} +${edge.events.length - 1}` : edge.events[0]);
    }
  });

  it('puts no label on top of another, nor on a state', async () => {
    layout ??= await layoutMachine(graph);
    const labels = layout.edges.map((edge) => edge.label).filter((label) => label !== undefined);
    for (let i = 0; i < labels.length; i += 1) {
      for (let j = i + 1; j < labels.length; j += 1) expect(overlap(labels[i] as Box, labels[j] as Box), `${labels[i]?.text} × ${labels[j]?.text}`).toBe(false);
    }
    const atomic = layout.states.filter((box) => graph.states.find((state) => state.path === box.path)?.type !== 'compound');
    for (const label of labels) for (const box of atomic) expect(overlap(label as Box, box), `${label?.text} on ${box.path}`).toBe(false);
  });
});
