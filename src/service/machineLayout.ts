import ElkModule, { type ElkExtendedEdge, type ElkNode } from 'elkjs/lib/elk.bundled.js';
import type { MachineGraph, MachineGraphState } from '../machineGraph.js';

/** A state's box, in the drawing's coordinates. */
export interface LaidOutState {
  readonly path: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** One arrow: every transition from one state to another, its events as its label. */
export interface LaidOutEdge {
  readonly source: string;
  readonly target: string;
  /** The transitions' events (`task.run`, `after taskDeadline`), in the machine's order. */
  readonly events: readonly string[];
  /** Each transition's event with its guard, for a tooltip: `memory.sample [isOverHardLimit]`. */
  readonly transitions: readonly string[];
  /** The route, first point at the source's border, last at the target's. */
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly label: { readonly text: string; readonly x: number; readonly y: number; readonly width: number; readonly height: number } | undefined;
}

/** Where everything of a machine's diagram goes: laid out by ELK's layered algorithm, as Stately's visualizer does. */
export interface MachineLayout {
  readonly width: number;
  readonly height: number;
  readonly states: readonly LaidOutState[];
  readonly edges: readonly LaidOutEdge[];
}

// The package is CommonJS whose module.exports is the constructor; its types describe an ES
// module's default export, which is what Node's import of it gives.
const ELK = ElkModule as unknown as typeof ElkModule.default;

/** The dashboard draws text at 11 px; ELK needs sizes before it places anything. */
const CHAR_WIDTH = 6.4;
const LABEL_HEIGHT = 13;
const STATE_HEIGHT = 26;
/** A compound state's name sits in its top margin. */
const COMPOUND_PADDING = '[top=24,left=10,bottom=10,right=10]';

const textWidth = (text: string) => Math.ceil(text.length * CHAR_WIDTH) + 4;

/**
 * Top to bottom, network-simplex placement, merged edge ends and tight spacing: of the option
 * sets tried side by side on the two machines, the most compact drawing of the worker machine
 * (what `layout.width` and `layout.height` of `GET /v1/machines` say).
 */
const LAYOUT_OPTIONS = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  // Transitions cross compound states (killed.terminating → restarting): one layout over all levels.
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  'elk.layered.mergeEdges': 'true',
  'elk.spacing.nodeNode': '10',
  'elk.layered.spacing.nodeNodeBetweenLayers': '20',
  'elk.spacing.edgeEdge': '4',
  'elk.spacing.edgeNode': '6',
  'elk.layered.spacing.edgeNodeBetweenLayers': '6',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '4',
  'elk.spacing.edgeLabel': '2',
  // Every coordinate in the drawing's frame, not its parent's: the page draws one flat SVG.
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
};

/**
 * Lays a machine out: states as boxes (a compound state around its children), one routed
 * arrow per pair of states, labelled with its first event and how many more. A transition of a state to itself
 * (a re-entry) is not drawn: it does not move the machine. Pure but for ELK's own work; the
 * same graph gives the same layout.
 */
export async function layoutMachine(graph: MachineGraph): Promise<MachineLayout> {
  const childrenOf = new Map<string, MachineGraphState[]>();
  for (const state of graph.states) childrenOf.set(state.parent, [...(childrenOf.get(state.parent) ?? []), state]);
  const node = (state: MachineGraphState): ElkNode => {
    const children = childrenOf.get(state.path) ?? [];
    if (children.length === 0) return { id: state.path, width: Math.max(56, textWidth(state.key) + 12), height: STATE_HEIGHT };
    // A compound state is at least as wide as its name.
    return { id: state.path, layoutOptions: { 'elk.padding': COMPOUND_PADDING, 'elk.nodeSize.minimum': `(${textWidth(state.key) + 20}, 40)`, 'elk.nodeSize.constraints': 'MINIMUM_SIZE' }, children: children.map(node) };
  };

  const byPair = new Map<string, { source: string; target: string; events: string[]; transitions: string[] }>();
  for (const t of graph.transitions) {
    if (t.source === t.target) continue;
    const key = `${t.source}→${t.target}`;
    const pair = byPair.get(key) ?? { source: t.source, target: t.target, events: [], transitions: [] };
    if (!pair.events.includes(t.event)) pair.events.push(t.event);
    pair.transitions.push(t.guard ? `${t.event} [${t.guard}]` : t.event);
    byPair.set(key, pair);
  }
  const pairs = [...byPair.values()];
  const edges: ElkExtendedEdge[] = pairs.map((pair, i) => {
    // The first event, and how many more (the tooltip has them all): long labels widen every layer.
    const text = pair.events.length > 1 ? `${pair.events[0]} +${pair.events.length - 1}` : (pair.events[0] ?? '');
    return { id: `e${i}`, sources: [pair.source], targets: [pair.target], labels: [{ text, width: textWidth(text), height: LABEL_HEIGHT }] };
  });

  const input: ElkNode = { id: '', layoutOptions: LAYOUT_OPTIONS, children: (childrenOf.get('') ?? []).map(node), edges };
  const root: ElkNode = await new ELK().layout(input);

  const states: LaidOutState[] = [];
  // ELK's own tree of laid-out nodes (not an actor snapshot's children).
  const collect = ({ children: laidOut = [] }: ElkNode) => {
    for (const child of laidOut) {
      states.push({ path: child.id, x: child.x ?? 0, y: child.y ?? 0, width: child.width ?? 0, height: child.height ?? 0 });
      collect(child);
    }
  };
  collect(root);
  const laidOut = new Map((root.edges ?? []).map((edge) => [edge.id, edge]));
  return {
    width: Math.ceil(root.width ?? 0),
    height: Math.ceil(root.height ?? 0),
    states,
    edges: pairs.map((pair, i) => {
      const edge = laidOut.get(`e${i}`);
      const section = edge?.sections?.[0];
      const points: Array<[number, number]> = section
        ? [[section.startPoint.x, section.startPoint.y], ...(section.bendPoints ?? []).map((p): [number, number] => [p.x, p.y]), [section.endPoint.x, section.endPoint.y]]
        : [];
      const label = edge?.labels?.[0];
      return {
        source: pair.source,
        target: pair.target,
        events: pair.events,
        transitions: pair.transitions,
        points,
        label: label === undefined ? undefined : { text: label.text ?? '', x: label.x ?? 0, y: label.y ?? 0, width: label.width ?? 0, height: label.height ?? 0 },
      };
    }),
  };
}
